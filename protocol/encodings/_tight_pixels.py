"""Tight's TPIXEL (rfbproto 7.7.6) and the colour values the Tight encoders analyse.

A TPIXEL is the client's PIXEL, except for true-colour formats of 32 bits per pixel, depth 24
and 8-bit red, green and blue: then it is 3 bytes, red, green, blue. Those 8-bit channels
equal the canonical frame's bytes, so for such formats the encoder works on the frame's
words directly and never converts pixels before it knows how to send them.
"""

from __future__ import annotations

from functools import lru_cache

import attrs
import numpy as np

from .._pixelformat import PixelFormat, decode_pixels, encode_pixels

_RGB_MASK = np.uint32(0x00FFFFFF)
_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32}


def is_rgb888(pf: PixelFormat) -> bool:
    """Whether TPIXELs are 3 bytes for ``pf`` (the rule of 7.7.6, shifts unconstrained)."""
    return (
        pf.true_colour
        and pf.bits_per_pixel == 32
        and pf.depth == 24
        and pf.red_max == pf.green_max == pf.blue_max == 255
    )


def rgb_bytes(pixels: np.ndarray) -> np.ndarray:
    """Canonical BGRX (H, W, 4) -> (H, W, 3) red, green, blue (any strides in)."""
    out = np.empty((*pixels.shape[:2], 3), np.uint8)
    out[..., 0] = pixels[..., 2]
    out[..., 1] = pixels[..., 1]
    out[..., 2] = pixels[..., 0]
    return out


def as_bytes(array: np.ndarray) -> memoryview:
    """The bytes of a C-contiguous array, without copying them."""
    return memoryview(array).cast("B")


def as_seen_by(pixels: np.ndarray, pf: PixelFormat, colour_map: np.ndarray) -> np.ndarray:
    """What a client of format ``pf`` keeps of an image it decoded (JPEG, PNG): the colours
    reduced to its format, colour-map clients through their map. Returns a new array."""
    if pf.true_colour and pf.red_max == pf.green_max == pf.blue_max == 255:
        out = np.array(pixels, np.uint8, copy=True)
        out[..., 3] = 0
        return out
    height, width = pixels.shape[:2]
    return decode_pixels(encode_pixels(pixels, pf), width, height, pf, colour_map)


@attrs.frozen
class TPixels:
    """How one client format's colours are analysed and written as TPIXELs.

    A *value* is a uint32 per pixel that identifies the colour the client sees: the
    canonical RGB word for 3-byte TPIXELs, else the client's own pixel value (so colours
    that the format merges count once, and a colour-map client's values are its indices).
    """

    pf: PixelFormat
    rgb888: bool
    size: int  # bytes per TPIXEL

    @property
    def wire_dtype(self) -> np.dtype:
        """TPIXELs that are PIXELs: unsigned, of the client's size and byte order."""
        return np.dtype(_UNSIGNED[self.size]).newbyteorder(">" if self.pf.big_endian else "<")

    def values(self, pixels: np.ndarray) -> np.ndarray:
        """(H, W) uint32 colour values of canonical pixels (a new contiguous array)."""
        if self.rgb888:
            if pixels.strides[1:] != (4, 1):
                pixels = np.ascontiguousarray(pixels)
            return pixels.view("<u4")[..., 0] & _RGB_MASK
        height, width = pixels.shape[:2]
        wire = np.frombuffer(encode_pixels(pixels, self.pf), self.wire_dtype)
        return wire.astype(np.uint32).reshape(height, width)

    def from_values(self, values: np.ndarray) -> bytes:
        """TPIXEL bytes of colour values (palettes, fills)."""
        values = np.asarray(values, np.uint32).ravel()
        if self.rgb888:
            rgb = np.empty((values.size, 3), np.uint8)
            rgb[:, 0] = values >> 16
            rgb[:, 1] = values >> 8
            rgb[:, 2] = values
            return rgb.tobytes()
        return values.astype(self.wire_dtype).tobytes()

    def from_pixels(self, pixels: np.ndarray, values: np.ndarray) -> memoryview:
        """TPIXEL bytes of a block, from whichever of its two forms is cheaper to convert
        (a view of a new array: zlib reads it where it lies, with no copy to bytes)."""
        if self.rgb888:
            return as_bytes(rgb_bytes(pixels))
        return as_bytes(values.astype(self.wire_dtype))

    def to_bgrx(
        self, data: bytes | memoryview, count: int, colour_map: np.ndarray | None
    ) -> np.ndarray:
        """``count`` TPIXELs -> (count, 4) canonical BGRX, X = 0 (ValueError if short).
        Colour-map formats look values up in ``colour_map`` (None: the server's palette)."""
        if self.rgb888:
            rgb = np.frombuffer(data, np.uint8, count * 3).reshape(count, 3)
            out = np.zeros((count, 4), np.uint8)
            out[:, 0] = rgb[:, 2]
            out[:, 1] = rgb[:, 1]
            out[:, 2] = rgb[:, 0]
            return out
        return decode_pixels(data, count, 1, self.pf, colour_map).reshape(count, 4)


@lru_cache(maxsize=32)
def tpixels_for(pf: PixelFormat) -> TPixels:
    rgb888 = is_rgb888(pf)
    return TPixels(pf, rgb888, 3 if rgb888 else pf.bytes_per_pixel)
