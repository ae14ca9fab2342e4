"""Helpers shared by the encoding tests: the formats viewers use, drivers that take a rectangle
over the wire (encoder payload -> reader fed in arbitrary pieces -> decoder), and the measures
the tests judge what a client sees by."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Generator, Iterable, Sequence

import attrs
import numpy as np
from hypothesis import strategies as st

from protocol._errors import RemoteProtocolError
from protocol._events import Rectangle
from protocol._framebuffer import Framebuffer
from protocol._pixelformat import BGRX, PixelFormat, colour_map_entries, decode_pixels
from protocol.encodings import EncodeSettings, make_decoder, make_encoder
from protocol.encodings._tight_wire import compact_length

#: 16 bpp, 5-6-5, big endian: the first low-colour format viewers ask for.
RGB565 = PixelFormat(16, 16, True, True, 31, 63, 31, 11, 5, 0)
RGB565_LE = PixelFormat(16, 16, False, True, 31, 63, 31, 11, 5, 0)
#: 8 bpp true colour, red in bits 0-2, green 3-5, blue 6-7: one byte a pixel, easy to spell.
BGR233 = PixelFormat(8, 8, False, True, 7, 7, 3, 0, 3, 6)
MAP8 = PixelFormat(8, 8, False, False, 0, 0, 0, 0, 0, 0)  # an 8-bit colour map

#: Formats viewers really use, one of each conversion path (the full space of formats is
#: covered by test_pixelformat; here the wire plumbing is under test).
FORMATS = [
    BGRX,
    PixelFormat(32, 24, False, True, 255, 255, 255, 0, 8, 16),  # RGBX
    PixelFormat(32, 24, True, True, 255, 255, 255, 16, 8, 0),  # XRGB big endian
    PixelFormat(32, 30, True, True, 1023, 1023, 1023, 20, 10, 0),
    RGB565,
    PixelFormat(16, 15, False, True, 31, 31, 31, 10, 5, 0),
    BGR233,
    MAP8,
    PixelFormat(16, 8, True, False, 0, 0, 0, 0, 0, 0),
    PixelFormat(32, 8, False, False, 0, 0, 0, 0, 0, 0),
]

NEED = object()  # the reader still waits for bytes

cut_lists = st.lists(st.integers(0, 10_000), max_size=8)


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


def read_stream(reader: Generator[int, bytes, bytes], data: bytes) -> tuple[object, int]:
    """Drive a reader over ``data`` as over a connection's stream, where the next message may
    follow the payload: (the reader's result, how many bytes it took), or (NEED, the bytes
    it took) if ``data`` ends before the reader does."""
    position = 0
    try:
        need = next(reader)
        while position + need <= len(data):
            position += need
            need = reader.send(data[position - need : position])
    except StopIteration as done:
        return done.value, position
    return NEED, position


def split(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``data`` cut at ``cuts`` (taken modulo its length + 1), the pieces in order."""
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def through_the_wire(rectangle: Rectangle, pf: PixelFormat, cuts: Iterable[int]) -> Rectangle:
    """What the receiving side ends up with: the header, then the payload its reader read."""
    header = attrs.evolve(rectangle, payload=b"")
    decoder = make_decoder(rectangle.encoding)
    payload = feed(decoder.read_payload(header, pf), split(rectangle.payload, cuts))
    assert payload == rectangle.payload
    return attrs.evolve(header, payload=payload)


def palette_framebuffer(width: int, height: int, pf: PixelFormat) -> Framebuffer:
    """A blank framebuffer holding the colour map a server sends with a colour-map format."""
    framebuffer = Framebuffer.blank(width, height)
    if not pf.true_colour:
        framebuffer.set_colour_map_entries(0, colour_map_entries())
    return framebuffer


