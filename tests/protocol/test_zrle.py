"""ZRLE (rfbproto 7.7.8): golden tiles and CPIXELs, round trips over one zlib stream per
connection, an independent decoder (vncdotool), zlib bombs and malformed data."""

from __future__ import annotations

import contextlib
import struct
import tracemalloc
import zlib
from collections.abc import Callable

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vncdotool.rfb import RFBClient

from protocol._errors import RemoteProtocolError
from protocol._events import Rectangle
from protocol._framebuffer import Framebuffer
from protocol._pixelformat import BGRX, PixelFormat, encode_pixels, pixel_value, quantise
from protocol.encodings import EncodeSettings, Encoding, make_decoder, make_encoder, zrle
from protocol.encodings._base import CHUNK
from protocol.encodings._rle_tiles import PALETTE_RLE, PLAIN_RLE, RAW, SOLID

from .roundtrip import (
    BGR233,
    FORMATS,
    bgr233_pixels,
    cut_lists,
    decode_payload,
    feed,
    palette_framebuffer,
    through_the_wire,
)
from .strategies import formats, screens, tile_streams

RED, GREEN, BLUE, WHITE = 0x07, 0x38, 0xC0, 0xFF  # BGR233 values


def zrle_payload(tiles: bytes, compressor: zlib._Compress | None = None) -> bytes:
    compressor = compressor or zlib.compressobj()
    data = compressor.compress(tiles) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return struct.pack(">I", len(data)) + data


def tiles_of(payload: bytes) -> bytes:
    """The tile bytes of the first rectangle of a stream."""
    return zlib.decompressobj().decompress(payload[4:])


def decode(payload: bytes, width: int, height: int, pf: PixelFormat = BGR233) -> np.ndarray:
    return decode_payload(Encoding.ZRLE, payload, width, height, pf, cuts=[3])


# --- Golden tiles and CPIXELs -----------------------------------------------------------


def test_golden_tiles_are_64_pixels_cut_at_the_edges() -> None:
    # 65x66: tiles 64x64, 1x64, 64x2, 1x2.
    values = np.full((66, 65), RED)
    values[:, 64] = GREEN
    values[64:, :64] = np.array([WHITE, BLUE] * 32)
    tiles = bytes([1, RED, 1, GREEN, 2, BLUE, WHITE, *[0xAA] * 8 * 2, 1, GREEN])
    (rectangle,) = make_encoder(Encoding.ZRLE).encode(
        bgr233_pixels(values), 0, 0, BGR233, EncodeSettings()
    )
    assert tiles_of(rectangle.payload) == tiles
    np.testing.assert_array_equal(decode(zrle_payload(tiles), 65, 66), bgr233_pixels(values))


def test_golden_rle_tiles() -> None:
    # Plain RLE: 64x64 = 4096 pixels = 16 * 255 + 16: sixteen 255s then 15.
    plain = bytes([128, RED, *[255] * 16, 15])
    np.testing.assert_array_equal(
        decode(zrle_payload(plain), 64, 64), bgr233_pixels(np.full((64, 64), RED))
    )
    palette = bytes([130, RED, GREEN, 0x01, 0x80, 0, 0x81, 0])  # runs of one, either form
    np.testing.assert_array_equal(
        decode(zrle_payload(palette), 3, 1), bgr233_pixels(np.array([[GREEN, RED, GREEN]]))
    )


COLOUR = (0x33, 0x22, 0x11, 0xEE)  # B, G, R, X: red 0x11, green 0x22, blue 0x33
RGB565_AT_8 = (31, 63, 31, 19, 13, 8)  # 16-bit colour in bits 8-23 of a 32-bit pixel
VALUE_AT_8 = 2 << 19 | 8 << 13 | 6 << 8  # COLOUR in it: 0x11 -> 2, 0x22 -> 8, 0x33 -> 6


