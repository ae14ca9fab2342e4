"""TRLE (RFC 6143 7.7.5) through encoder -> wire -> reader -> Framebuffer, golden tiles for
every subencoding, and an independent generator of valid tile streams for the decoder
(``tile_streams``, in strategies: ZRLE uses the same tiles)."""

from __future__ import annotations

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol._errors import RemoteProtocolError
from protocol._events import Rectangle
from protocol._framebuffer import Framebuffer
from protocol._pixelformat import BGRX, PixelFormat, quantise
from protocol.encodings import EncodeSettings, Encoding, make_decoder, make_encoder, trle
from protocol.encodings._base import CHUNK
from protocol.encodings._rle_tiles import PLAIN_RLE, RAW, SOLID

from .roundtrip import (
    BGR233,
    FORMATS,
    NEED,
    RGB565,
    bgr233_pixels,
    cut_lists,
    decode_arbitrary,
    feed,
    palette_framebuffer,
    read_stream,
    round_trip,
    split,
)
from .strategies import formats, screens, tile_streams

RED, GREEN, BLUE, WHITE, BLACK = 0x07, 0x38, 0xC0, 0xFF, 0x00  # BGR233 values


def read_exactly(rectangle: Rectangle, pf: PixelFormat, stream: bytes) -> bytes:
    """Run the reader over a stream that goes on after the rectangle, as a connection would:
    it must return having taken exactly the rectangle's bytes."""
    reader = make_decoder(rectangle.encoding).read_payload(rectangle, pf)
    payload, taken = read_stream(reader, stream)
    assert payload is not NEED, "the reader asked past the stream's end"
    assert taken == len(payload)
    return payload


def decode_trle(payload: bytes, width: int, height: int, pf: PixelFormat = BGR233) -> np.ndarray:
    framebuffer = palette_framebuffer(width, height, pf)
    header = Rectangle(0, 0, width, height, Encoding.TRLE)
    assert read_exactly(header, pf, payload + b"\x00" * 600) == payload
    make_decoder(Encoding.TRLE).decode(attrs.evolve(header, payload=payload), pf, framebuffer)
    return framebuffer.pixels


# --- Golden tiles ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "payload", "values"),
    [
        pytest.param(
            2, 2, bytes([0, RED, GREEN, BLUE, WHITE]), [[RED, GREEN], [BLUE, WHITE]], id="raw"
        ),
        pytest.param(3, 2, bytes([1, GREEN]), [[GREEN] * 3] * 2, id="solid"),
        pytest.param(
            3,
            2,
            bytes([2, BLACK, WHITE, 0b101_00000, 0b010_00000]),
            [[WHITE, BLACK, WHITE], [BLACK, WHITE, BLACK]],
            id="packed 1 bit",
        ),
        pytest.param(
            5,
            1,
            bytes([3, RED, GREEN, BLUE, 0b00_01_10_01, 0b10_000000]),
            [[RED, GREEN, BLUE, GREEN, BLUE]],
            id="packed 2 bits",
        ),
        pytest.param(
            3,
            2,
            bytes([5, RED, GREEN, BLUE, WHITE, BLACK, 0x01, 0x20, 0x34, 0x00]),
            [[RED, GREEN, BLUE], [WHITE, BLACK, RED]],
            id="packed 4 bits",
        ),
        pytest.param(
            16,
            16,
            bytes([128, RED, 254, GREEN, 0]),
            [[RED] * 16] * 15 + [[RED] * 15 + [GREEN]],
            id="plain RLE 255 + 1",
        ),
        pytest.param(
            16, 16, bytes([128, BLUE, 255, 0]), [[BLUE] * 16] * 16, id="plain RLE 256 = 255, 0"
        ),
        pytest.param(
            4,
            1,
            bytes([130, RED, GREEN, 0x81, 1, 0x00, 0x01]),
            [[GREEN, GREEN, RED, GREEN]],
            id="palette RLE",
        ),
        pytest.param(
            2,
            1,
            bytes([130, RED, GREEN, 0x80, 0, 0x81, 0]),
            [[RED, GREEN]],
            id="palette RLE runs of one as runs",
        ),
        pytest.param(
            16,
            16,
            bytes([131, RED, GREEN, BLUE, 0x82, 255, 0]),
            [[BLUE] * 16] * 16,
            id="palette RLE 256",
        ),
        pytest.param(
            17,
            1,
            bytes([2, RED, GREEN, 0xAA, 0xAA, 127, 0x80]),
            [[GREEN, RED] * 8 + [GREEN]],
            id="127 reuses a packed palette",
        ),
        pytest.param(
            17,
            1,
            bytes([130, RED, GREEN, 0x80, 15, 129, 0x01]),
            [[RED] * 16 + [GREEN]],
            id="129 reuses an RLE palette",
        ),
        pytest.param(
            17,
            1,
            bytes([2, RED, GREEN, 0xAA, 0xAA, 129, 0x00]),
            [[GREEN, RED] * 8 + [RED]],
            id="129 after a packed tile",
        ),
        pytest.param(
            17,
            1,
            bytes([130, RED, GREEN, 0x81, 15, 127, 0x00]),
            [[GREEN] * 16 + [RED]],
            id="127 after an RLE tile",
        ),
        pytest.param(
            33,
            1,
            bytes([2, RED, GREEN, 0xAA, 0xAA, 1, BLUE, 127, 0x80]),
            [[GREEN, RED] * 8 + [BLUE] * 16 + [GREEN]],
            id="the last palette survives a tile without one",
        ),
    ],
)
def test_golden_tiles_decode(width: int, height: int, payload: bytes, values: list) -> None:
    got = decode_trle(payload, width, height)
    np.testing.assert_array_equal(got, bgr233_pixels(np.array(values)))


