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
from protocol._pixelformat import BGRX, PixelFormat, decode_pixels, encode_pixels, quantise
from protocol.encodings import EncodeSettings, Encoding, _hextile_choice, hextile, rre
from protocol.encodings._hextile_choice import Kind

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


# --- the encoder's choice of subencoding, tile by tile --------------------------------------


def reference_decode(payload: bytes, width: int, height: int, size: int) -> np.ndarray:
    """(H, W, size) wire bytes of the pixels a payload paints, decoded tile by tile straight
    from 7.7.4 (independent of the decoder under test)."""
    out = np.zeros((height, width, size), np.uint8)
    at = 0

    def take(count: int) -> np.ndarray:
        nonlocal at
        at += count
        assert at <= len(payload)
        return np.frombuffer(payload, np.uint8, count, at - count)

    background = foreground = None
    for top in range(0, height, 16):
        for left in range(0, width, 16):
            w, h = min(16, width - left), min(16, height - top)
            tile = out[top : top + h, left : left + w]
            (mask,) = take(1)
            if mask & 1:  # Raw
                tile[:] = take(w * h * size).reshape(h, w, size)
                background = foreground = None  # the encoder must specify them again
                continue
            if mask & 2:
                background = take(size)
            if mask & 4:
                foreground = take(size)
            tile[:] = background
            for _ in range(take(1)[0] if mask & 8 else 0):
                colour = take(size) if mask & 16 else foreground
                xy, wh = take(2)
                x, y = xy >> 4, xy & 15
                tile[y : y + (wh & 15) + 1, x : x + (wh >> 4) + 1] = colour
    assert at == len(payload)
    return out


def wire_bytes(pixels: np.ndarray, pf: PixelFormat) -> np.ndarray:
    """(H, W, size) bytes of the pixels in the client's format."""
    height, width = pixels.shape[:2]
    size = pf.bytes_per_pixel
    return np.frombuffer(encode_pixels(pixels, pf), np.uint8).reshape(height, width, size)


def from_values(values: np.ndarray) -> np.ndarray:
    """BGRX pixels whose BGR233 values are ``values`` (H, W)."""
    height, width = values.shape
    return decode_pixels(values.astype(np.uint8).tobytes(), width, height, BGR233)


def encode(pixels: np.ndarray, pf: PixelFormat = BGR233) -> bytes:
    (rectangle,) = hextile.HextileEncoder().encode(pixels, 0, 0, pf, EncodeSettings())
    return rectangle.payload


def scattered(colours: int, background: int = 0) -> np.ndarray:
    """16x16 BGR233 values: ``background`` pixels of value 0 in the top left corner, the
    rest cycling through ``colours`` other values so that every pixel differs from its left
    and upper neighbours, as in a photograph."""
    index = (np.arange(16)[:, None] * 7 + np.arange(16) * 3) % colours + 1
    index.reshape(-1)[:background] = 0
    return index


