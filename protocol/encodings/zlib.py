"""Zlib encoding (rfbproto 7.7.5): Raw pixels through one zlib stream per connection.

Payload: U32 length, then that many bytes of the connection's single zlib stream; each
rectangle's data is sync-flushed, so it inflates completely on arrival.

Compression level: the client's compress level (0..9) when it sent one, else
``DEFAULT_COMPRESS_LEVEL`` = 2, TigerVNC's default. Levels 1..3 run at ~13 ms per 1080p desktop
frame here, level 6 twice that for ~25% fewer bytes, and higher levels buy almost nothing.

A level change mid-connection continues the stream: see ``_zstream``.
"""

from __future__ import annotations

import zlib
from collections.abc import Generator

import numpy as np

from .._errors import RemoteProtocolError
from .._events import Rectangle
from .._framebuffer import Framebuffer
from .._pixelformat import PixelFormat, decode_pixels, encode_pixels
from ._base import EncodeSettings, require_inside
from ._registry import Encoding, register_decoder, register_encoder
from ._zstream import LENGTH, SyncDeflater, inflate_at_most, read_sized, sized_body

DEFAULT_COMPRESS_LEVEL = 2


def compressed_limit(size: int) -> int:
    """The most bytes a deflater needs for ``size`` bytes: the worst block type (fixed
    Huffman, 9 bits a byte), plus room for the header and flush markers. Longer is garbage."""
    return size + (size >> 3) + 1024


@register_encoder
class ZlibEncoder:
    """Owns the connection's deflate stream: rectangles must be sent in the order encoded."""

    encoding = Encoding.ZLIB
    shareable = False

    def __init__(self) -> None:
        self._stream = SyncDeflater()

    def encode(
        self,
        pixels: np.ndarray,
        x: int,
        y: int,
        pixel_format: PixelFormat,
        settings: EncodeSettings,
    ) -> list[Rectangle]:
        height, width = pixels.shape[:2]
        level = settings.compress_level
        if level is None:
            level = DEFAULT_COMPRESS_LEVEL
        data = self._stream.compress(encode_pixels(pixels, pixel_format), level)
        return [Rectangle(x, y, width, height, self.encoding, LENGTH.pack(len(data)) + data)]


@register_decoder
class ZlibDecoder:
    """Owns the connection's inflate stream, which persists across rectangles."""

    encoding = Encoding.ZLIB

    def __init__(self) -> None:
        self._stream = zlib.decompressobj()

    def read_payload(
        self, rectangle: Rectangle, pixel_format: PixelFormat
    ) -> Generator[int, bytes, bytes]:
        expected = rectangle.width * rectangle.height * pixel_format.bytes_per_pixel
        return (yield from read_sized("zlib", compressed_limit(expected)))

    def decode(
        self, rectangle: Rectangle, pixel_format: PixelFormat, framebuffer: Framebuffer
    ) -> None:
        x, y, width, height = rectangle.x, rectangle.y, rectangle.width, rectangle.height
        require_inside(framebuffer, rectangle, "zlib")
        expected = width * height * pixel_format.bytes_per_pixel
        data = sized_body(rectangle.payload, "zlib")
        raw = inflate_at_most(self._stream, data, expected, "zlib")
        if len(raw) != expected:
            raise RemoteProtocolError(
                f"zlib data inflates to {len(raw)} bytes, not the {expected} of "
                f"{width}x{height} pixels"
            )
        framebuffer.pixels[y : y + height, x : x + width] = decode_pixels(
            raw, width, height, pixel_format, framebuffer.colour_map
        )
