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

import sys
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

    def wire_values(self, pixels: np.ndarray) -> np.ndarray:
        """(H, W) read-only: each of the canonical BGRX ``pixels`` (any strides) as the
        client's PIXEL, read in its byte order."""
        height, width = pixels.shape[:2]
        return np.frombuffer(encode_pixels(pixels, self.pf), self._wire).reshape(height, width)

    def make_values(self, pixels: np.ndarray) -> None:
        """Turn PIXELs copied byte for byte from ``wire_values`` into an array of ``dtype``
        into values, in place (tile coders reorder the bytes first, cheaply, then this)."""
        if not self._wire.isnative:
            pixels.byteswap(inplace=True)
        if self.pf.true_colour and self.pf.bits_per_pixel == 32:
            # 32-bpp byte layouts carry the frame's X byte in their padding byte.
            pixels &= self.dtype.type(_colour_bits(self.pf))

    def wire_bytes(self, values: np.ndarray) -> np.ndarray:
        """(..., size) uint8 view of C-contiguous ``values``: each value's CPIXEL bytes in
        wire order, without copying (a strided view, so copy it one byte at a time when it
        is large: numpy copies rows of three bytes slowly)."""
        native = values.view(np.uint8).reshape(*values.shape, self.pf.bytes_per_pixel)
        if self.pf.big_endian != (sys.byteorder == "big"):
            native = native[..., ::-1]
        return native[..., self.first : self.first + self.size]

    def as_integers(self, values: np.ndarray) -> np.ndarray:
        """(N,) uint64: each value's CPIXEL bytes read as one little-endian integer, so
        writing its ``size`` low bytes little-endian writes the CPIXEL (and the bytes a
        CPIXEL drops are a value's padding, zero: nothing else is set above them)."""
        wire = values.byteswap() if self.pf.big_endian else values
        cpixels = wire.astype(np.uint64)
        if self.first:
            cpixels >>= np.uint64(8 * self.first)
        return cpixels

    def to_bytes(self, values: np.ndarray) -> np.ndarray:
        """(N, size) uint8: the CPIXELs of N values."""
        return np.ascontiguousarray(self.wire_bytes(np.ascontiguousarray(values, self.dtype)))

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
