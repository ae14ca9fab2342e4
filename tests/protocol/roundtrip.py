"""Helpers shared by the encoding tests: the formats viewers use, and a driver that takes a
rectangle over the wire (encoder payload -> reader fed in arbitrary pieces -> decoder)."""

from __future__ import annotations

import itertools
from collections.abc import Generator, Iterable

import attrs
from hypothesis import strategies as st

from protocol._events import Rectangle
from protocol._framebuffer import Framebuffer
from protocol._pixelformat import BGRX, PixelFormat, colour_map_entries
from protocol.encodings import make_decoder

#: Formats viewers really use, one of each conversion path (the full space of formats is
#: covered by test_pixelformat; here the wire plumbing is under test).
FORMATS = [
    BGRX,
    PixelFormat(32, 24, False, True, 255, 255, 255, 0, 8, 16),  # RGBX
    PixelFormat(32, 24, True, True, 255, 255, 255, 16, 8, 0),  # XRGB big endian
    PixelFormat(32, 30, True, True, 1023, 1023, 1023, 20, 10, 0),
    PixelFormat(16, 16, True, True, 31, 63, 31, 11, 5, 0),
    PixelFormat(16, 15, False, True, 31, 31, 31, 10, 5, 0),
    PixelFormat(8, 8, False, True, 7, 7, 3, 0, 3, 6),
    PixelFormat(8, 8, False, False, 0, 0, 0, 0, 0, 0),
    PixelFormat(16, 8, True, False, 0, 0, 0, 0, 0, 0),
    PixelFormat(32, 8, False, False, 0, 0, 0, 0, 0, 0),
]
RGB565 = FORMATS[4]

NEED = object()  # the reader still waits for bytes


def feed(reader: Generator[int, bytes, bytes], arrivals: Iterable[bytes]) -> object:
    """Drive a reader the way a connection does: bytes arrive in arbitrary pieces and the
    reader is sent exactly the count it yielded once that many are buffered. Returns the
    reader's result, or NEED if the arrivals ran out first; every byte must be consumed."""
    buffer = bytearray()
    try:
        need = next(reader)
        for piece in arrivals:
            buffer += piece
            while len(buffer) >= need:
                data = bytes(buffer[:need])
                del buffer[:need]
                need = reader.send(data)
    except StopIteration as done:
        assert not buffer, "the reader returned before consuming what it was given"
        return done.value
    return NEED


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def through_the_wire(rectangle: Rectangle, pf: PixelFormat, cuts: list[int]) -> Rectangle:
    """What the receiving side ends up with: the header, then the payload its reader read."""
    header = attrs.evolve(rectangle, payload=b"")
    decoder = make_decoder(rectangle.encoding)
    payload = feed(decoder.read_payload(header, pf), split(rectangle.payload, cuts))
    assert payload == rectangle.payload
    return attrs.evolve(header, payload=payload)


def palette_framebuffer(width: int, height: int, pf: PixelFormat) -> Framebuffer:
    framebuffer = Framebuffer.blank(width, height)
    if not pf.true_colour:
        framebuffer.set_colour_map_entries(0, colour_map_entries())
    return framebuffer


cut_lists = st.lists(st.integers(0, 10_000), max_size=8)
