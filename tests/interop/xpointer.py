"""The X pointer of a display, for tests: move it, and read the shape it shows (XFixes
GetCursorImage), the ground truth for the shapes viewers receive."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import Xlib.display
from Xlib.ext import xfixes

from protocol.encodings.cursor import Cursor


def move_pointer(display: str, x: int, y: int) -> None:
    subprocess.run(
        ["xdotool", "mousemove", str(x), str(y)],
        env={**os.environ, "DISPLAY": display},
        check=True,
    )


def displayed_cursor(display: str) -> Cursor:
    """The pointer shape ``display`` shows now."""
    x = Xlib.display.Display(display)
    try:
        x.xfixes_query_version()  # XFixes refuses requests until the version is agreed
        image = xfixes.GetCursorImage(
            display=x.display, opcode=x.display.get_extension_major("XFIXES")
        )
        pixels = np.array(image.cursor_image, np.uint32)
        return Cursor.from_argb32(pixels, image.width, image.height, image.xhot, image.yhot)
    finally:
        x.close()


def same_shape(shown: Cursor, expected: Cursor) -> bool:
    """Same size, hotspot and opaque pixels: what a viewer that turns the shape into its own
    cursor format (a 1-bit mask, another alpha rounding) keeps of it."""
    return (shown.width, shown.height, shown.hotspot_x, shown.hotspot_y) == (
        expected.width,
        expected.height,
        expected.hotspot_x,
        expected.hotspot_y,
    ) and np.array_equal(shown.image[..., 3] > 127, expected.image[..., 3] > 127)


def with_pointer(display: str, rgb: np.ndarray) -> np.ndarray:
    """``rgb``, the display's pixels, with its pointer drawn in: what a viewer that lists no
    cursor shape is shown (the pointer blended over the picture at its straight alpha)."""
    cursor = displayed_cursor(display)
    x = Xlib.display.Display(display)
    try:
        pointer = x.screen().root.query_pointer()
    finally:
        x.close()
    left, top = pointer.root_x - cursor.hotspot_x, pointer.root_y - cursor.hotspot_y
    height, width = rgb.shape[:2]
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + cursor.width, width), min(top + cursor.height, height)
    drawn = rgb.copy()
    if x0 >= x1 or y0 >= y1:
        return drawn
    image = cursor.image[y0 - top : y1 - top, x0 - left : x1 - left]
    alpha = image[..., 3:4].astype(np.uint16)
    colour = image[..., 2::-1].astype(np.uint16)
    under = drawn[y0:y1, x0:x1].astype(np.uint16)
    drawn[y0:y1, x0:x1] = ((colour * alpha + under * (255 - alpha) + 127) // 255).astype(np.uint8)
    return drawn