@pytest.mark.parametrize(
    ("pf", "cpixel"),
    [
        pytest.param(BGRX, bytes([0x33, 0x22, 0x11]), id="BGRX: least significant 3 bytes"),
        pytest.param(FORMATS[1], bytes([0x11, 0x22, 0x33]), id="RGBX little endian"),
        pytest.param(
            PixelFormat(32, 24, True, True, 255, 255, 255, 16, 8, 0),
            bytes([0x11, 0x22, 0x33]),
            id="XRGB big endian: last 3 bytes on the wire",
        ),
        pytest.param(
            PixelFormat(32, 24, True, True, 255, 255, 255, 24, 16, 8),
            bytes([0x11, 0x22, 0x33]),
            id="RGBX big endian: most significant 3 bytes",
        ),
        pytest.param(
            PixelFormat(32, 24, False, True, 255, 255, 255, 24, 16, 8),
            bytes([0x33, 0x22, 0x11]),
            id="little endian, most significant 3 bytes",
        ),
        pytest.param(
            PixelFormat(32, 16, False, True, *RGB565_AT_8),
            VALUE_AT_8.to_bytes(4, "little")[:3],
            id="both fit, little endian",
        ),
        # The decoders' quirk: the first three bytes on the wire, the most significant.
        pytest.param(
            PixelFormat(32, 16, True, True, *RGB565_AT_8),
            VALUE_AT_8.to_bytes(4, "big")[:3],
            id="both fit, big endian",
        ),
        pytest.param(
            PixelFormat(32, 32, False, True, 255, 255, 255, 0, 8, 16),
            bytes([0x11, 0x22, 0x33, 0x00]),
            id="depth 32: a whole PIXEL",
        ),
        pytest.param(FORMATS[3], pixel_value(COLOUR, FORMATS[3]), id="10 bits per channel"),
        pytest.param(FORMATS[9], pixel_value(COLOUR, FORMATS[9]), id="colour map, 32 bpp"),
        pytest.param(FORMATS[4], pixel_value(COLOUR, FORMATS[4]), id="16 bpp"),
    ],
)
def test_cpixels(pf: PixelFormat, cpixel: bytes) -> None:
    pixels = np.array(COLOUR, np.uint8).reshape(1, 1, 4)
    (rectangle,) = make_encoder(Encoding.ZRLE).encode(pixels, 0, 0, pf, EncodeSettings())
    assert tiles_of(rectangle.payload) == bytes([1]) + cpixel
    np.testing.assert_array_equal(
        decode(zrle_payload(bytes([0]) + cpixel), 1, 1, pf), quantise(pixels, pf)
    )


# --- The form each tile takes ----------------------------------------------------------


def bgrx_colours(count: int, seed: int) -> np.ndarray:
    """``count`` distinct BGRX colours (the X byte set, which a client never sees)."""
    values = np.random.default_rng(seed).choice(1 << 24, count, replace=False)
    return (values.astype("<u4") | 0xEE000000).view(np.uint8).reshape(count, 4)


def photo_tile() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (64, 64, 4), dtype=np.uint8)


def four_colour_tile() -> np.ndarray:
    return bgrx_colours(4, 2)[np.random.default_rng(2).integers(0, 4, (64, 64))]


def solid_tile() -> np.ndarray:
    return np.broadcast_to(bgrx_colours(1, 3)[0], (64, 64, 4)).copy()


def long_runs_tile() -> np.ndarray:
    """Two runs of 2048 pixels: plain RLE, 2 x (CPIXEL + 9 length bytes), beats palette RLE
    (2 x 10 bytes and the palette) and a packed palette (64 rows of 8 bytes)."""
    return bgrx_colours(2, 4)[np.repeat([0, 1], 32)[:, None].repeat(64, axis=1)]


TILE_FORMS = [
    pytest.param(photo_tile, RAW, id="a photograph's tile is raw"),
    pytest.param(four_colour_tile, 4, id="four colours are a packed palette"),
    pytest.param(solid_tile, SOLID, id="one colour is solid"),
    pytest.param(long_runs_tile, PLAIN_RLE, id="long runs are RLE"),
]


