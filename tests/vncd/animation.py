"""A part of a real X display repainted at a steady rate with numbered frames.

Tests of many or slow viewers need a screen that changes at a known rate, and a way to tell
from a viewer's picture which frame it shows and how old that frame is. Frame ``n`` carries
its number in a marker block at the box's top-left corner (red = low byte, green = high
byte); the rest of the box is noise (big updates) or one flat colour (small ones). Each frame
is drawn into a pixmap and copied onto the root window with one CopyArea, so a capture never
sees half a frame. Painting runs in a thread of its own, as a desktop application would.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

import numpy as np
from Xlib import X, display

from vncd.region import Box

#: The marker block's edge in pixels, and its blue byte (tells a marker from black).
MARKER = 8
MARKER_BLUE = 0xA5
#: Distinct noise images the frames cycle through (the marker tells frames apart).
NOISE_IMAGES = 4
#: Bytes per PutImage request, under the X server's request size limit (256 KiB).
_BAND_BYTES = 200_000


class Animation:
    """Repaints ``box`` of X display ``display_name`` ``rate`` times a second, from ``start``
    until ``stop`` (or the end of a ``with`` block). Frame 0 is painted by the constructor.

    ``painted[n]`` is the ``time.monotonic()`` at which frame ``n`` was on the screen."""

    def __init__(self, display_name: str, box: Box, rate: float, *, noise: bool) -> None:
        self.box = box
        self.rate = rate
        rng = np.random.default_rng(7)
        shape = (box.height, box.width, 3)
        self._noise = [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(NOISE_IMAGES)]
        self._noisy = noise
        self.painted: list[float] = []
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._connection = display.Display(display_name)
        screen = self._connection.screen()
        self._root = screen.root
        self._pixmap = self._root.create_pixmap(box.width, box.height, screen.root_depth)
        self._context = self._pixmap.create_gc()
        self._paint(0)

    def frame(self, number: int) -> np.ndarray:
        """Frame ``number`` as RGB (height, width, 3)."""
        if self._noisy:
            pixels = self._noise[number % NOISE_IMAGES].copy()
        else:
            shade = (number * 37) % 200 + 40
            pixels = np.full((self.box.height, self.box.width, 3), shade, dtype=np.uint8)
        pixels[:MARKER, :MARKER] = (number & 0xFF, (number >> 8) & 0xFF, MARKER_BLUE)
        return pixels

    @staticmethod
    def number(bgrx: np.ndarray) -> int | None:
        """The frame number shown by BGRX ``bgrx`` (a viewer's picture of the box, or more
        of it from the box's corner on), or None if its marker is not there (yet)."""
        blue, green, red = (int(v) for v in bgrx[MARKER // 2, MARKER // 2, :3])
        return None if blue != MARKER_BLUE else red | green << 8

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> int:
        """Stop painting; returns the number of the last frame, which stays on the screen."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(10)
            assert not self._thread.is_alive(), "the painter did not stop"
        return len(self.painted) - 1

    def close(self) -> None:
        self.stop()
        self._connection.close()

    def __enter__(self) -> Animation:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self) -> None:
        started = time.monotonic()
        number = 1
        while not self._stopping.wait(max(0.0, started + number / self.rate - time.monotonic())):
            self._paint(number)
            number += 1

    def _paint(self, number: int) -> None:
        rgb = self.frame(number)
        height, width = rgb.shape[:2]
        bgrx = np.zeros((height, width, 4), dtype=np.uint8)
        bgrx[..., :3] = rgb[..., ::-1]
        band = max(1, _BAND_BYTES // (width * 4))
        for top in range(0, height, band):
            rows = bgrx[top : top + band]
            self._pixmap.put_image(
                self._context, 0, top, width, rows.shape[0], X.ZPixmap, 24, 0, rows.tobytes()
            )
        self._root.copy_area(
            self._context, self._pixmap, 0, 0, width, height, self.box.x, self.box.y
        )
        self._connection.sync()
        self.painted.append(time.monotonic())
