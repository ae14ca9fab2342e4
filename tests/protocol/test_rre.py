"""RRE (rfbproto 7.7.3): golden bytes, round trips through the wire, the shared subrectangle
and painting helpers, and hostile payloads."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol._errors import RemoteProtocolError
from protocol._events import Rectangle
from protocol._framebuffer import Framebuffer
from protocol._pixelformat import BGRX, PixelFormat, quantise
from protocol.encodings import EncodeSettings, Encoding, rre
from protocol.encodings._base import CHUNK

from .roundtrip import (
    BGR233,
    FORMATS,
    NEED,
    RGB565,
    cut_lists,
    decode_arbitrary,
    feed,
    round_trip,
    split,
)
from .strategies import pictures, pixel_formats


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
    pf = BGR233  # value 1 is red 1/7
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
    decoded, _ = round_trip(Encoding.RRE, pixels, pf, cuts)
    np.testing.assert_array_equal(decoded, quantise(pixels, pf))


@settings(max_examples=100, deadline=None)
@given(pixels=pictures(max_side=12), pf=pixel_formats(), cuts=cut_lists)
def test_round_trip_any_format(pixels: np.ndarray, pf: PixelFormat, cuts: list[int]) -> None:
    decoded, _ = round_trip(Encoding.RRE, pixels, pf, cuts)
    np.testing.assert_array_equal(decoded, quantise(pixels, pf))


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
    corners = list(zip(block.tolist(), ys.tolist(), xs.tolist(), strict=True))
    assert corners == sorted(corners)  # block by block, row by row
    assert (ws > 0).all() and (hs > 0).all()
    painted = np.zeros(values.shape, int)
    for b, x, y, w, h, colour in zip(block, xs, ys, ws, hs, colours, strict=True):
        assert (values[b, y : y + h, x : x + w] == colour).all()  # one value each
        painted[b, y : y + h, x : x + w] += 1
    np.testing.assert_array_equal(painted, values != background[:, None, None])


def test_subrectangles_golden_runs_and_merging() -> None:
    """Maximal runs; a run continues the rectangle above only at the same x, width and
    value; rectangles in the order of their top-left corners, never across blocks."""
    blocks = np.array(
        [
            [[0, 1, 1, 0], [0, 1, 1, 0], [0, 1, 2, 0], [3, 3, 3, 3]],
            [[0, 0, 0, 5], [0, 0, 0, 5], [0, 0, 0, 5], [0, 0, 0, 0]],
        ],
        np.uint16,
    )
    found = rre.subrectangles(blocks, np.array([0, 0], np.uint16))
    assert [tuple(int(a[i]) for a in found) for i in range(len(found[0]))] == [
        (0, 1, 0, 2, 2, 1),  # block, x, y, width, height, value
        (0, 1, 2, 1, 1, 1),  # narrower than the rectangle above: a new one
        (0, 2, 2, 1, 1, 2),
        (0, 0, 3, 4, 1, 3),
        (1, 3, 0, 1, 3, 5),
    ]


def test_subrectangles_longer_than_a_byte() -> None:
    block = np.zeros((1, 300, 400), np.uint32)
    block[0, 10:290, 5:395] = 7
    found = rre.subrectangles(block, np.array([0], np.uint32))
    assert [int(a[0]) for a in found] == [0, 5, 10, 390, 280, 7]
    assert len(found[0]) == 1


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
    decode_arbitrary(header, data, pf, Framebuffer.blank(9, 9), also_as_payload=True)
