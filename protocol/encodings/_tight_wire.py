"""The byte layout of a Tight or TightPNG rectangle (rfbproto 7.7.6, "Tight PNG Encoding").

One parser serves both directions of the decoder: ``read_payload`` runs it against the wire
(recording the bytes), ``decode`` runs it again over the recorded payload to get the fields,
so the layout rules live in one place.
"""

from __future__ import annotations

import enum
from collections.abc import Generator
from typing import TypeVar

import attrs

from .._errors import RemoteProtocolError
from .._events import Rectangle
from .._pixelformat import PixelFormat
from ._base import read_bytes
from ._tight_pixels import tpixels_for

#: Bits 7-4 of the compression-control byte (7.7.6).
FILL = 0x8
JPEG = 0x9
NO_ZLIB = 0xA  # Tight: BasicCompression Without Zlib; TightPNG: PngCompression
PNG = 0xA
EXPLICIT_FILTER = 0x4  # in a BasicCompression control nibble
#: filter-id values.
COPY_FILTER = 0
PALETTE_FILTER = 1
GRADIENT_FILTER = 2

#: Filtered data shorter than this is sent as is, never through zlib (7.7.6).
MIN_TO_COMPRESS = 12
#: No Tight rectangle may be wider (7.7.6).
MAX_WIDTH = 2048
#: The largest length a compact representation can carry (22 bits).
MAX_COMPACT = (1 << 22) - 1

T = TypeVar("T")


class Flavour(enum.Enum):
    """Which family the rectangle belongs to: they differ in what bits 7-4 = 1010 mean and
    in whether BasicCompression exists at all."""

    TIGHT = "Tight"
    TIGHT_PNG = "TightPNG"


class Method(enum.Enum):
    FILL = "fill"
    JPEG = "jpeg"
    PNG = "png"
    BASIC = "basic"


@attrs.frozen
class TightRect:
    """The fields of one rectangle's payload.

    ``data`` is the fill TPIXEL, the JPEG or PNG image, or the basic filtered data
    (compressed when ``compressed``; ``raw_size`` is its size once inflated)."""

    resets: int  # bit i: reset zlib stream i before decoding
    method: Method
    data: bytes
    stream: int = 0
    filter: int = COPY_FILTER
    palette: bytes = b""
    palette_size: int = 0
    compressed: bool = False
    raw_size: int = 0


def compact_length(value: int) -> bytes:
    """A length in Tight's compact representation: 7 bits per byte, then 8 (7.7.6)."""
    if not 0 <= value <= MAX_COMPACT:
        raise ValueError(f"{value} does not fit a compact length")
    if value < 0x80:
        return bytes((value,))
    if value < 0x4000:
        return bytes((value & 0x7F | 0x80, value >> 7))
    return bytes((value & 0x7F | 0x80, value >> 7 & 0x7F | 0x80, value >> 14))


def read_compact_length() -> Generator[int, bytes, int]:
    value = 0
    for shift in (0, 7):
        (byte,) = yield 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value
    (byte,) = yield 1
    return value | byte << 14


def basic_raw_size(width: int, height: int, palette_size: int, tpixel_size: int) -> int:
    """Bytes of filtered data: 1 bit per pixel (rows padded to bytes) for palettes of up to
    2 colours, 1 byte per pixel for larger palettes, else one TPIXEL per pixel."""
    if palette_size == 0:
        return width * height * tpixel_size
    if palette_size <= 2:
        return (width + 7) // 8 * height
    return width * height


def parse(
    rectangle: Rectangle, pf: PixelFormat, flavour: Flavour
) -> Generator[int, bytes, TightRect]:
    """Reader of one Tight / TightPNG payload; every field is checked before the bytes it
    announces are asked for."""
    (control,) = yield 1
    resets, kind = control & 0x0F, control >> 4
    tpixel_size = tpixels_for(pf).size
    if kind == FILL:
        return TightRect(resets, Method.FILL, (yield tpixel_size))
    # TigerVNC viewers exempt fills from the width limit (old servers sent wide ones).
    if rectangle.width > MAX_WIDTH:
        raise RemoteProtocolError(f"{flavour.value} rectangle {rectangle.width} wide (> 2048)")
    if kind == JPEG:
        if pf.bits_per_pixel < 16:
            raise RemoteProtocolError("JPEG compression needs 16 or 32 bits per pixel")
        length = yield from read_compact_length()
        return TightRect(resets, Method.JPEG, (yield from read_bytes(length)))
    if flavour is Flavour.TIGHT_PNG:
        if kind != PNG:
            raise RemoteProtocolError(f"TightPNG compression type {kind:#x} is not fill/JPEG/PNG")
        length = yield from read_compact_length()
        return TightRect(resets, Method.PNG, (yield from read_bytes(length)))
    if kind & 0x8 and kind & ~EXPLICIT_FILTER != NO_ZLIB:
        raise RemoteProtocolError(f"Tight compression type {kind:#x} is invalid")
    return (yield from _parse_basic(rectangle, pf, resets, kind, tpixel_size))


def _parse_basic(
    rectangle: Rectangle, pf: PixelFormat, resets: int, kind: int, tpixel_size: int
) -> Generator[int, bytes, TightRect]:
    filter_id = COPY_FILTER
    if kind & EXPLICIT_FILTER:
        (filter_id,) = yield 1
    palette, palette_size = b"", 0
    if filter_id == PALETTE_FILTER:
        (last,) = yield 1
        palette_size = last + 1
        palette = yield palette_size * tpixel_size
    elif filter_id == GRADIENT_FILTER:
        if not pf.true_colour or pf.bits_per_pixel < 16:
            raise RemoteProtocolError("the gradient filter needs true colour, 16 or 32 bpp")
    elif filter_id != COPY_FILTER:
        raise RemoteProtocolError(f"Tight filter-id {filter_id} is invalid")
    raw_size = basic_raw_size(rectangle.width, rectangle.height, palette_size, tpixel_size)
    fields = {
        "resets": resets,
        "method": Method.BASIC,
        "stream": kind & 0x3,
        "filter": filter_id,
        "palette": palette,
        "palette_size": palette_size,
        "raw_size": raw_size,
    }
    if raw_size < MIN_TO_COMPRESS:
        return TightRect(data=(yield raw_size) if raw_size else b"", **fields)
    length = yield from read_compact_length()
    if kind & 0x8 and length != raw_size:
        raise RemoteProtocolError(f"uncompressed Tight data is {length} bytes, not {raw_size}")
    return TightRect(data=(yield from read_bytes(length)), compressed=not kind & 0x8, **fields)


def recording(reader: Generator[int, bytes, object]) -> Generator[int, bytes, bytes]:
    """Drive ``reader`` from the wire and return every byte it consumed (the payload)."""
    pieces = []
    try:
        need = next(reader)
        while True:
            data = yield need
            pieces.append(data)
            need = reader.send(data)
    except StopIteration:
        return b"".join(pieces)


def run_over(reader: Generator[int, bytes, T], payload: bytes) -> T:
    """Drive ``reader`` over a complete payload, which it must consume exactly."""
    view = memoryview(payload)
    position = 0
    try:
        need = next(reader)
        while True:
            if position + need > len(view):
                raise RemoteProtocolError("the rectangle's payload is truncated")
            data = bytes(view[position : position + need])
            position += need
            need = reader.send(data)
    except StopIteration as done:
        if position != len(view):
            raise RemoteProtocolError("the rectangle's payload has trailing bytes") from None
        return done.value
