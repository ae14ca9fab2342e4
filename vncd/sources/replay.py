"""A recording served as a desktop (``vncd replay``): its updates at the recorded pace, or
``speed`` times faster, decoded by ``vncd.replay`` in worker threads; input is ignored, and
when the recording ends its last picture stays."""

from __future__ import annotations

import logging
import math
import threading

import numpy as np
import trio

from ..region import Box
from ..replay import Message, Playback, ReplayError
from .base import SourceStatistics

log = logging.getLogger(__name__)


class ReplaySource:
    """See the module docstring. Playback starts with the first ``wait_for_damage`` (the
    frame bus calls it when vncd starts), so a viewer that connects later joins midway."""

    def __init__(self, playback: Playback, speed: float = 1.0) -> None:
        self.name = playback.name
        self._playback = playback
        self._speed = speed
        self._lock = threading.Lock()  # decoding and capture() run in worker threads
        self._started: float | None = None
        self._ended = False
        self._frames = 0

    @property
    def size(self) -> tuple[int, int]:
        return self._playback.size

    def capture(self) -> np.ndarray:
        with self._lock:
            self._frames += 1
            return self._playback.framebuffer.pixels.copy()

    @property
    def reports_damage(self) -> bool:
        return True

    async def wait_for_damage(self) -> list[Box]:
        """The boxes of the next update, once its time has come (forever after the end)."""
        if self._started is None:
            self._started = trio.current_time()
        while not self._ended:
            try:
                boxes = await self._next_boxes(self._started)
            except ReplayError as error:
                log.error("%s; its last good picture stays", error)
                self._ended = True
                continue
            if boxes is None:
                log.info("the recording ended; its last picture stays")
                self._ended = True
            elif boxes:
                return boxes
        await trio.sleep_forever()

    async def _next_boxes(self, started: float) -> list[Box] | None:
        message = await trio.to_thread.run_sync(self._playback.next_message)
        if message is None:
            return None
        await trio.sleep_until(started + message.milliseconds / 1000 / self._speed)
        return await trio.to_thread.run_sync(self._apply, message)

    def _apply(self, message: Message) -> list[Box]:
        with self._lock:
            return self._playback.apply(message)

    def inject_key(self, keysym: int, down: bool) -> None:
        """A recording takes no input."""

    def inject_pointer(self, x: int, y: int, button_mask: int) -> None:
        """A recording takes no input."""

    def resize(self, width: int, height: int) -> bool:
        return False

    @property
    def clipboard_serial(self) -> int:
        return 0

    def get_clipboard(self) -> str:
        return ""

    def set_clipboard(self, text: str) -> None:
        """A recording's clipboard cannot be set."""

    def statistics(self) -> SourceStatistics:
        return SourceStatistics(
            kind="replay", frames_captured=self._frames, key_events=0, pointer_events=0
        )


def check_speed(speed: float) -> float:
    """``speed`` if it is a usable playback speed; ValueError if not."""
    if not math.isfinite(speed) or not 0.01 <= speed <= 10000:
        raise ValueError(f"--speed {speed}: must be 0.01..10000 (1 = the recorded pace)")
    return speed