def encode_bgrx(pixels: np.ndarray) -> bytes:
    (rectangle,) = make_encoder(Encoding.ZRLE).encode(pixels, 0, 0, BGRX, EncodeSettings())
    height, width = pixels.shape[:2]
    seen = decode_payload(Encoding.ZRLE, rectangle.payload, width, height, BGRX, cuts=[5])
    np.testing.assert_array_equal(seen, quantise(pixels, BGRX))
    return tiles_of(rectangle.payload)


@pytest.mark.parametrize(("tile", "subencoding"), TILE_FORMS)
def test_a_tile_takes_its_smallest_form(tile: Callable[[], np.ndarray], subencoding: int) -> None:
    assert encode_bgrx(tile())[0] == subencoding


def test_tiles_analysed_together_take_the_forms_they_take_alone() -> None:
    """The encoder looks at all of a rectangle's tiles at once; what it sends for each must
    not depend on its neighbours (ZRLE tiles are independent)."""
    tiles = [make() for make, _ in (param.values for param in TILE_FORMS)]
    rectangle = np.concatenate(
        [np.concatenate(tiles[:2], axis=1), np.concatenate(tiles[2:], axis=1)]
    )
    assert encode_bgrx(rectangle) == b"".join(encode_bgrx(tile) for tile in tiles)


@pytest.mark.parametrize(
    ("colours", "subencoding"),
    [
        pytest.param(127, PALETTE_RLE + 127, id="127 colours: palette RLE"),
        pytest.param(128, RAW, id="128 colours: no palette, raw beats plain RLE"),
    ],
)
def test_palette_limit_with_a_colour_of_one_pixel(colours: int, subencoding: int) -> None:
    """4096 runs of one pixel, the last colour only in the last one: the encoder samples
    runs before it counts them all, and must still see every colour."""
    indices = np.arange(64 * 64) % (colours - 1)
    indices[-1] = colours - 1
    pixels = bgrx_colours(colours, 5)[indices.reshape(64, 64)]
    assert encode_bgrx(pixels)[0] == subencoding


# --- Round trips over one stream -----------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    rectangles=st.lists(
        st.tuples(screens(), st.sampled_from([None, 0, 1, 6, 9]), cut_lists),
        min_size=1,
        max_size=3,
    ),
    pf=formats,
)
def test_round_trips_share_one_stream(
    rectangles: list[tuple[np.ndarray, int | None, list[int]]], pf: PixelFormat
) -> None:
    """Several rectangles through one encoder and one decoder, the client changing the
    compression level between them (the stream must carry on)."""
    encoder, decoder = make_encoder(Encoding.ZRLE), make_decoder(Encoding.ZRLE)
    for pixels, level, cuts in rectangles:
        height, width = pixels.shape[:2]
        settings_ = EncodeSettings(compress_level=level)
        (rectangle,) = encoder.encode(pixels, 1, 2, pf, settings_)
        assert rectangle.encoding == Encoding.ZRLE
        framebuffer = palette_framebuffer(width + 2, height + 2, pf)
        decoder.decode(through_the_wire(rectangle, pf, cuts), pf, framebuffer)
        np.testing.assert_array_equal(framebuffer.pixels[2:, 1 : width + 1], quantise(pixels, pf))
        framebuffer.pixels[2:, 1 : width + 1] = 0
        assert not framebuffer.pixels.any()


@settings(max_examples=100, deadline=None)
@given(stream=tile_streams(64, reuse=False))
def test_decoder_reads_every_valid_stream(stream: tuple[int, int, bytes, np.ndarray]) -> None:
    width, height, tiles, values = stream
    np.testing.assert_array_equal(decode(zrle_payload(tiles), width, height), bgr233_pixels(values))


def test_empty_rectangle_leaves_the_stream_alone() -> None:
    encoder, decoder = make_encoder(Encoding.ZRLE), make_decoder(Encoding.ZRLE)
    (empty,) = encoder.encode(np.zeros((0, 2, 4), np.uint8), 0, 0, BGRX, EncodeSettings())
    assert empty.payload == bytes(4)
    framebuffer = Framebuffer.blank(2, 2)
    decoder.decode(empty, BGRX, framebuffer)
    pixels = np.full((2, 2, 4), 9, np.uint8)
    (rectangle,) = encoder.encode(pixels, 0, 0, BGRX, EncodeSettings())
    assert rectangle.payload[4] == 0x78  # the zlib header: the stream starts here
    decoder.decode(rectangle, BGRX, framebuffer)
    np.testing.assert_array_equal(framebuffer.pixels, quantise(pixels, BGRX))


