"""TRLE encoding (RFC 6143 7.7.5; number 15 in rfbproto 7.7): 16x16 tiles, no compression.

A TRLE rectangle is its tiles and nothing else (tile format in ``_rle_tiles``), so its end is
only known by parsing them: ``read_payload`` walks the tiles as the bytes arrive. Palette
reuse (subencodings 127 and 129) reaches back to the last tile of the same rectangle that sent
or reused a palette; like libvncclient, nothing carries over from one rectangle to the next.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np

from .._events import Rectangle
from .._framebuffer import Framebuffer
from .._pixelformat import PixelFormat
from ._base import CHUNK, EncodeSettings, require_inside
from ._registry import Encoding, register_decoder, register_encoder
from ._rle_cpixel import cpixel_for
from ._rle_reader import TileReader
from ._rle_tiles import encode_tiles

TILE = 16


@register_encoder
class TrleEncoder:
    """Stateless: each rectangle's tiles in their smallest form."""

    encoding = Encoding.TRLE
    shareable = True

    def encode(
        self,
        pixels: np.ndarray,
        x: int,
        y: int,
        pixel_format: PixelFormat,
        settings: EncodeSettings,
    ) -> list[Rectangle]:
        height, width = pixels.shape[:2]
        payload = encode_tiles(pixels, pixel_format, TILE, reuse_palettes=True)
        return [Rectangle(x, y, width, height, self.encoding, payload)]


def _reader(rectangle: Rectangle, pixel_format: PixelFormat, *, keep: bool) -> TileReader:
    return TileReader(
        "TRLE",
        rectangle.width,
        rectangle.height,
        TILE,
        cpixel_for(pixel_format),
        reuse_palettes=True,
        keep=keep,
    )


@register_decoder
class TrleDecoder:
    encoding = Encoding.TRLE

    def read_payload(
        self, rectangle: Rectangle, pixel_format: PixelFormat
    ) -> Generator[int, bytes, bytes]:
        # Every request is at most what a valid rectangle still holds (see TileReader), and
        # each malformed tile stops the walk, so memory grows only as bytes arrive.
        tiles = _reader(rectangle, pixel_format, keep=False)
        while tiles.need:
            tiles.feed((yield min(tiles.need, CHUNK)))
        return bytes(tiles.data)

    def decode(
        self, rectangle: Rectangle, pixel_format: PixelFormat, framebuffer: Framebuffer
    ) -> None:
        require_inside(framebuffer, rectangle, "TRLE")
        tiles = _reader(rectangle, pixel_format, keep=True)
        tiles.feed(rectangle.payload)
        tiles.apply(rectangle.x, rectangle.y, pixel_format, framebuffer)
