"""A ready-made source for a Python program's own pixels: paste RGB arrays or Pillow images
into a canvas and every viewer sees them; their pointer, keys and clipboard come back as
callbacks.

It keeps one BGRX frame and the region pasted since the capture loop last asked, so it
reports damage exactly (no polling, nothing sent for a still canvas). Paste and the callbacks
run in the Trio thread (the program's tasks); ``capture`` runs in worker threads, so the two
meet under a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import trio
from PIL import Image

from .region import Box, Region
from .sources.base import SourceError, SourceStatistics

#: RGB colour, 0..255 each.
Colour = tuple[int, int, int]


def _rgb_array(picture: np.ndarray | Image.Image) -> np.ndarray:
    """(H, W, 3) uint8 RGB from an RGB(A) array or any Pillow image."""
    if isinstance(picture, Image.Image):
        picture = np.asarray(picture.convert("RGB"))
    array = np.asarray(picture)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(
            f"expected an (H, W, 3 or 4) uint8 RGB array, not {array.dtype} {array.shape}"
        )
    return array[:, :, :3]


class Canvas:
    """A Source (vncd.sources.base.Source) that shows what the program paints.

    ``on_pointer(x, y, button_mask)``, ``on_key(keysym, down)`` and ``on_clipboard(text)``
    are called with each viewer's input (view-only viewers' input never arrives).
    """

    def __init__(
        self,
        width: int,
        height: int,
        *,
        name: str = "vncd canvas",
        background: Colour = (0, 0, 0),
    ) -> None:
        if not (1 <= width <= 16384 and 1 <= height <= 16384):
            raise SourceError(f"a canvas is 1x1 to 16384x16384, not {width}x{height}")
        self.name = name
        self.on_pointer: Callable[[int, int, int], None] = lambda x, y, mask: None
        self.on_key: Callable[[int, bool], None] = lambda keysym, down: None
        self.on_clipboard: Callable[[str], None] = lambda text: None
        self._size = (width, height)
        self._frame = np.zeros((height, width, 4), np.uint8)
        self._frame[:, :, :3] = background[::-1]
        self._lock = threading.Lock()
        self._damage = Region()
        self._changed = trio.Event()
        self._clipboard = ""
        self._clipboard_serial = 0
        self._frames = self._keys = self._pointer_events = 0

    # --- what the program calls -----------------------------------------------------------

    def paste(self, picture: np.ndarray | Image.Image, x: int = 0, y: int = 0) -> None:
        """Show ``picture`` (RGB array or Pillow image) with its top left at (x, y); what
        falls outside the canvas is cut off."""
        rgb = _rgb_array(picture)
        height, width = rgb.shape[:2]
        box = Box(x, y, width, height).intersect(Box(0, 0, *self._size))
        if box.empty:
            return
        part = rgb[box.y - y : box.bottom - y, box.x - x : box.right - x]
        with self._lock:
            self._frame[box.slices()][:, :, :3] = part[:, :, ::-1]
            self._mark(box)

    def fill(self, colour: Colour, box: Box | None = None) -> None:
        """Paint ``box`` (default: all of the canvas) in one colour."""
        box = Box(0, 0, *self._size) if box is None else box.intersect(Box(0, 0, *self._size))
        if box.empty:
            return
        with self._lock:
            self._frame[box.slices()][:, :, :3] = colour[::-1]
            self._mark(box)

    @property
    def clipboard(self) -> str:
        """The canvas's clipboard text: what a viewer last copied, or the program set."""
        return self._clipboard

    @clipboard.setter
    def clipboard(self, text: str) -> None:
        """Offer ``text`` to every viewer."""
        self._clipboard = text
        self._clipboard_serial += 1

    def _mark(self, box: Box) -> None:
        """Note a changed box (lock held) and wake the capture loop."""
        self._damage.add(box)
        self._changed.set()

    # --- the Source interface -------------------------------------------------------------

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def capture(self) -> np.ndarray:
        with self._lock:
            self._frames += 1
            return self._frame.copy()

    @property
    def reports_damage(self) -> bool:
        return True

    async def wait_for_damage(self) -> list[Box]:
        await trio.lowlevel.checkpoint()
        while True:
            with self._lock:
                if self._damage:
                    self._changed = trio.Event()
                    return self._damage.take()
                changed = self._changed
            await changed.wait()

    def inject_key(self, keysym: int, down: bool) -> None:
        self._keys += 1
        self.on_key(keysym, down)

    def inject_pointer(self, x: int, y: int, button_mask: int) -> None:
        self._pointer_events += 1
        self.on_pointer(x, y, button_mask)

    def resize(self, width: int, height: int) -> bool:
        return False  # the program decides its canvas's size

    @property
    def clipboard_serial(self) -> int:
        return self._clipboard_serial

    def get_clipboard(self) -> str:
        return self._clipboard

    def set_clipboard(self, text: str) -> None:
        self.clipboard = text
        self.on_clipboard(text)

    def statistics(self) -> SourceStatistics:
        return SourceStatistics(
            kind="canvas",
            frames_captured=self._frames,
            key_events=self._keys,
            pointer_events=self._pointer_events,
        )