def test_compress_level_is_the_clients() -> None:
    pixels = np.zeros((64, 64, 4), np.uint8)
    pixels[::2, ::3] = 255  # one packed palette tile, its rows all alike
    (stored,) = make_encoder(Encoding.ZRLE).encode(
        pixels, 0, 0, BGRX, EncodeSettings(compress_level=0)
    )
    (deflated,) = make_encoder(Encoding.ZRLE).encode(
        pixels, 0, 0, BGRX, EncodeSettings(compress_level=9)
    )
    assert len(stored.payload) > len(tiles_of(stored.payload)) > 10 * len(deflated.payload)


def test_a_new_level_keeps_the_streams_history() -> None:
    """After a level change, the same rectangle again is a back reference into the window
    the client already holds: a few bytes, and it decodes."""
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (40, 50, 4), dtype=np.uint8)
    encoder, decoder = make_encoder(Encoding.ZRLE), make_decoder(Encoding.ZRLE)
    framebuffer = Framebuffer.blank(50, 40)
    sizes = []
    for level in (6, 1, 9):
        (rectangle,) = encoder.encode(pixels, 0, 0, BGRX, EncodeSettings(compress_level=level))
        decoder.decode(rectangle, BGRX, framebuffer)
        np.testing.assert_array_equal(framebuffer.pixels, quantise(pixels, BGRX))
        sizes.append(len(rectangle.payload))
    assert sizes[0] > 40 * 50 * 3 > 20 * max(sizes[1:])


def test_an_independent_decoder_agrees() -> None:
    """vncdotool's decoder (RGBX little endian, 3-byte CPIXELs). Its 1.4 release reads
    packed palette rows without their padding (fixed upstream in vncdotool PR #439), so every
    tile here is a multiple of 8 pixels wide."""
    rng = np.random.default_rng(11)
    palette = rng.integers(0, 256, (5, 4), dtype=np.uint8)
    pixels = palette[rng.integers(0, 5, (70, 136))]  # packed palette tiles
    pixels[:10] = rng.integers(0, 256, (10, 136, 4))  # raw
    pixels[30:50] = palette[np.repeat(rng.integers(0, 5, (20, 17)), 8, axis=1)]  # RLE
    pixels[60:] = palette[0]  # solid
    pf = FORMATS[1]
    (rectangle,) = make_encoder(Encoding.ZRLE).encode(pixels, 0, 0, pf, EncodeSettings())
    client = RFBClient()
    seen = np.zeros_like(pixels)

    def update(x: int, y: int, width: int, height: int, data: bytes) -> None:
        seen[y : y + height, x : x + width] = np.frombuffer(data, np.uint8).reshape(
            height, width, 4
        )

    client.updateRectangle = update
    client._doConnection = lambda: None
    client._handleDecodeZRLEdata(rectangle.payload[4:], 0, 0, 136, 70)
    wire = np.frombuffer(encode_pixels(pixels, pf), np.uint8).reshape(70, 136, 4)
    np.testing.assert_array_equal(seen[..., :3], wire[..., :3])


# --- Payload framing, zlib bombs, malformed data ------------------------------------------


def test_reader_takes_the_length_then_bounded_chunks() -> None:
    rectangle = Rectangle(0, 0, 1000, 1000, Encoding.ZRLE)
    reader = make_decoder(Encoding.ZRLE).read_payload(rectangle, BGRX)
    assert next(reader) == 4
    sizes = [reader.send(struct.pack(">I", 3 * CHUNK))]
    while True:
        try:
            sizes.append(reader.send(bytes(sizes[-1])))
        except StopIteration as done:
            assert len(done.value) == 4 + 3 * CHUNK
            break
    assert max(sizes) <= CHUNK


