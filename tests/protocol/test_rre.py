"""RRE (rfbproto 7.7.3): golden bytes, round trips through the wire, the shared subrectangle
and painting helpers, and hostile payloads.

``pictures`` (the kinds of content every lossless encoding is tried on) lives here and is
imported by the Hextile and Zlib tests too.
"""

from __future__ import annotations

import struct
from collections.abc import Generator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol._errors import RemoteProtocolError
from protocol._events import Rectangle
from protocol._framebuffer import Framebuffer
from protocol._pixelformat import BGRX, PixelFormat, quantise
from protocol.encodings import EncodeSettings, Encoding, make_decoder, make_encoder, rre
from protocol.encodings._base import CHUNK

from .roundtrip import (
    FORMATS,
    NEED,
    RGB565,
    cut_lists,
    feed,
    palette_framebuffer,
    split,
    through_the_wire,
)
from .strategies import pixel_formats

KINDS = ("solid", "two", "few", "noise", "gradient", "text")


def picture(kind: str, width: int, height: int, seed: int) -> np.ndarray:
    """(H, W, 4) BGRX content of one kind; the X byte is random (it must not matter)."""
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, (16, 4), dtype=np.uint8)
    if kind == "noise":
        return rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    if kind == "gradient":
        ramp = np.add.outer(np.arange(height) * 7, np.arange(width) * 3)
        pixels = (ramp[..., None] * rng.integers(1, 5, 4) + palette[0]).astype(np.uint8)
        return pixels
    if kind == "text":  # flat background, strokes, and anti-aliasing-like in-between shades
        index = np.zeros((height, width), np.intp)
        strokes = rng.random((height, width)) < 0.2
        index[strokes] = 1
        edges = np.zeros_like(strokes)
        edges[:, 1:] |= strokes[:, :-1] & ~strokes[:, 1:]
        index[edges] = rng.integers(2, 5, int(edges.sum()))
        return palette[index]
    colours = {"solid": 1, "two": 2, "few": 16}[kind]
    blocky = rng.integers(0, colours, (height // 3 + 1, width // 3 + 1))
    index = np.repeat(np.repeat(blocky, 3, axis=0), 3, axis=1)[:height, :width]
    flecks = rng.random((height, width)) < 0.1
    index[flecks] = rng.integers(0, colours, int(flecks.sum()))
    return palette[index]


@st.composite
def pictures(draw: st.DrawFn, max_side: int = 40) -> np.ndarray:
    """Content of every kind at awkward sizes: 1x1, tile-edge sizes and odd shapes."""
    side = st.one_of(st.sampled_from([1, 2, 15, 16, 17, 33]), st.integers(0, max_side))
    return picture(
        draw(st.sampled_from(KINDS)), draw(side), draw(side), draw(st.integers(0, 2**32 - 1))
    )


def round_trip(
    encoding: int, pixels: np.ndarray, pf: PixelFormat, cuts: list[int], x: int = 2, y: int = 1
) -> np.ndarray:
    """Encode, send in pieces, decode into a framebuffer (pre-filled with 7s); returns the
    framebuffer after checking nothing outside the rectangle changed."""
    height, width = pixels.shape[:2]
    rectangles = make_encoder(encoding).encode(pixels, x, y, pf, EncodeSettings())
    framebuffer = palette_framebuffer(x + width + 1, y + height + 2, pf)
    framebuffer.pixels[:] = 7
    decoder = make_decoder(encoding)
    for rectangle in rectangles:
        assert rectangle.encoding == encoding
        decoder.decode(through_the_wire(rectangle, pf, cuts), pf, framebuffer)
    outside = np.ones(framebuffer.pixels.shape[:2], bool)
    outside[y : y + height, x : x + width] = False
    assert (framebuffer.pixels[outside] == 7).all()
    return framebuffer.pixels[y : y + height, x : x + width]


def read_from(reader: Generator[int, bytes, bytes], data: bytes) -> object:
    """Drive a reader over ``data`` as a stream (more may follow its payload); NEED if
    ``data`` ends first."""
    offset = 0
    try:
        need = next(reader)
        while offset + need <= len(data):
            offset += need
            need = reader.send(data[offset - need : offset])
    except StopIteration as done:
        return done.value
    return NEED


def rre_bytes(background: bytes, *subrects: tuple[bytes, int, int, int, int]) -> bytes:
    """An RRE payload spelt out as in 7.7.3."""
    records = b"".join(value + struct.pack(">HHHH", *box) for value, *box in subrects)
    return struct.pack(">I", len(subrects)) + background + records


# --- golden bytes -----------------------------------------------------------------------

WHITE, RED, BLUE = (255, 255, 255, 0), (0, 0, 255, 0), (255, 0, 0, 0)  # BGRX


def test_golden_background_and_one_merged_subrectangle() -> None:
    pixels = np.array([[WHITE] * 5] * 4, np.uint8)
    pixels[1:3, 2:4] = RED
    (rectangle,) = rre.RREEncoder().encode(pixels, 10, 20, BGRX, EncodeSettings())
    assert (rectangle.x, rectangle.y, rectangle.width, rectangle.height) == (10, 20, 5, 4)
    assert rectangle.encoding == Encoding.RRE == 2
    # BGRX is little endian 32 bpp: a PIXEL's bytes are B, G, R, X.
    assert rectangle.payload == bytes.fromhex("00000001ffffff000000ff000002000100020002")


def test_golden_rgb565_big_endian_two_colours() -> None:
    pixels = np.array([[RED, RED, BLUE], [BLUE, BLUE, BLUE]], np.uint8)
    (rectangle,) = rre.RREEncoder().encode(pixels, 0, 0, RGB565, EncodeSettings())
    # Blue (4 of 6) is the background: 0x001f; the red run is 0xf800, 2x1 at (0, 0).
    assert rectangle.payload == bytes.fromhex("00000001001ff8000000000000020001")


def test_golden_decode_paints_in_order_later_over_earlier() -> None:
    payload = rre_bytes(
        b"\x01",
        (b"\x02", 0, 0, 2, 2),  # a block ...
        (b"\x03", 1, 1, 2, 1),  # ... partly covered by the next one (6 pixels painted)
    )
    pf = PixelFormat(8, 8, False, True, 7, 7, 3, 0, 3, 6)  # BGR233: value 1 is red 1/7
    framebuffer = Framebuffer.blank(4, 3)
    rre.RREDecoder().decode(Rectangle(1, 1, 3, 2, Encoding.RRE, payload), pf, framebuffer)
    values = np.array([[2, 2, 1], [2, 3, 3]])
    expected = quantise(np.zeros((2, 3, 4), np.uint8), pf)
    expected[..., 2] = np.choose(values - 1, [36, 73, 109])  # red 1/7, 2/7, 3/7 of 255
    np.testing.assert_array_equal(framebuffer.pixels[1:3, 1:4], expected)
    assert not framebuffer.pixels[0].any() and not framebuffer.pixels[:, 0].any()


# --- round trips --------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(pixels=pictures(), pf=st.sampled_from(FORMATS), cuts=cut_lists)
def test_round_trip_viewer_formats(pixels: np.ndarray, pf: PixelFormat, cuts: list[int]) -> None:
    np.testing.assert_array_equal(round_trip(Encoding.RRE, pixels, pf, cuts), quantise(pixels, pf))


@settings(max_examples=100, deadline=None)
@given(pixels=pictures(max_side=12), pf=pixel_formats(), cuts=cut_lists)
def test_round_trip_any_format(pixels: np.ndarray, pf: PixelFormat, cuts: list[int]) -> None:
    np.testing.assert_array_equal(round_trip(Encoding.RRE, pixels, pf, cuts), quantise(pixels, pf))


@settings(max_examples=100, deadline=None)
@given(pixels=pictures(), pf=st.sampled_from(FORMATS))
def test_size_stays_linear(pixels: np.ndarray, pf: PixelFormat) -> None:
    """At worst one subrectangle per pixel, plus the header."""
    (rectangle,) = rre.RREEncoder().encode(pixels, 0, 0, pf, EncodeSettings())
    size = pf.bytes_per_pixel
    assert len(rectangle.payload) <= 4 + size + pixels.shape[0] * pixels.shape[1] * (size + 8)


def test_flat_shapes_become_few_subrectangles() -> None:
    pixels = np.zeros((50, 60, 4), np.uint8)
    pixels[5:45, 10:20] = RED  # a tall block: one subrectangle, not 40 runs
    pixels[20:22, 0:60] = BLUE  # a bar crossing it
    (rectangle,) = rre.RREEncoder().encode(pixels, 0, 0, BGRX, EncodeSettings())
    (count,) = struct.unpack_from(">I", rectangle.payload)
    assert count == 3


# --- the shared helpers -------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(pixels=pictures(), blocks=st.integers(1, 3))
def test_subrectangles_cover_exactly_the_foreground(pixels: np.ndarray, blocks: int) -> None:
    values = rre.wire_values(np.concatenate([pixels] * blocks, axis=0), BGRX)
    values = values.reshape(blocks, pixels.shape[0], pixels.shape[1])
    background = np.array([rre.most_common(v) for v in values], values.dtype)
    block, xs, ys, ws, hs, colours = rre.subrectangles(values, background)
    assert (np.diff(block) >= 0).all()
    assert (ws > 0).all() and (hs > 0).all()
    painted = np.zeros(values.shape, int)
    for b, x, y, w, h, colour in zip(block, xs, ys, ws, hs, colours, strict=True):
        assert (values[b, y : y + h, x : x + w] == colour).all()  # one value each
        painted[b, y : y + h, x : x + w] += 1
    np.testing.assert_array_equal(painted, values != background[:, None, None])


@settings(max_examples=100, deadline=None)
@given(
    rectangles=st.lists(
        st.tuples(st.integers(0, 9), st.integers(0, 7), st.integers(0, 10), st.integers(0, 8)),
        max_size=30,
    ),
    batch=st.sampled_from([1, 7, 1 << 21]),
)
def test_paint_rectangles_later_wins_in_any_batch_size(
    rectangles: list[tuple[int, int, int, int]], batch: int
) -> None:
    expected = np.zeros((8, 10), np.uint16)
    boxes = [(x, y, min(w, 10 - x), min(h, 8 - y)) for x, y, w, h in rectangles]
    for value, (x, y, w, h) in enumerate(boxes, 1):
        expected[y : y + h, x : x + w] = value
    canvas = np.zeros(80, np.uint16)
    xs, ys, ws, hs = (np.array([box[i] for box in boxes], np.int64) for i in range(4))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rre, "_PAINT_BATCH", batch)
        rre.paint_rectangles(canvas, 10, ys * 10 + xs, ws, hs, np.arange(1, len(boxes) + 1))
    np.testing.assert_array_equal(canvas.reshape(8, 10), expected)


def test_most_common_prefers_the_smallest_on_ties() -> None:
    assert rre.most_common(np.array([5, 3, 5, 3], np.uint32)) == 3
    assert rre.most_common(np.array([9, 9, 1], np.uint8)) == 9
    assert rre.most_common(np.array([], np.uint16)) == 0


# --- hostile payloads ---------------------------------------------------------------------


def test_reader_rejects_a_count_beyond_the_pixels_before_reading_it() -> None:
    reader = rre.RREDecoder().read_payload(Rectangle(0, 0, 3, 3, Encoding.RRE), BGRX)
    assert next(reader) == 8
    with pytest.raises(RemoteProtocolError):
        reader.send(struct.pack(">I", 10) + bytes(4))


def test_reader_of_a_huge_count_asks_in_bounded_chunks() -> None:
    reader = rre.RREDecoder().read_payload(Rectangle(0, 0, 0xFFFF, 0xFFFF, Encoding.RRE), BGRX)
    next(reader)
    assert reader.send(struct.pack(">I", 0xFFFF * 0xFFFF) + bytes(4)) == CHUNK


@settings(max_examples=50, deadline=None)
@given(count=st.integers(1, 20), missing=st.integers(1, 30), cuts=cut_lists)
def test_truncated_payload_never_returns(count: int, missing: int, cuts: list[int]) -> None:
    payload = rre_bytes(b"\0\0", *[(b"\0\1", 0, 0, 1, 1)] * count)[:-missing]
    reader = rre.RREDecoder().read_payload(Rectangle(0, 0, 5, 5, Encoding.RRE), RGB565)
    assert feed(reader, split(payload, cuts)) is NEED


@pytest.mark.parametrize(
    ("box", "payload"),
    [
        ((0, 0, 4, 4), rre_bytes(bytes(4), (b"\1" * 4, 3, 0, 2, 1))),  # sticks out
        ((0, 0, 4, 4), rre_bytes(bytes(4), (b"\1" * 4, 0, 4, 1, 1))),  # below
        ((0, 0, 4, 4), rre_bytes(bytes(4), (b"\1" * 4, 0, 0, 1, 1))[:-1]),  # short
        ((0, 0, 4, 4), rre_bytes(bytes(4)) + b"\0"),  # long
        ((0, 0, 4, 4), b"\0\0\0"),  # no header
        ((3, 3, 2, 2), rre_bytes(bytes(4))),  # leaves the framebuffer
        ((0, 0, 1, 1), rre_bytes(bytes(4), *[(b"\1" * 4, 0, 0, 1, 1)] * 2)),  # count
        ((0, 0, 4, 4), rre_bytes(bytes(4), *[(b"\1" * 4, 0, 0, 3, 3)] * 2)),  # 18 of 16 px
    ],
)
def test_decode_rejects_bad_rectangles(box: tuple[int, int, int, int], payload: bytes) -> None:
    framebuffer = Framebuffer.blank(4, 4)
    with pytest.raises(RemoteProtocolError):
        rre.RREDecoder().decode(Rectangle(*box, Encoding.RRE, payload), BGRX, framebuffer)
    assert not framebuffer.pixels.any()


@settings(max_examples=200, deadline=None)
@given(
    width=st.integers(0, 9),
    height=st.integers(0, 9),
    data=st.binary(max_size=200),
    pf=st.sampled_from(FORMATS),
)
def test_arbitrary_bytes_are_a_protocol_error_or_pixels(
    width: int, height: int, data: bytes, pf: PixelFormat
) -> None:
    header = Rectangle(0, 0, width, height, Encoding.RRE)
    framebuffer = Framebuffer.blank(9, 9)
    try:
        payload = read_from(rre.RREDecoder().read_payload(header, pf), data)
        if payload is not NEED:
            rectangle = Rectangle(0, 0, width, height, Encoding.RRE, payload)
            rre.RREDecoder().decode(rectangle, pf, framebuffer)
        rectangle = Rectangle(0, 0, width, height, Encoding.RRE, data)
        rre.RREDecoder().decode(rectangle, pf, framebuffer)
    except RemoteProtocolError:
        pass
