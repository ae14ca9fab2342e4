"""Real rectangles for the seeds: the harness picture encoded by every encoder, and every
pseudo-encoding a server sends, built with protocol's own helpers."""

from __future__ import annotations

import numpy as np

from protocol import PixelFormat, Rectangle, Screen
from protocol.encodings import (
    ENCODERS,
    Cursor,
    EncodeSettings,
    LedState,
    copy_rect,
    cursor_with_alpha,
    desktop_size,
    extended_mouse_buttons,
    last_rect,
    make_encoder,
    pointer_pos,
    qemu_extended_key_event,
    qemu_led_state,
    rich_cursor,
    vmware_cursor,
    vmware_cursor_position,
    vmware_led_state,
    x_cursor,
)
from protocol.encodings.h264 import H264Encoder
from protocol.encodings.pseudo import desktop_name, extended_desktop_size

RGB565 = PixelFormat(16, 16, True, True, 31, 63, 31, 11, 5, 0)
MAP8 = PixelFormat(8, 8, False, False, 0, 0, 0, 0, 0, 0)
#: Settings that pick each encoder's forms: lossless, JPEG, and Tight's compression levels.
SETTINGS = (EncodeSettings(), EncodeSettings(quality=5, compress_level=9))


def picture(width: int, height: int) -> np.ndarray:
    """Flat areas, a few colours and noise: content that takes every encoder down several
    of its paths (solid tiles, palettes, raw or JPEG)."""
    rng = np.random.default_rng(width * 1000 + height)
    pixels = rng.integers(0, 3, (height, width, 1), np.uint8) * np.array([90, 50, 80, 0], np.uint8)
    pixels[: height // 3] = (20, 40, 60, 0)
    pixels[:, width * 2 // 3 :] = rng.integers(0, 256, (height, width - width * 2 // 3, 4))
    return pixels


def encoded(encoding: int, pixel_format: PixelFormat) -> list[Rectangle]:
    """``picture`` at 13 x 9 and 33 x 20, encoded at (1, 2) in each of SETTINGS by one
    encoder, so its rectangles share its zlib streams and go together, in order ([] where
    the encoder refuses the format: H.264 serves 32-bpp true colour only)."""
    if encoding == H264Encoder.encoding and not H264Encoder.supports(pixel_format):
        return []
    encoder = make_encoder(encoding)
    return [
        rectangle
        for size in ((13, 9), (33, 20))
        for settings in SETTINGS
        for rectangle in encoder.encode(picture(*size), 1, 2, pixel_format, settings)
    ]


def pseudo_rectangles(pixel_format: PixelFormat) -> list[Rectangle]:
    """One rectangle of every pseudo-encoding (and CopyRect) a server sends."""
    rng = np.random.default_rng(3)
    argb = rng.integers(0, 1 << 32, 6 * 5, np.uint64).astype(np.uint32)
    argb[::3] = 0  # transparent pixels, so masks have both kinds
    cursor = Cursor.from_argb32(argb, 6, 5, 2, 1)
    screens = [Screen(1, 0, 0, 40, 30), Screen(2, 40, 0, 24, 30, 0)]
    return [
        copy_rect(4, 4, 8, 6, 0, 0),
        rich_cursor(cursor, pixel_format),
        x_cursor(cursor),
        cursor_with_alpha(cursor),
        vmware_cursor(cursor),
        pointer_pos(5, 6),
        vmware_cursor_position(7, 8),
        qemu_led_state(LedState.CAPS_LOCK | LedState.NUM_LOCK),
        vmware_led_state(LedState.SCROLL_LOCK),
        qemu_extended_key_event(),
        extended_mouse_buttons(),
        desktop_name("a désktop"),
        extended_desktop_size(64, 30, screens),
        desktop_size(40, 30),
        last_rect(),
    ]


def all_encoded(pixel_format: PixelFormat) -> list[list[Rectangle]]:
    """``encoded`` for every encoder that serves ``pixel_format``."""
    groups = [encoded(encoding, pixel_format) for encoding in sorted(ENCODERS)]
    return [group for group in groups if group]