def _values(rows: list[list[int]]) -> np.ndarray:
    return np.array(rows, np.uint8)


SINGLES_THEN_RUN = np.array(([RED, GREEN] * 5 + [BLUE] * 6) + [BLUE] * 240).reshape(16, 16)
PRLE_TILE = bytes([131, RED, GREEN, BLUE, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0x82, 245])
CHECKERS = np.where(np.add.outer(np.arange(16), np.arange(32)) % 2, BLUE, WHITE)


@pytest.mark.parametrize(
    ("values", "payload"),
    [
        pytest.param(np.full((16, 16), RED), bytes([1, RED]), id="solid"),
        pytest.param(_values([[RED, GREEN]]), bytes([0, RED, GREEN]), id="raw"),
        # palette 4 + 2 rows of one byte beat raw's 8 (palette sorted by value)
        pytest.param(
            _values([[RED, GREEN, BLUE, WHITE]] * 2),
            bytes([4, RED, GREEN, BLUE, WHITE, 0x1B, 0x1B]),
            id="packed 2 bits",
        ),
        # 2 runs: plain RLE 4 bytes, palette RLE 6, packed 34
        pytest.param(
            np.repeat([RED, GREEN], 128).reshape(16, 16),
            bytes([128, RED, 127, GREEN, 127]),
            id="plain RLE",
        ),
        # 10 single pixels and a run: palette RLE 15 bytes, plain RLE 22, packed 67
        pytest.param(SINGLES_THEN_RUN, PRLE_TILE, id="palette RLE"),
        pytest.param(
            CHECKERS,
            bytes([2, BLUE, WHITE])
            + b"\xaa\xaa\x55\x55" * 8
            + bytes([127])
            + b"\xaa\xaa\x55\x55" * 8,
            id="127",
        ),
        pytest.param(
            np.hstack([SINGLES_THEN_RUN, SINGLES_THEN_RUN]),
            PRLE_TILE + bytes([129]) + PRLE_TILE[4:],
            id="129",
        ),
    ],
)
def test_golden_tiles_encode(values: np.ndarray, payload: bytes) -> None:
    pixels = bgr233_pixels(values)
    (rectangle,) = make_encoder(Encoding.TRLE).encode(pixels, 0, 0, BGR233, EncodeSettings())
    assert rectangle.payload == payload


