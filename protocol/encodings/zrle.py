"""ZRLE encoding (rfbproto 7.7.8): 64x64 tiles (format in ``_rle_tiles``) through one zlib
stream that lasts the whole connection; each rectangle is a U32 length and that many bytes of
the stream, sync-flushed so the client can inflate every tile of the rectangle at once.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Generator

import numpy as np

from .._errors import RemoteProtocolError
from .._events import Rectangle
from .._framebuffer import Framebuffer
from .._pixelformat import PixelFormat
from ._base import EncodeSettings, read_bytes, require_inside
from ._registry import Encoding, register_decoder, register_encoder
from ._rle_cpixel import cpixel_for
from ._rle_reader import TileReader
from ._rle_tiles import MAX_PALETTE, encode_tiles

TILE = 64
#: zlib level when the client sent no compression level: zlib's own default; above it RFB
#: content gains almost nothing for a lot more time.
DEFAULT_LEVEL = 6
_LENGTH = struct.Struct(">I")
_WINDOW = 1 << 15  # deflate's window: how far back the client's inflater can look


class _Deflater:
    """The connection's one zlib stream. Python cannot change a stream's level in place, so a
    new level continues the same stream with a raw deflater primed with the last 32 KiB the
    client inflated: the client's inflater sees more deflate blocks, byte-aligned after the
    previous sync flush, whose back references all land in its window."""

    def __init__(self) -> None:
        self._compressor: zlib._Compress | None = None
        self._level: int | None = None
        self._window = b""

    def compress(self, data: bytes, level: int) -> bytes:
        if self._compressor is None:
            self._compressor = zlib.compressobj(level)
        elif level != self._level:
            self._compressor = zlib.compressobj(
                level, zlib.DEFLATED, -zlib.MAX_WBITS, zdict=self._window
            )
        self._level = level
        self._window = (self._window + data[-_WINDOW:])[-_WINDOW:]
        return self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)


@register_encoder
class ZrleEncoder:
    """Owns the connection's zlib stream: rectangles must reach the client in the order they
    were encoded."""

    encoding = Encoding.ZRLE

    def __init__(self) -> None:
        self._stream = _Deflater()

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
        payload = _LENGTH.pack(len(compressed)) + compressed
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
        header = yield _LENGTH.size
        (remaining,) = _LENGTH.unpack(header)
        limit = _largest_payload(rectangle.width, rectangle.height, pixel_format)
        if remaining > limit:
            raise RemoteProtocolError(
                f"ZRLE {rectangle.width}x{rectangle.height} claims {remaining} bytes of zlib "
                f"data, more than the {limit} its largest tiles can take"
            )
        return header + (yield from read_bytes(remaining))

    def decode(
        self, rectangle: Rectangle, pixel_format: PixelFormat, framebuffer: Framebuffer
    ) -> None:
        x, y, width, height = rectangle.x, rectangle.y, rectangle.width, rectangle.height
        require_inside(framebuffer, rectangle, "ZRLE")
        payload = rectangle.payload
        if len(payload) < _LENGTH.size or _LENGTH.unpack_from(payload)[0] != len(payload) - 4:
            raise RemoteProtocolError("ZRLE payload is not a U32 length and that many bytes")
        tiles = TileReader(
            "ZRLE",
            width,
            height,
            TILE,
            cpixel_for(pixel_format),
            reuse_palettes=False,
            keep=True,
        )
        tiles.feed(self._inflate(payload[4:], _largest_tiles(width, height, pixel_format)))
        tiles.apply(x, y, pixel_format, framebuffer)

    def _inflate(self, data: bytes, limit: int) -> bytes:
        """The rectangle's tiles: never more than ``limit`` bytes in memory (zlib bombs stop
        there), and the stream must go on."""
        try:
            tiles = self._inflater.decompress(data, limit + 1)
        except zlib.error as error:
            raise RemoteProtocolError(f"ZRLE zlib stream: {error}") from error
        if len(tiles) > limit:
            raise RemoteProtocolError(f"ZRLE zlib data inflates to more than {limit} bytes")
        if self._inflater.eof:
            raise RemoteProtocolError("ZRLE zlib stream ended; it lasts the whole connection")
        return tiles
