"""CPIXEL, the compressed pixel of TRLE and ZRLE tiles (RFC 6143 7.7.5, rfbproto 7.7.8).

A CPIXEL is the client's PIXEL, except for true-colour formats of 32 bits per pixel and depth
24 or less whose red, green and blue bits all fit in the least or the most significant three
bytes: then it is only those three bytes. Which three, when the colour bits fit in both (depth
16 or less, bits 8-23), is where implementations part: the spec says the least significant,
but the decoders viewers ship (TigerVNC, libvncclient) and libvncserver's encoder take the
first three bytes on the wire whenever the colour fits in them: the least significant of a
little-endian pixel, the *most* significant of a big-endian one. We follow the decoders.
Depth counts as the spec and TigerVNC say (libvncserver and libvncclient ignore it): a client
declaring depth 32 gets whole PIXELs even if its colours fit in three bytes.
"""

from __future__ import annotations

from functools import lru_cache

import attrs
import numpy as np

from .._pixelformat import PixelFormat, encode_pixels

_UNSIGNED = {8: np.dtype(np.uint8), 16: np.dtype(np.uint16), 32: np.dtype(np.uint32)}


@attrs.frozen
class CPixel:
    """How one pixel format's pixels are written as CPIXELs.

    Tile coders work on *values*: the client's pixel value as a native unsigned integer per
    pixel, with any padding bits cleared, so two pixels have equal values exactly when the
    client sees the same colour (a colour-map client's values are its indices).
    """

    pf: PixelFormat
    size: int  # bytesPerCPixel
    first: int  # the first of the PIXEL's wire bytes that a CPIXEL keeps

    @property
    def dtype(self) -> np.dtype:
        """The values' dtype; also the container for a PIXEL's wire bytes."""
        return _UNSIGNED[self.pf.bits_per_pixel]

    @property
    def _wire(self) -> np.dtype:
        return self.dtype.newbyteorder(">" if self.pf.big_endian else "<")

    def values(self, pixels: np.ndarray) -> np.ndarray:
        """(H, W) values of canonical BGRX pixels (any strides)."""
        height, width = pixels.shape[:2]
        wire = np.frombuffer(encode_pixels(pixels, self.pf), self._wire)
        values = wire.astype(self.dtype).reshape(height, width)
        if self.pf.true_colour and self.pf.bits_per_pixel == 32:
            # 32-bpp byte layouts carry the frame's X byte in their padding byte.
            values &= self.dtype.type(_colour_bits(self.pf))
        return values

    def to_bytes(self, values: np.ndarray) -> np.ndarray:
        """(N, size) uint8: the CPIXELs of N values."""
        wire = np.ascontiguousarray(values, self.dtype).ravel().astype(self._wire)
        pixels = wire.view(np.uint8).reshape(-1, self.pf.bytes_per_pixel)
        return pixels[:, self.first : self.first + self.size]

    def to_pixels(self, cpixels: np.ndarray) -> np.ndarray:
        """(N, size) uint8 CPIXELs -> (N,) PIXELs: their wire bytes in ``dtype`` containers
        (``.tobytes()`` is what Raw would carry)."""
        count = len(cpixels)
        if self.size == self.pf.bytes_per_pixel:
            return np.ascontiguousarray(cpixels).view(self.dtype).reshape(count)
        pixels = np.zeros((count, self.pf.bytes_per_pixel), np.uint8)
        pixels[:, self.first : self.first + self.size] = cpixels
        return pixels.view(self.dtype).reshape(count)


def _colour_bits(pf: PixelFormat) -> int:
    return (
        pf.red_max << pf.red_shift | pf.green_max << pf.green_shift | pf.blue_max << pf.blue_shift
    )


@lru_cache(maxsize=32)
def cpixel_for(pf: PixelFormat) -> CPixel:
    """The CPIXEL layout of ``pf`` (see the module docstring for the three-byte rule)."""
    if pf.true_colour and pf.bits_per_pixel == 32 and pf.depth <= 24:
        bits = _colour_bits(pf)
        low, high = bits < 1 << 24, not bits & 0xFF
        if (low and not pf.big_endian) or (high and pf.big_endian):
            return CPixel(pf, 3, 0)
        if low or high:
            return CPixel(pf, 3, 1)
    return CPixel(pf, pf.bytes_per_pixel, 0)
