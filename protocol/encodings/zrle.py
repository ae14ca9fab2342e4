"""ZRLE encoding (rfbproto 7.7.8): 64x64 tiles (format in ``_rle_tiles``) through one zlib
stream that lasts the whole connection; each rectangle is a U32 length and that many bytes of
the stream, sync-flushed so the client can inflate every tile of the rectangle at once.
"""

from __future__ import annotations

import zlib
from collections.abc import Generator

import numpy as np

from .._events import Rectangle
from .._framebuffer import Framebuffer
from .._pixelformat import PixelFormat
from ._base import EncodeSettings, require_inside
from ._registry import Encoding, register_decoder, register_encoder
from ._rle_cpixel import cpixel_for
from ._rle_reader import TileReader
from ._rle_tiles import MAX_PALETTE, encode_tiles
from ._zstream import LENGTH, SyncDeflater, inflate_at_most, read_sized, sized_body

TILE = 64
#: zlib level when the client sent no compression level: zlib's own default, as TigerVNC's
#: ZRLE encoder (it deflates at the client's level, Z_DEFAULT_COMPRESSION without one);
#: above it RFB content gains almost nothing for a lot more time.
DEFAULT_LEVEL = 6


@register_encoder
class ZrleEncoder:
    """Owns the connection's zlib stream: rectangles must reach the client in the order they
    were encoded."""

    encoding = Encoding.ZRLE
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
        compressed = b""
        if height and width:
            # An empty rectangle has no tiles: it sends length 0 and leaves the stream alone
            # (noVNC drops input it did not need to inflate, such as a lone sync flush).
            level = DEFAULT_LEVEL if settings.compress_level is None else settings.compress_level
            tiles = encode_tiles(pixels, pixel_format, TILE)
            compressed = self._stream.compress(tiles, level)
        payload = LENGTH.pack(len(compressed)) + compressed
        return [Rectangle(x, y, width, height, self.encoding, payload)]


def _largest_tiles(width: int, height: int, pixel_format: PixelFormat) -> int:
    """More bytes than the tiles of a width x height rectangle can take: every tile a full
    palette plus every pixel a run of its own (plain RLE's CPIXEL + 1 byte, or palette RLE's
    2 bytes)."""
    size = cpixel_for(pixel_format).size
    tiles = -(-width // TILE) * -(-height // TILE)
    return tiles * (1 + MAX_PALETTE * size) + width * height * (size + 2)


def _largest_payload(width: int, height: int, pixel_format: PixelFormat) -> int:
    """The longest zlib data we accept for a rectangle: its largest tiles stored uncompressed
    (deflate adds 5 bytes per 64 KiB block) with room for flush markers."""
    tiles = _largest_tiles(width, height, pixel_format)
    return tiles + tiles // 4 + 1024


@register_decoder
class ZrleDecoder:
    """Owns the connection's inflater: rectangles must be decoded in the order they came."""

    encoding = Encoding.ZRLE

    def __init__(self) -> None:
        self._inflater = zlib.decompressobj()

    def read_payload(
        self, rectangle: Rectangle, pixel_format: PixelFormat
    ) -> Generator[int, bytes, bytes]:
        limit = _largest_payload(rectangle.width, rectangle.height, pixel_format)
        return (yield from read_sized("ZRLE", limit))

    def decode(
        self, rectangle: Rectangle, pixel_format: PixelFormat, framebuffer: Framebuffer
    ) -> None:
        x, y, width, height = rectangle.x, rectangle.y, rectangle.width, rectangle.height
        require_inside(framebuffer, rectangle, "ZRLE")
        data = sized_body(rectangle.payload, "ZRLE")
        tiles = TileReader(
            "ZRLE",
            width,
            height,
            TILE,
            cpixel_for(pixel_format),
            reuse_palettes=False,
            keep=True,
        )
        limit = _largest_tiles(width, height, pixel_format)
        tiles.feed(inflate_at_most(self._inflater, data, limit, "ZRLE"))
        tiles.apply(x, y, pixel_format, framebuffer)
