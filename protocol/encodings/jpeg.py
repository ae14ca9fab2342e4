"""JPEG encoding (21; rfbproto "JPEG Encoding", RealVNC's): the payload is one JPEG image.

There is no length field: the image ends with its EOI marker, so the reader walks the JPEG
segments (each with a length) and, inside entropy-coded scans, the bytes themselves (the
only markers there are stuffed 0xFF00 and restarts). It never asks for a byte past EOI, so
inside a scan it asks for two bytes at a time, or one after a 0xFF: slow (about 0.4 s per
megabyte of scan) but bounded, and this encoding's images are rare on the client side.

An image may leave out its quantisation or Huffman tables, and then the previous image's
apply (as RealVNC sends them and noVNC decodes them): the decoder keeps the last tables it
saw and puts them back into an image that lacks them.

The encoder sends one complete JFIF image per region, at the client's quality (level 8,
quality 92 4:4:4, when it named none); see ``_tight_jpeg`` for the parameters.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np

from .._errors import RemoteProtocolError
from .._events import Rectangle
from .._framebuffer import Framebuffer
from .._pixelformat import PixelFormat
from ._base import EncodeSettings, read_bytes, require_inside
from ._registry import Encoding, register_decoder, register_encoder
from ._tight_jpeg import decode_jpeg, jpeg_parameters
from ._tight_wire import recording, run_over

#: libjpeg's largest image side.
MAX_SIDE = 65500
_SOI, _EOI, _SOS, _DQT, _DHT, _TEM = 0xD8, 0xD9, 0xDA, 0xDB, 0xC4, 0x01
_RESTARTS = range(0xD0, 0xD8)
#: Markers that stand alone (no length follows).
_STANDALONE = frozenset((_SOI, _EOI, _TEM, *_RESTARTS))
#: What may follow 0xFF inside a scan without ending it: stuffing, restarts, fill.
_IN_SCAN = frozenset((0x00, 0xFF, *_RESTARTS))


@register_encoder
class JPEGEncoder:
    """Stateless: one image per region (split only past libjpeg's 65500-pixel sides)."""

    encoding = Encoding.JPEG
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
        if not height or not width:
            return []
        if height > MAX_SIDE:
            return self.encode(pixels[:MAX_SIDE], x, y, pixel_format, settings) + self.encode(
                pixels[MAX_SIDE:], x, y + MAX_SIDE, pixel_format, settings
            )
        if width > MAX_SIDE:
            return self.encode(pixels[:, :MAX_SIDE], x, y, pixel_format, settings) + self.encode(
                pixels[:, MAX_SIDE:], x + MAX_SIDE, y, pixel_format, settings
            )
        image = jpeg_parameters(settings).encode(pixels)
        return [Rectangle(x, y, width, height, self.encoding, image)]


@register_decoder
class JPEGDecoder:
    """One per connection: it remembers the last quantisation and Huffman tables."""

    encoding = Encoding.JPEG

    def __init__(self) -> None:
        self._tables: dict[int, list[bytes]] = {_DQT: [], _DHT: []}

    def read_payload(
        self, rectangle: Rectangle, pixel_format: PixelFormat
    ) -> Generator[int, bytes, bytes]:
        return (yield from recording(_segments(_limit(rectangle))))

    def decode(
        self, rectangle: Rectangle, pixel_format: PixelFormat, framebuffer: Framebuffer
    ) -> None:
        segments = run_over(_segments(_limit(rectangle)), rectangle.payload)
        x, y, width, height = rectangle.x, rectangle.y, rectangle.width, rectangle.height
        require_inside(framebuffer, rectangle, "JPEG")
        present = {
            marker: [segment for segment in segments if segment[1] == marker]
            for marker in self._tables
        }
        borrowed = [
            segment
            for marker, found in present.items()
            if not found
            for segment in self._tables[marker]
        ]
        at = 1 if segments[0][1] == _SOI else 0
        image = b"".join(segments[:at] + borrowed + segments[at:])
        framebuffer.pixels[y : y + height, x : x + width] = decode_jpeg(
            image, width, height, pixel_format, framebuffer.colour_map
        )
        for marker, found in present.items():
            if found:
                self._tables[marker] = found


def _limit(rectangle: Rectangle) -> int:
    """Most bytes an image of the rectangle may take: far more than libjpeg ever makes
    (about 3 bytes per pixel at quality 100 on noise), yet bounded by the rectangle."""
    return (1 << 20) + 8 * rectangle.width * rectangle.height


def _segments(limit: int) -> Generator[int, bytes, list[bytes]]:
    """Reader of one JPEG image up to its EOI: the segments, each with its marker (a scan's
    entropy-coded data stays with its SOS segment). Fill bytes before markers are dropped."""
    segments: list[bytes] = []
    budget = [limit]
    marker = None  # a marker code the previous scan ended on
    while True:
        if marker is None:
            prefix, marker = yield from _take(budget, 2)
            if prefix != 0xFF:
                raise RemoteProtocolError(f"JPEG marker expected, got byte {prefix:#04x}")
            while marker == 0xFF:
                (marker,) = yield from _take(budget, 1)
        head = bytes((0xFF, marker))
        if marker in _STANDALONE:
            segments.append(head)
            if marker == _EOI:
                return segments
            marker = None
            continue
        length = yield from _take(budget, 2)
        size = int.from_bytes(length, "big")
        if size < 2:
            raise RemoteProtocolError(f"JPEG segment length {size}")
        body = (yield from _take(budget, size - 2)) if size > 2 else b""
        if marker == _SOS:
            scan, marker = yield from _scan(budget)
            segments.append(head + length + body + scan)
        else:
            segments.append(head + length + body)
            marker = None


def _scan(budget: list[int]) -> Generator[int, bytes, tuple[bytes, int]]:
    """Entropy-coded data up to the next real marker: (the data, that marker's code).
    0xFF is followed by 0x00 (a stuffed 0xFF), a restart, more 0xFF (fill) or a marker."""
    data = bytearray()
    after_ff = False
    while True:
        chunk = yield from _take(budget, 1 if after_ff else 2)
        for index, byte in enumerate(chunk):
            if after_ff and byte not in _IN_SCAN:
                data += chunk[:index]
                return bytes(data[:-1]), byte  # without the marker's own 0xFF
            after_ff = byte == 0xFF
        data += chunk


def _take(budget: list[int], count: int) -> Generator[int, bytes, bytes]:
    if count > budget[0]:
        raise RemoteProtocolError("JPEG image larger than its rectangle allows")
    budget[0] -= count
    return (yield from read_bytes(count))