def test_tiles_analysed_together_take_the_forms_they_take_alone() -> None:
    """The encoder looks at all of a rectangle's tiles at once: a photograph's tile is raw,
    four colours a packed palette, one colour solid, long runs plain RLE, each as it would
    be alone (no two palettes alike, so no tile reuses one)."""
    rng = np.random.default_rng(8)
    tiles = [
        rng.integers(0, 256, (16, 16)),
        rng.choice([RED, GREEN, BLUE, WHITE], (16, 16)),
        np.full((16, 16), GREEN),
        np.repeat([BLUE, WHITE], 8)[:, None].repeat(16, axis=1),
    ]
    alone = []
    for tile in tiles:
        seen, (rectangle,) = round_trip(Encoding.TRLE, bgr233_pixels(tile), BGR233, [3])
        np.testing.assert_array_equal(seen, bgr233_pixels(tile))
        alone.append(rectangle.payload)
    assert [payload[0] for payload in alone] == [RAW, 4, SOLID, PLAIN_RLE]
    values = np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:])])
    seen, (rectangle,) = round_trip(Encoding.TRLE, bgr233_pixels(values), BGR233, [5])
    np.testing.assert_array_equal(seen, bgr233_pixels(values))
    assert rectangle.payload == b"".join(alone)


def test_encoder_tiles_are_16_pixels_and_cut_at_the_edges() -> None:
    # 17x17: tiles 16x16, 1x16, 16x1, 1x1, each solid.
    values = np.full((17, 17), RED)
    values[:, 16] = GREEN
    values[16, :] = BLUE
    (rectangle,) = make_encoder(Encoding.TRLE).encode(
        bgr233_pixels(values), 0, 0, BGR233, EncodeSettings()
    )
    assert rectangle.payload == bytes([1, RED, 1, GREEN, 1, BLUE, 1, BLUE])


def test_cpixels_of_32_bpp_are_three_bytes() -> None:
    pixels = np.zeros((1, 1, 4), np.uint8)
    pixels[0, 0] = (0x33, 0x22, 0x11, 0xEE)  # B, G, R, X
    (rectangle,) = make_encoder(Encoding.TRLE).encode(pixels, 0, 0, BGRX, EncodeSettings())
    assert rectangle.payload == bytes([1, 0x33, 0x22, 0x11])
    big = PixelFormat(32, 24, True, True, 255, 255, 255, 16, 8, 0)  # 00 RR GG BB on the wire
    (rectangle,) = make_encoder(Encoding.TRLE).encode(pixels, 0, 0, big, EncodeSettings())
    assert rectangle.payload == bytes([1, 0x11, 0x22, 0x33])


# --- Round trips -------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(pixels=screens(), pf=formats, x=st.integers(0, 3), y=st.integers(0, 3), cuts=cut_lists)
def test_round_trip(pixels: np.ndarray, pf: PixelFormat, x: int, y: int, cuts: list[int]) -> None:
    height, width = pixels.shape[:2]
    # Arbitrary arrival pieces, then a reader that must stop exactly at the end.
    seen, (rectangle,) = round_trip(Encoding.TRLE, pixels, pf, cuts, x=x, y=y)
    assert (rectangle.x, rectangle.y, rectangle.width, rectangle.height) == (x, y, width, height)
    assert read_exactly(rectangle, pf, rectangle.payload + bytes(100)) == rectangle.payload
    np.testing.assert_array_equal(seen, quantise(pixels, pf))


def test_tiles_beat_raw_on_desktop_content() -> None:
    rng = np.random.default_rng(5)
    pixels = np.zeros((48, 80, 4), np.uint8)
    pixels[:] = (200, 200, 200, 0)
    pixels[10:20, 5:70] = rng.integers(0, 2, (10, 65, 1)) * 255  # "text"
    (rectangle,) = make_encoder(Encoding.TRLE).encode(pixels, 0, 0, BGRX, EncodeSettings())
    assert len(rectangle.payload) < 48 * 80 * 4 / 10


@settings(max_examples=200, deadline=None)
@given(stream=tile_streams(16, reuse=True), junk=st.binary(max_size=40))
def test_decoder_reads_every_valid_stream(
    stream: tuple[int, int, bytes, np.ndarray], junk: bytes
) -> None:
    width, height, payload, values = stream
    header = Rectangle(0, 0, width, height, Encoding.TRLE)
    assert read_exactly(header, BGR233, payload + junk + bytes(2 * len(payload))) == payload
    np.testing.assert_array_equal(decode_trle(payload, width, height), bgr233_pixels(values))


# --- The reader: exact ends, bounded requests ----------------------------------------------


def test_empty_rectangle_reads_nothing() -> None:
    reader = make_decoder(Encoding.TRLE).read_payload(Rectangle(0, 0, 0, 9, Encoding.TRLE), BGRX)
    assert feed(reader, []) == b""
    framebuffer = Framebuffer.blank(2, 2)
    make_decoder(Encoding.TRLE).decode(Rectangle(1, 1, 0, 1, Encoding.TRLE), BGRX, framebuffer)
    assert not framebuffer.pixels.any()


