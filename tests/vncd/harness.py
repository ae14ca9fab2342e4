"""An in-memory vncd for session tests: a hub over a desktop whose pixels the test sets, and
viewers connected to it by memory streams (no sockets, no threads)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import numpy as np
import trio
import trio.testing

from protocol._framebuffer import Framebuffer
from vncd.frames import FrameBus
from vncd.hub import Access, Hub
from vncd.policy import ViewerPolicy
from vncd.session import Session
from vncd.sources import Source
from vncd.sources.base import SourceError
from vncd.updates import offered_encodings

from .viewer import Viewer


async def inline(function: Callable[..., Any], *args: Any) -> Any:
    """Run a frame bus's capture in the Trio thread: a test's changes to the pixels then never
    tear a capture, and the autojump clock sees every step."""
    return function(*args)


class ArraySource:
    """A desktop whose pixels the test sets directly, recording the input it receives."""

    name = "test desktop"
    reports_damage = False  # the frame bus polls it, like a desktop without X DAMAGE

    def __init__(self, width: int = 200, height: int = 120) -> None:
        rng = np.random.default_rng(7)
        self.pixels = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
        self.keys: list[tuple[int, bool]] = []
        self.pointer: list[tuple[int, int, int]] = []
        self.clipboard = ""
        self.clipboard_serial = 0
        self.clipboard_sets: list[str] = []  # what viewers set, in order
        self.resizes: list[tuple[int, int]] = []  # every resize asked for, in order
        self.resize_result: bool | SourceError = True  # what resize() answers (or raises)

    def copy(self, text: str) -> None:
        """Someone on the desktop copies ``text``."""
        self.clipboard = text
        self.clipboard_serial += 1

    def get_clipboard(self) -> str:
        return self.clipboard

    def set_clipboard(self, text: str) -> None:
        self.clipboard_sets.append(text)
        self.copy(text)

    @property
    def size(self) -> tuple[int, int]:
        return self.pixels.shape[1], self.pixels.shape[0]

    def capture(self) -> np.ndarray:
        return self.pixels.copy()

    def resize(self, width: int, height: int) -> bool:
        """Record the request; when ``resize_result`` is True, new random pixels of that size."""
        self.resizes.append((width, height))
        if isinstance(self.resize_result, SourceError):
            raise self.resize_result
        if self.resize_result:
            rng = np.random.default_rng(len(self.resizes))
            self.pixels = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
        return self.resize_result

    def inject_key(self, keysym: int, down: bool) -> None:
        self.keys.append((keysym, down))

    def inject_pointer(self, x: int, y: int, button_mask: int) -> None:
        self.pointer.append((x, y, button_mask))

    def statistics(self) -> dict[str, int]:
        return {"keys": len(self.keys)}


@attrs.frozen
class Harness:
    """A running hub, and ``connect(lockstep=False)``: a new viewer with a session behind it
    (``lockstep`` streams have no buffer, for viewers that never read)."""

    hub: Hub
    connect: Callable[..., Viewer]


@contextlib.asynccontextmanager
async def running_hub(
    source: Source, viewers: ViewerPolicy | None = None, **access: Any
) -> AsyncIterator[Harness]:
    """A hub serving ``source`` with every encoding, its frame, clipboard, cursor and notice
    tasks running; ``viewers`` the [viewers] policy, ``access`` are Access settings (passwords,
    limits)."""
    async with trio.open_nursery() as nursery:
        bus = FrameBus(source, max_fps=200, run_sync=inline)
        nursery.start_soon(bus.run)
        hub = Hub(
            source=source,
            bus=bus,
            access=Access(**access),
            name=source.name,
            encodings=offered_encodings(h264=True),
            viewers=viewers or ViewerPolicy(),
            run_sync=inline,
        )
        nursery.start_soon(hub.clipboard.run)
        nursery.start_soon(hub.cursor.run)
        nursery.start_soon(hub.notices.run)

        def connect(lockstep: bool = False) -> Viewer:
            pair = (
                trio.testing.lockstep_stream_pair if lockstep else trio.testing.memory_stream_pair
            )
            server_stream, client_stream = pair()
            nursery.start_soon(Session(server_stream, hub, "test viewer").run)
            return Viewer(client_stream)

        yield Harness(hub, connect)
        nursery.cancel_scope.cancel()


def same_pixels(framebuffer: Framebuffer, source: ArraySource) -> bool:
    """The viewer's picture equals the desktop's, padding byte aside."""
    return np.array_equal(framebuffer.pixels[..., :3], source.pixels[..., :3])
