"""Server-side scaling (``[source] scale``): any source served smaller, for slow links and
small screens, with input mapped back onto the desktop.

Pixels are averaged over the area each served pixel covers (Pillow's ``reduce`` when the
desktop is an exact multiple, as for 0.5 on even sizes: 3 ms for 1920x1080, half the time of
numpy's 2x2 average; else Pillow's BOX resize), so text stays legible and every frame scales
the same way: a patch grabbed alone matches the same part of a whole frame. Everything else
passes through, mapped between the two sizes: damage boxes outward (they still cover every
change), the pointer's position and shape down, a viewer's pointer back up.

Viewers may not resize a scaled desktop: a viewer asks for its window's size, and the desktop
would have to grow past it (``max_size`` and Xvfb's framebuffer count desktop pixels).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from PIL import Image

from ..region import Box
from .base import CursorNews, CursorShape, Source, SourceStatistics


def scale_factor(scale: float) -> Fraction:
    """The configured factor as a fraction, so that 0.1 maps 3 to 30, not 29."""
    return Fraction(scale).limit_denominator(1000)


def scaled_size(size: tuple[int, int], scale: Fraction) -> tuple[int, int]:
    """A desktop of ``size`` once scaled: each side rounded, at least one pixel."""
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _exact_factor(size: tuple[int, int], scaled: tuple[int, int]) -> int | None:
    """n when ``size`` is exactly n times ``scaled`` on both sides (each served pixel then
    averages an n x n block of its own), else None."""
    factor = size[0] // scaled[0]
    return factor if (scaled[0] * factor, scaled[1] * factor) == size else None


def scale_pixels(pixels: np.ndarray, scaled: tuple[int, int]) -> np.ndarray:
    """(H, W, 4) BGRX pixels resized to ``scaled`` (width, height) by area averaging, as a
    new writeable array."""
    height, width = pixels.shape[:2]
    pixels = np.ascontiguousarray(pixels)
    image = Image.frombuffer("RGBX", (width, height), pixels, "raw", "RGBX", 0, 1)
    factor = _exact_factor((width, height), scaled)
    if factor is not None:
        image = image.reduce(factor)
    else:
        image = image.resize(scaled, Image.Resampling.BOX)
    return np.array(image)


def scale_shape(shape: CursorShape, scale: Fraction) -> CursorShape:
    """A pointer shape scaled like the desktop (its premultiplied ARGB averaged as it is); an
    empty one (no pointer shown) stays empty."""
    height, width = shape.argb.shape
    if not height or not width:
        return shape
    words = np.ascontiguousarray(shape.argb, dtype="<u4")
    image = Image.frombuffer("RGBa", (width, height), words, "raw", "RGBa", 0, 1)
    new_width, new_height = scaled_size((width, height), scale)
    image = image.resize((new_width, new_height), Image.Resampling.BOX)
    argb = np.array(image).view("<u4").reshape(new_height, new_width).astype(np.uint32)
    hot_x, hot_y = shape.hotspot
    hotspot = (
        min(math.floor(hot_x * scale), new_width - 1),
        min(math.floor(hot_y * scale), new_height - 1),
    )
    return CursorShape(argb, hotspot)


def outward(box: Box, size: tuple[int, int], scaled: tuple[int, int]) -> Box:
    """The served pixels that a change inside ``box`` of the desktop (of ``size``) may touch:
    the box scaled outward. (BOX resampling averages desktop pixels round(i / s) up to
    round((i + 1) / s) into served pixel i, none beyond.)"""
    scale_x, scale_y = Fraction(scaled[0], size[0]), Fraction(scaled[1], size[1])
    left, top = math.floor(box.x * scale_x), math.floor(box.y * scale_y)
    right, bottom = math.ceil(box.right * scale_x), math.ceil(box.bottom * scale_y)
    return Box(left, top, right - left, bottom - top).intersect(Box(0, 0, *scaled))


class ScaledSource:
    """``source`` served at ``scale`` (0 < scale <= 1); see the module docstring. It offers
    the optional protocols (``sources.base``) that ``source`` offers: grabbing boxes alone
    only at 1/n, where a box's pixels do not depend on its neighbours'."""

    def __init__(self, source: Source, scale: Fraction) -> None:
        self._source = source
        self.scale = scale
        for name in ("wait_for_keyboard", "wait_for_name", "inject_keycode"):
            if (method := getattr(source, name, None)) is not None:
                setattr(self, name, method)
        if getattr(source, "wait_for_cursor", None) is not None:
            self.wait_for_cursor = self._wait_for_cursor
        if getattr(source, "capture_region", None) is not None and scale.numerator == 1:
            self.capture_region = self._capture_region

    @property
    def name(self) -> str:
        return self._source.name

    @property
    def size(self) -> tuple[int, int]:
        return scaled_size(self._source.size, self.scale)

    def capture(self) -> np.ndarray:
        pixels = self._source.capture()
        return scale_pixels(pixels, scaled_size(pixels.shape[1::-1], self.scale))

    def _capture_region(self, box: Box) -> np.ndarray:
        """See ``sources.base.CapturesRegions``: the desktop's box n times as large, averaged;
        a desktop that is not n times the served size is grabbed whole instead."""
        size = self._source.size
        factor = _exact_factor(size, scaled_size(size, self.scale))
        if factor is None:
            raise ValueError(f"{size[0]}x{size[1]} is not a multiple of its scaled size")
        inner = Box(box.x * factor, box.y * factor, box.width * factor, box.height * factor)
        return scale_pixels(self._source.capture_region(inner), box.size)  # type: ignore[attr-defined]

    @property
    def reports_damage(self) -> bool:
        return getattr(self._source, "reports_damage", False)

    async def wait_for_damage(self) -> list[Box]:
        boxes = await self._source.wait_for_damage()
        size = self._source.size
        scaled = scaled_size(size, self.scale)
        found = [out for box in boxes if not (out := outward(box, size, scaled)).empty]
        return found or [Box(0, 0, *scaled)]

    async def _wait_for_cursor(self, poll: float | None) -> CursorNews:
        news = await self._source.wait_for_cursor(poll)  # type: ignore[attr-defined]
        shape = None if news.shape is None else scale_shape(news.shape, self.scale)
        return CursorNews(shape, self._served(*news.position))

    def _served(self, x: int, y: int) -> tuple[int, int]:
        """A desktop position as served."""
        (width, height), (served_width, served_height) = self._source.size, self.size
        return x * served_width // width, y * served_height // height

    def inject_pointer(self, x: int, y: int, button_mask: int) -> None:
        """A served position back on the desktop: the top left of the pixels it averages
        (x / scale), clamped to the desktop."""
        (width, height), (served_width, served_height) = self._source.size, self.size
        self._source.inject_pointer(
            min(max(x, 0) * width // served_width, width - 1),
            min(max(y, 0) * height // served_height, height - 1),
            button_mask,
        )

    def inject_key(self, keysym: int, down: bool) -> None:
        self._source.inject_key(keysym, down)

    def resize(self, width: int, height: int) -> bool:
        """Never (see the module docstring): viewers are answered "prohibited"."""
        return False

    @property
    def clipboard_serial(self) -> int:
        return self._source.clipboard_serial

    def get_clipboard(self) -> str:
        return self._source.get_clipboard()

    def set_clipboard(self, text: str) -> None:
        self._source.set_clipboard(text)

    def statistics(self) -> SourceStatistics:
        return self._source.statistics()