@pytest.fixture
def searched(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many tiles each encode searched for subrectangles."""
    counts: list[int] = []
    search = _hextile_choice.subrectangles

    def counting(blocks: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, ...]:
        counts.append(len(blocks))
        return search(blocks, background)

    monkeypatch.setattr(_hextile_choice, "subrectangles", counting)
    return counts


def test_photo_tile_goes_raw_without_a_search(searched: list[int]) -> None:
    # 60 colours: 59 subrectangles of 3 bytes would beat Raw's 256 bytes, but every pixel
    # is a corner of its own, which no cover can merge.
    pixels = from_values(scattered(60))
    assert encode(pixels) == b"\x01" + wire_bytes(pixels, BGR233).tobytes()
    assert searched == [0]


def test_tile_of_few_colours_is_searched_and_may_still_go_raw(searched: list[int]) -> None:
    # A colour on 40 pixels might be the background of many corners: the search decides
    # (one subrectangle a pixel, 3 bytes each, is more than Raw), and the next tile, which
    # the search puts into subrectangles, must specify its background again.
    values = np.zeros((16, 32), np.uint8)
    values[:, :16] = scattered(60, background=40)
    values[4:6, 20:23] = 0x07
    pixels = from_values(values)
    assert encode(pixels) == b"".join(
        [
            b"\x01" + wire_bytes(pixels[:, :16], BGR233).tobytes(),
            bytes([0x0E, 0x00, 0x07, 1, 0x44, 0x21]),  # background, foreground, a 3x2 at (4, 4)
        ]
    )
    assert searched == [2]


def test_corners_of_the_background_do_not_count(searched: list[int]) -> None:
    """96 corner pixels, 24 of them the background's: 72 coloured subrectangles of 3 bytes
    beat Raw's 256 bytes, which the search finds although 96 subrectangles would not."""
    values = np.zeros((16, 16), np.uint8)
    records = []
    for y in range(3):  # a checkerboard of the background and 24 colours of a pixel each
        for x in range(16):
            if (x + y) % 2:
                values[y, x] = 100 + len(records)
                records.append(bytes([values[y, x], x << 4 | y, 0x00]))
    for top, bottom in ((3, 8), (8, 12), (12, 16)):  # vertical strips of 48 colours
        for x in range(16):
            values[top:bottom, x] = len(records) - 23
            records.append(bytes([values[top, x], x << 4 | top, bottom - top - 1]))
    assert encode(from_values(values)) == bytes([0x1A, 0x00, 72]) + b"".join(records)
    assert searched == [1]


def test_solid_tiles_send_their_background_only_when_it_changes(searched: list[int]) -> None:
    values = np.full((16, 48), W, np.uint8)
    values[:, 32:] = R
    assert encode(from_values(values)) == bytes([0x02, W, 0x00, 0x02, R])
    assert searched == [0]


def test_background_is_the_most_common_colour_the_smallest_on_a_tie() -> None:
    # 96 pixels of 0x05, 96 of 0x03, 64 of 0x09: no colour fills half the tile.
    values = np.full((16, 16), 0x03, np.uint8)
    values[:6] = 0x05
    values[12:] = 0x09
    # Coloured subrectangles on the background 0x03: 16x6 at (0, 0), 16x4 at (0, 12).
    expected = bytes([0x1A, 0x03, 2, 0x05, 0x00, 0xF5, 0x09, 0x0C, 0xF3])
    assert encode(from_values(values)) == expected


def test_subrectangles_of_a_partial_tile_stop_at_its_edge() -> None:
    values = np.full((4, 6), W, np.uint8)
    values[:2, 4:] = R  # found 12 wide in the tile padded to 16x16, sent 2 wide
    assert encode(from_values(values)) == bytes([0x0E, W, R, 1, 0x40, 0x11])  # 2x2 at (4, 0)


def test_raw_tiles_of_every_size_at_16_bpp() -> None:
    """20x20: whole, right, bottom and corner tiles, all Raw, their pixels row by row."""
    pixels = np.random.default_rng(7).integers(0, 256, (20, 20, 4), dtype=np.uint8)
    expected = b"".join(
        b"\x01" + encode_pixels(pixels[rows, columns], RGB565)
        for rows in (slice(0, 16), slice(16, 20))
        for columns in (slice(0, 16), slice(16, 20))
    )
    assert encode(pixels, RGB565) == expected


def brute_force_kinds(pixels: np.ndarray, pf: PixelFormat) -> list[Kind]:
    """Every tile's kind as the encoder must choose it: the smallest of its forms, with the
    subrectangles of every tile searched."""
    values = rre.wire_values(pixels, pf)
    size = values.itemsize
    kinds = []
    for top in range(0, values.shape[0], 16):
        for left in range(0, values.shape[1], 16):
            tile = values[top : top + 16, left : left + 16]
            if (tile == tile.flat[0]).all():
                kinds.append(Kind.SOLID)
                continue
            padded = np.pad(tile, ((0, 16 - tile.shape[0]), (0, 16 - tile.shape[1])), "edge")
            colours, counts = np.unique(padded, return_counts=True)
            background = colours[np.argmax(counts)]  # the smallest of the most common
            subrects = len(rre.subrectangles(padded[None], np.array([background]))[0])
            kind = Kind.MONO if len(colours) == 2 else Kind.COLOURED
            record = 2 if kind == Kind.MONO else size + 2
            raw = tile.size * size <= 2 * size + 1 + subrects * record
            kinds.append(Kind.RAW if raw else kind)
    return kinds


@st.composite
def photo_like(draw: st.DrawFn) -> np.ndarray:
    """Tiles near the line between subrectangles and Raw: a background on some pixels, the
    others from a palette of any size, scattered or in blocks, at awkward sizes."""
    height, width = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    palette = rng.integers(0, 256, (draw(st.sampled_from([2, 3, 20, 60, 120, 200, 400])), 4))
    index = rng.integers(0, len(palette), (height, width))
    if draw(st.booleans()):
        index = np.repeat(index, draw(st.integers(1, 3)), axis=1)[:, :width]
    index[rng.random((height, width)) < draw(st.sampled_from([0, 0.1, 0.2, 0.6]))] = 0
    return palette[index].astype(np.uint8)


@settings(max_examples=200, deadline=None)
@given(
    pixels=st.one_of(photo_like(), pictures(max_side=40)),
    pf=st.sampled_from([BGRX, RGB565, BGR233]),
)
def test_the_bounds_never_change_the_choice(pixels: np.ndarray, pf: PixelFormat) -> None:
    """Tiles proved Raw without a search are exactly those a search would make Raw, and the
    payload decodes, by the reference, to the pixels."""
    height, width = pixels.shape[:2]
    values = rre.wire_values(pixels, pf)
    tiles = hextile._to_tiles(values)
    choice = _hextile_choice.choose(tiles, *hextile._tile_sizes(width, height))
    assert list(choice.kind) == brute_force_kinds(pixels, pf)
    decoded = reference_decode(encode(pixels, pf), width, height, pf.bytes_per_pixel)
    np.testing.assert_array_equal(decoded, wire_bytes(pixels, pf))
