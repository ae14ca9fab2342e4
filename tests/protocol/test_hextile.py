"""Hextile (rfbproto 7.7.4): golden bytes for every subencoding and carry-over rule, round
trips through the wire, the decoder's strictness about carry-over, and hostile payloads."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.contents import text_desktop
from protocol._errors import RemoteProtocolError
from protocol._events import Rectangle
from protocol._framebuffer import Framebuffer
from protocol._pixelformat import BGRX, PixelFormat, encode_pixels, quantise
from protocol.encodings import EncodeSettings, Encoding, hextile

from .roundtrip import BGR233, FORMATS, NEED, cut_lists, decode_arbitrary, feed, round_trip, split
from .strategies import pictures, pixel_formats

# BGRX colours and their BGR233 values (red in bits 0-2, green 3-5, blue 6-7).
WHITE, RED, GREEN = (255, 255, 255, 0), (0, 0, 255, 0), (0, 255, 0, 0)
W, R, G = 0xFF, 0x07, 0x38


def golden_picture() -> np.ndarray:
    """64x20: a row of four 16x16 tiles, then a row of four 16x4 tiles."""
    pixels = np.array([[WHITE] * 64] * 20, np.uint8)
    pixels[5:8, 20:22] = RED  # tile 1: a 2x3 red block at (4, 5)
    pixels[0, 48] = RED  # tile 3: a red dot at (0, 0)
    pixels[16:20, 0:16] = np.random.default_rng(5).integers(0, 256, (4, 16, 4))  # tile 4
    pixels[17, 33], pixels[18, 34] = RED, GREEN  # tile 6: two colours on white
    pixels[16, 51] = RED  # tile 7: a red dot at (3, 0)
    return pixels


def golden_payload() -> bytes:
    raw_tile = encode_pixels(golden_picture()[16:20, 0:16], BGR233)
    return b"".join(
        [
            bytes([0x02, W]),  # solid, background specified
            bytes([0x0C, R, 1, 0x45, 0x12]),  # foreground specified, 1 subrect 2x3 at (4, 5)
            bytes([0x00]),  # solid, background carried over
            bytes([0x08, 1, 0x00, 0x00]),  # foreground carried through the solid tile
            bytes([0x01]) + raw_tile,  # raw 16x4
            bytes([0x02, W]),  # after raw the background must be specified again
            bytes([0x18, 2, R, 0x11, 0x00, G, 0x22, 0x00]),  # coloured subrects
            bytes([0x0C, R, 1, 0x30, 0x00]),  # after coloured the foreground is specified
        ]
    )


def test_golden_encoder_bytes() -> None:
    (rectangle,) = hextile.HextileEncoder().encode(golden_picture(), 3, 4, BGR233, EncodeSettings())
    assert (rectangle.x, rectangle.y, rectangle.width, rectangle.height) == (3, 4, 64, 20)
    assert rectangle.encoding == Encoding.HEXTILE == 5
    assert rectangle.payload == golden_payload()


def test_golden_payload_decodes() -> None:
    framebuffer = Framebuffer.blank(64, 20)
    rectangle = Rectangle(0, 0, 64, 20, Encoding.HEXTILE, golden_payload())
    hextile.HextileDecoder().decode(rectangle, BGR233, framebuffer)
    np.testing.assert_array_equal(framebuffer.pixels, quantise(golden_picture(), BGR233))


def decode(payload: bytes, width: int = 32, height: int = 16) -> np.ndarray:
    """BGR233 values of the pixels a payload paints into a blank framebuffer."""
    framebuffer = Framebuffer.blank(width, height)
    rectangle = Rectangle(0, 0, width, height, Encoding.HEXTILE, payload)
    hextile.HextileDecoder().decode(rectangle, BGR233, framebuffer)
    return np.frombuffer(encode_pixels(framebuffer.pixels, BGR233), np.uint8).reshape(height, -1)


def test_decode_raw_ignores_the_other_bits_and_later_subrects_win() -> None:
    values = decode(
        bytes([0x1F])
        + bytes(range(256))  # raw, whatever else the mask says
        + bytes([0x1A, W, 3])  # background white, 3 coloured subrects, overlapping:
        + bytes([R, 0x00, 0xFF])  # the whole tile red,
        + bytes([G, 0x11, 0x11])  # a 2x2 green square at (1, 1),
        + bytes([0xC0, 0x22, 0x00])  # a blue dot at (2, 2) on top of it
    )
    np.testing.assert_array_equal(values[:, :16], np.arange(256).reshape(16, 16))
    expected = np.full((16, 16), R)
    expected[1:3, 1:3] = G
    expected[2, 2] = 0xC0
    np.testing.assert_array_equal(values[:, 16:], expected)


def test_decode_foreground_specified_on_a_tile_without_subrects_carries_over() -> None:
    values = decode(bytes([0x06, W, R]) + bytes([0x08, 1, 0xF0, 0x00]))  # a dot at (15, 0)
    expected = np.full((16, 32), W)
    expected[0, 31] = R
    np.testing.assert_array_equal(values, expected)


def test_partial_tiles_take_subrects_up_to_their_edge() -> None:
    values = decode(bytes([0x0E, W, R, 1, 0x42, 0x11]), width=6, height=4)  # 2x2 at (4, 2)
    expected = np.full((4, 6), W)
    expected[2:4, 4:6] = R
    np.testing.assert_array_equal(values, expected)


@pytest.mark.parametrize(
    ("payload", "width", "height"),
    [
        (b"\x00", 16, 16),  # the first tile has no background
        (b"\x08\x01\x00\x00", 16, 16),  # ... nor with subrects
        (b"\x01" + bytes(256) + b"\x00", 32, 16),  # no background carried past a raw tile
        (b"\x02\xff" + b"\x08\x01\x00\x00", 32, 16),  # a foreground never specified
        (b"\x1a\xff\x01\x07\x00\x00" + b"\x08\x01\x00\x00", 32, 16),  # ended by coloured
        (b"\x06\xff\x07" + b"\x01" + bytes(256) + b"\x0a\xff\x01\x00\x00", 48, 16),  # by raw
        (b"\x16\xff\x07\x01\x07\x00\x00", 16, 16),  # foreground and coloured subrects
        (b"\x22\xff", 16, 16),  # a mask bit Hextile does not define
        (b"\x0e\xff\x07\x01\x70\x10", 8, 8),  # a 2-wide subrect at x 7 of an 8-wide tile
        (b"\x0e\xff\x07\x01\x07\x01", 8, 8),  # a 2-high subrect at y 7 of an 8-high tile
        (b"\x02\xff", 32, 16),  # too short
        (b"\x02\xff\x00\x00", 32, 16),  # too long
        (b"\x02\xff\x0c\x07\x02\x00\x00", 32, 16),  # two subrects announced, one sent
        (b"\x00", 0, 5),  # an empty rectangle has no tiles
    ],
)
def test_decoder_rejects(payload: bytes, width: int, height: int) -> None:
    with pytest.raises(RemoteProtocolError):
        decode(payload, width, height)


def test_decode_outside_the_framebuffer_is_an_error() -> None:
    rectangle = Rectangle(10, 0, 16, 16, Encoding.HEXTILE, b"\x02\xff")
    with pytest.raises(RemoteProtocolError):
        hextile.HextileDecoder().decode(rectangle, BGR233, Framebuffer.blank(16, 16))


# --- round trips and the encoder's choices --------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(pixels=pictures(max_side=70), pf=st.sampled_from(FORMATS), cuts=cut_lists)
def test_round_trip_viewer_formats(pixels: np.ndarray, pf: PixelFormat, cuts: list[int]) -> None:
    decoded, _ = round_trip(Encoding.HEXTILE, pixels, pf, cuts)
    np.testing.assert_array_equal(decoded, quantise(pixels, pf))


@settings(max_examples=100, deadline=None)
@given(pixels=pictures(max_side=40), pf=pixel_formats(), cuts=cut_lists)
def test_round_trip_any_format(pixels: np.ndarray, pf: PixelFormat, cuts: list[int]) -> None:
    decoded, _ = round_trip(Encoding.HEXTILE, pixels, pf, cuts)
    np.testing.assert_array_equal(decoded, quantise(pixels, pf))


@settings(max_examples=100, deadline=None)
@given(pixels=pictures(max_side=70), pf=st.sampled_from(FORMATS))
def test_never_much_larger_than_raw(pixels: np.ndarray, pf: PixelFormat) -> None:
    """Raw is chosen whenever smaller: at most the Raw bytes plus a mask byte a tile."""
    height, width = pixels.shape[:2]
    (rectangle,) = hextile.HextileEncoder().encode(pixels, 0, 0, pf, EncodeSettings())
    tiles = -(-width // 16) * -(-height // 16)
    assert len(rectangle.payload) <= tiles + width * height * pf.bytes_per_pixel


def test_text_desktop_compresses_and_round_trips() -> None:
    pixels = text_desktop()[40:300, 40:500]
    (rectangle,) = hextile.HextileEncoder().encode(pixels, 0, 0, BGRX, EncodeSettings())
    assert len(rectangle.payload) < pixels.size // 4  # under a byte a pixel; Raw has four
    framebuffer = Framebuffer.blank(460, 260)
    hextile.HextileDecoder().decode(rectangle, BGRX, framebuffer)
    np.testing.assert_array_equal(framebuffer.pixels, quantise(pixels, BGRX))


# --- hostile payloads ---------------------------------------------------------------------


def test_reader_of_a_huge_header_allocates_nothing() -> None:
    tracemalloc.start()
    try:
        reader = hextile.HextileDecoder().read_payload(
            Rectangle(0, 0, 0xFFFF, 0xFFFF, Encoding.HEXTILE), BGRX
        )
        assert next(reader) == 1
        assert reader.send(b"\x01") == 16 * 16 * 4
        assert tracemalloc.get_traced_memory()[1] < 1 << 20
    finally:
        tracemalloc.stop()


@settings(max_examples=50, deadline=None)
@given(missing=st.integers(1, 30), cuts=cut_lists)
def test_truncated_payload_never_returns(missing: int, cuts: list[int]) -> None:
    payload = golden_payload()[:-missing]
    reader = hextile.HextileDecoder().read_payload(Rectangle(0, 0, 64, 20, 5), BGR233)
    assert feed(reader, split(payload, cuts)) is NEED


@settings(max_examples=300, deadline=None)
@given(
    width=st.integers(0, 40),
    height=st.integers(0, 20),
    data=st.binary(max_size=300),
    pf=st.sampled_from(FORMATS),
)
def test_arbitrary_bytes_are_a_protocol_error_or_pixels(
    width: int, height: int, data: bytes, pf: PixelFormat
) -> None:
    header = Rectangle(0, 0, width, height, Encoding.HEXTILE)
    decode_arbitrary(header, data, pf, Framebuffer.blank(40, 20), also_as_payload=True)