def round_trip(
    encoding: int,
    pixels: np.ndarray,
    pf: PixelFormat,
    cuts: Sequence[int] = (),
    options: EncodeSettings | None = None,
    *,
    x: int = 2,
    y: int = 1,
) -> tuple[np.ndarray, list[Rectangle]]:
    """Encode ``pixels`` at (x, y), send each rectangle in pieces and decode it into a larger
    framebuffer (pre-filled with 7s). Checks every rectangle carries ``encoding`` and nothing
    outside the region changed; returns what the client sees of the region, and the
    rectangles."""
    height, width = pixels.shape[:2]
    rectangles = make_encoder(encoding).encode(pixels, x, y, pf, options or EncodeSettings())
    framebuffer = palette_framebuffer(x + width + 1, y + height + 1, pf)
    framebuffer.pixels[:] = 7
    decoder = make_decoder(encoding)
    for rectangle in rectangles:
        assert rectangle.encoding == encoding
        decoder.decode(through_the_wire(rectangle, pf, cuts), pf, framebuffer)
    outside = np.ones(framebuffer.pixels.shape[:2], bool)
    outside[y : y + height, x : x + width] = False
    assert (framebuffer.pixels[outside] == 7).all()
    return framebuffer.pixels[y : y + height, x : x + width], rectangles


def decode_payload(
    encoding: int,
    payload: bytes,
    width: int,
    height: int,
    pf: PixelFormat = BGRX,
    cuts: Sequence[int] = (1, 3),
) -> np.ndarray:
    """The pixels a client shows after one rectangle of ``payload`` covering its whole
    framebuffer arrives in pieces and is decoded."""
    framebuffer = palette_framebuffer(width, height, pf)
    rectangle = Rectangle(0, 0, width, height, encoding, payload)
    make_decoder(encoding).decode(through_the_wire(rectangle, pf, cuts), pf, framebuffer)
    return framebuffer.pixels


def decode_arbitrary(
    header: Rectangle,
    data: bytes,
    pf: PixelFormat,
    framebuffer: Framebuffer,
    *,
    also_as_payload: bool = False,
) -> None:
    """Arbitrary bytes where ``header``'s payload belongs: the reader takes what it wants of
    them as of a stream and the decoder paints that (and, ``also_as_payload``, the bytes
    themselves as if a reader had let them through). Either may only refuse with
    RemoteProtocolError; anything else escapes and fails the test."""
    decoder = make_decoder(header.encoding)
    with contextlib.suppress(RemoteProtocolError):
        payload, _ = read_stream(decoder.read_payload(header, pf), data)
        if payload is not NEED:
            decoder.decode(attrs.evolve(header, payload=payload), pf, framebuffer)
    if also_as_payload:
        with contextlib.suppress(RemoteProtocolError):
            make_decoder(header.encoding).decode(
                attrs.evolve(header, payload=data), pf, framebuffer
            )


def tight_image(payload: bytes) -> bytes:
    """The image of a Tight JpegCompression or TightPNG PngCompression payload (rfbproto
    7.7.6): control byte, compact length, then the JFIF or PNG."""
    for size in (1, 2, 3):
        length = len(payload) - 1 - size
        if compact_length(length) == payload[1 : 1 + size]:
            return payload[1 + size :]
    raise AssertionError("not a JPEG or PNG rectangle")


def bgr233_pixels(values: np.ndarray) -> np.ndarray:
    """Canonical pixels whose BGR233 values are ``values``."""
    height, width = values.shape
    return decode_pixels(np.asarray(values, np.uint8).tobytes(), width, height, BGR233)


def psnr(seen: np.ndarray, truth: np.ndarray) -> float:
    """Peak signal-to-noise ratio of the colour channels in dB (infinite when equal): how
    close a lossy encoding came; the padding byte is not compared."""
    error = np.mean((seen[..., :3].astype(np.float64) - truth[..., :3].astype(np.float64)) ** 2)
    return float("inf") if error == 0 else float(10 * np.log10(255**2 / error))