def test_a_huge_header_asks_for_one_chunk_at_most() -> None:
    reader = make_decoder(Encoding.TRLE).read_payload(
        Rectangle(0, 0, 0xFFFF, 0xFFFF, Encoding.TRLE), BGRX
    )
    assert next(reader) <= CHUNK


@settings(max_examples=50, deadline=None)
@given(pixels=screens(), missing=st.integers(1, 50), cuts=cut_lists)
def test_truncated_payload_never_returns(pixels: np.ndarray, missing: int, cuts: list) -> None:
    (rectangle,) = make_encoder(Encoding.TRLE).encode(pixels, 0, 0, RGB565, EncodeSettings())
    reader = make_decoder(Encoding.TRLE).read_payload(rectangle, RGB565)
    assert feed(reader, split(rectangle.payload[:-missing], cuts)) is NEED


# --- Malformed data ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "payload"),
    [
        pytest.param(1, 1, bytes([17, 0]), id="subencoding 17"),
        pytest.param(1, 1, bytes([126, 0]), id="subencoding 126"),
        pytest.param(1, 1, bytes([127, 0]), id="127 without a palette"),
        pytest.param(1, 1, bytes([129, 0]), id="129 without a palette"),
        pytest.param(
            17, 1, bytes([128 + 17, *range(17), 0x80, 15, 127, 0]), id="127 reusing 17 colours"
        ),
        pytest.param(1, 1, bytes([3, RED, GREEN, BLUE, 0b11_000000]), id="packed index 3 of 3"),
        pytest.param(1, 1, bytes([130, RED, GREEN, 0x02]), id="palette RLE index 2 of 2"),
        pytest.param(1, 1, bytes([130, RED, GREEN, 0x82, 0]), id="palette RLE run index"),
        pytest.param(1, 1, bytes([128, RED, 1]), id="plain run past the tile"),
        pytest.param(16, 1, bytes([130, RED, GREEN, 0x81, 255, 255, 0]), id="long run past"),
        pytest.param(2, 1, bytes([0, RED, GREEN, 0]), id="a byte after the last tile"),
        pytest.param(2, 1, bytes([0, RED]), id="short"),
        pytest.param(2, 1, b"", id="empty"),
    ],
)
def test_malformed_tiles_are_protocol_errors(width: int, height: int, payload: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        make_decoder(Encoding.TRLE).decode(
            Rectangle(0, 0, width, height, Encoding.TRLE, payload),
            BGR233,
            Framebuffer.blank(width, height),
        )


def test_palettes_do_not_carry_over_to_the_next_rectangle() -> None:
    decoder = make_decoder(Encoding.TRLE)
    framebuffer = Framebuffer.blank(2, 1)
    decoder.decode(
        Rectangle(0, 0, 1, 1, Encoding.TRLE, bytes([2, RED, GREEN, 0])), BGR233, framebuffer
    )
    with pytest.raises(RemoteProtocolError):
        decoder.decode(Rectangle(1, 0, 1, 1, Encoding.TRLE, bytes([127, 0])), BGR233, framebuffer)


def test_rectangle_outside_the_framebuffer() -> None:
    with pytest.raises(RemoteProtocolError):
        make_decoder(Encoding.TRLE).decode(
            Rectangle(1, 0, 2, 1, Encoding.TRLE, bytes([1, RED])), BGR233, Framebuffer.blank(2, 1)
        )


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=400),
    size=st.tuples(st.integers(0, 40), st.integers(0, 40)),
    pf=st.sampled_from(FORMATS),
)
def test_arbitrary_bytes_are_protocol_errors_or_pixels(
    data: bytes, size: tuple[int, int], pf: PixelFormat
) -> None:
    width, height = size
    rectangle = Rectangle(0, 0, width, height, Encoding.TRLE)
    framebuffer = palette_framebuffer(width, height, pf)
    decode_arbitrary(rectangle, data, pf, framebuffer, also_as_payload=True)


def test_registered() -> None:
    assert isinstance(make_encoder(Encoding.TRLE), trle.TrleEncoder)
    assert isinstance(make_decoder(Encoding.TRLE), trle.TrleDecoder)