def test_reader_refuses_a_length_no_rectangle_of_that_size_needs() -> None:
    reader = make_decoder(Encoding.ZRLE).read_payload(Rectangle(0, 0, 1, 1, Encoding.ZRLE), BGRX)
    next(reader)
    with pytest.raises(RemoteProtocolError):
        reader.send(struct.pack(">I", 0xFFFFFFFF))


def test_zlib_bomb_stops_at_the_rectangles_limit() -> None:
    bomb = zrle_payload(bytes(64 << 20))  # 64 MiB of zeros in ~64 KiB
    assert len(bomb) < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(RemoteProtocolError):
            make_decoder(Encoding.ZRLE).decode(
                Rectangle(0, 0, 8, 8, Encoding.ZRLE, bomb), BGRX, Framebuffer.blank(8, 8)
            )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


SOLID_RED = bytes([1, RED])
FINISHED = zlib.compress(SOLID_RED)  # a whole zlib stream, final block and checksum


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"", id="no length"),
        pytest.param(b"\x00\x00\x01", id="short length"),
        pytest.param(zrle_payload(SOLID_RED)[:-1], id="shorter than its length"),
        pytest.param(zrle_payload(SOLID_RED) + b"\x00", id="longer than its length"),
        pytest.param(struct.pack(">I", 5) + b"nope!", id="not zlib"),
        pytest.param(zrle_payload(SOLID_RED[:1]), id="tiles end early"),
        pytest.param(zrle_payload(SOLID_RED + b"\x01"), id="a byte after the last tile"),
        pytest.param(zrle_payload(bytes([17, *range(17), 0])), id="subencoding 17"),
        pytest.param(zrle_payload(bytes([127, 0])), id="subencoding 127 is TRLE's"),
        pytest.param(zrle_payload(bytes([129, 0])), id="subencoding 129 is TRLE's"),
        pytest.param(zrle_payload(bytes([3, RED, GREEN, BLUE, 0xC0])), id="packed index 3 of 3"),
        pytest.param(zrle_payload(bytes([128, RED, 1])), id="run past the tile"),
        pytest.param(struct.pack(">I", len(FINISHED)) + FINISHED, id="the stream ends"),
    ],
)
def test_malformed_payloads_are_protocol_errors(payload: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        make_decoder(Encoding.ZRLE).decode(
            Rectangle(0, 0, 1, 1, Encoding.ZRLE, payload), BGR233, Framebuffer.blank(1, 1)
        )


def test_rectangle_outside_the_framebuffer() -> None:
    with pytest.raises(RemoteProtocolError):
        make_decoder(Encoding.ZRLE).decode(
            Rectangle(0, 1, 1, 1, Encoding.ZRLE, zrle_payload(SOLID_RED)),
            BGR233,
            Framebuffer.blank(1, 1),
        )


@settings(max_examples=200, deadline=None)
@given(
    tiles=st.binary(max_size=300),
    compressed=st.booleans(),
    size=st.tuples(st.integers(0, 70), st.integers(0, 70)),
    pf=st.sampled_from(FORMATS),
)
def test_arbitrary_bytes_are_protocol_errors_or_pixels(
    tiles: bytes, compressed: bool, size: tuple[int, int], pf: PixelFormat
) -> None:
    width, height = size
    payload = zrle_payload(tiles) if compressed else struct.pack(">I", len(tiles)) + tiles
    rectangle = Rectangle(0, 0, width, height, Encoding.ZRLE)
    assert feed(make_decoder(Encoding.ZRLE).read_payload(rectangle, pf), [payload]) == payload
    with contextlib.suppress(RemoteProtocolError):
        make_decoder(Encoding.ZRLE).decode(
            attrs.evolve(rectangle, payload=payload), pf, palette_framebuffer(width, height, pf)
        )


def test_registered() -> None:
    assert isinstance(make_encoder(Encoding.ZRLE), zrle.ZrleEncoder)
    assert isinstance(make_decoder(Encoding.ZRLE), zrle.ZrleDecoder)
