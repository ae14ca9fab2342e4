"""Zlib (rfbproto 7.7.5): the wire layout, one stream per connection across rectangles and
compression level changes, and hostile payloads (bombs, truncation, garbage)."""

from __future__ import annotations

import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol._errors import RemoteProtocolError
from protocol._events import Rectangle
from protocol._framebuffer import Framebuffer
from protocol._pixelformat import BGRX, PixelFormat, encode_pixels, quantise
from protocol.encodings import EncodeSettings, Encoding
from protocol.encodings import zlib as zlib_encoding
from protocol.encodings._base import CHUNK

from .roundtrip import (
    FORMATS,
    cut_lists,
    decode_arbitrary,
    palette_framebuffer,
    round_trip,
    through_the_wire,
)
from .strategies import picture, pictures, pixel_formats

RED, WHITE = (0, 0, 255, 0), (255, 255, 255, 0)  # BGRX
SYNC_FLUSH_MARKER = b"\x00\x00\xff\xff"  # an empty stored block (RFC 1951 3.2.4)


def encode(
    encoder: zlib_encoding.ZlibEncoder, pixels: np.ndarray, level: int | None = None
) -> Rectangle:
    (rectangle,) = encoder.encode(pixels, 0, 0, BGRX, EncodeSettings(compress_level=level))
    return rectangle


def test_golden_layout() -> None:
    pixels = np.array([[RED, WHITE]], np.uint8)
    rectangle = encode(zlib_encoding.ZlibEncoder(), pixels)
    assert (rectangle.width, rectangle.height, rectangle.encoding) == (2, 1, 6)
    (length,) = struct.unpack_from(">I", rectangle.payload)
    data = rectangle.payload[4:]
    assert length == len(data)
    # A zlib stream (RFC 1950): deflate, 32 KiB window, FLEVEL 1 (levels 2-5); ending on a
    # sync flush, so the rectangle inflates completely on arrival.
    assert data[:2] == b"\x78\x5e"
    assert data.endswith(SYNC_FLUSH_MARKER)
    raw = bytes.fromhex("0000ff00ffffff00")  # Raw: B, G, R, X per pixel
    assert zlib.decompressobj().decompress(data) == raw
    reference = zlib.compressobj(2)
    assert data == reference.compress(raw) + reference.flush(zlib.Z_SYNC_FLUSH)


@pytest.mark.parametrize(
    ("level", "header"), [(0, b"\x78\x01"), (6, b"\x78\x9c"), (9, b"\x78\xda")]
)
def test_the_clients_level_sets_the_streams(level: int, header: bytes) -> None:
    pixels = picture("text", 64, 64, 1)
    data = encode(zlib_encoding.ZlibEncoder(), pixels, level).payload[4:]
    assert data[:2] == header
    if level == 0:  # stored: the pixels are there as they are
        assert encode_pixels(pixels, BGRX) in data


def test_one_stream_per_connection() -> None:
    encoder = zlib_encoding.ZlibEncoder()
    pixels = picture("noise", 60, 40, 2)
    first, second = encode(encoder, pixels), encode(encoder, pixels)
    assert len(second.payload) < len(first.payload) // 4  # the history is shared
    decoder, framebuffer = zlib_encoding.ZlibDecoder(), Framebuffer.blank(60, 40)
    decoder.decode(first, BGRX, framebuffer)
    decoder.decode(second, BGRX, framebuffer)
    np.testing.assert_array_equal(framebuffer.pixels, quantise(pixels, BGRX))
    with pytest.raises(RemoteProtocolError):  # a second connection has no such history
        zlib_encoding.ZlibDecoder().decode(second, BGRX, framebuffer)
    other = zlib_encoding.ZlibEncoder()
    assert encode(other, pixels).payload == first.payload


def test_a_level_change_continues_the_stream_with_its_history() -> None:
    encoder = zlib_encoding.ZlibEncoder()
    pixels = picture("noise", 80, 80, 3)  # 25 600 bytes: inside the 32 KiB window
    first = encode(encoder, pixels, 1)
    again = encode(encoder, pixels, 6)
    assert len(again.payload) < len(first.payload) // 20  # found in the primed history
    inflater = zlib.decompressobj()  # any zlib client: one unbroken stream
    for rectangle in (first, again):
        assert inflater.decompress(rectangle.payload[4:]) == encode_pixels(pixels, BGRX)


@settings(max_examples=100, deadline=None)
@given(
    steps=st.lists(
        st.tuples(pictures(), st.one_of(st.none(), st.integers(0, 9))), min_size=1, max_size=5
    ),
    pf=st.one_of(st.sampled_from(FORMATS), pixel_formats()),
    cuts=cut_lists,
)
def test_rectangles_in_order_with_any_levels(
    steps: list[tuple[np.ndarray, int | None]], pf: PixelFormat, cuts: list[int]
) -> None:
    encoder, decoder = zlib_encoding.ZlibEncoder(), zlib_encoding.ZlibDecoder()
    for pixels, level in steps:
        height, width = pixels.shape[:2]
        (rectangle,) = encoder.encode(pixels, 1, 0, pf, EncodeSettings(compress_level=level))
        framebuffer = palette_framebuffer(width + 1, height, pf)
        decoder.decode(through_the_wire(rectangle, pf, cuts), pf, framebuffer)
        np.testing.assert_array_equal(framebuffer.pixels[:, 1:], quantise(pixels, pf))


@settings(max_examples=100, deadline=None)
@given(pixels=pictures(), pf=st.sampled_from(FORMATS), cuts=cut_lists)
def test_round_trip_through_the_registry(
    pixels: np.ndarray, pf: PixelFormat, cuts: list[int]
) -> None:
    decoded, _ = round_trip(Encoding.ZLIB, pixels, pf, cuts)
    np.testing.assert_array_equal(decoded, quantise(pixels, pf))


# --- hostile payloads ---------------------------------------------------------------------


def zlib_rectangle(data: bytes, width: int = 4, height: int = 4) -> Rectangle:
    return Rectangle(0, 0, width, height, Encoding.ZLIB, struct.pack(">I", len(data)) + data)


def test_a_bomb_inflates_no_further_than_the_pixels() -> None:
    deflater = zlib.compressobj(9)
    megabyte = bytes(1 << 20)
    bomb = b"".join(deflater.compress(megabyte) for _ in range(100)) + deflater.flush()
    assert len(bomb) < 200_000  # 100 MiB of zeros
    tracemalloc.start()
    try:
        with pytest.raises(RemoteProtocolError, match="more than"):
            zlib_encoding.ZlibDecoder().decode(zlib_rectangle(bomb), BGRX, Framebuffer.blank(4, 4))
        assert tracemalloc.get_traced_memory()[1] < 2 * len(bomb) + (1 << 20)
    finally:
        tracemalloc.stop()


def test_the_reader_refuses_a_length_beyond_any_deflater_before_reading_it() -> None:
    header = Rectangle(0, 0, 4, 4, Encoding.ZLIB)
    limit = zlib_encoding.compressed_limit(64)
    reader = zlib_encoding.ZlibDecoder().read_payload(header, BGRX)
    assert next(reader) == 4
    with pytest.raises(RemoteProtocolError):
        reader.send(struct.pack(">I", limit + 1))
    reader = zlib_encoding.ZlibDecoder().read_payload(header, BGRX)
    next(reader)
    assert reader.send(struct.pack(">I", limit)) == limit


def test_the_reader_asks_in_bounded_chunks() -> None:
    header = Rectangle(0, 0, 0xFFFF, 0xFFFF, Encoding.ZLIB)
    reader = zlib_encoding.ZlibDecoder().read_payload(header, BGRX)
    next(reader)
    assert reader.send(struct.pack(">I", 0xFFFFFFFF)) == CHUNK


def finished(data: bytes) -> bytes:
    return zlib.compress(data)  # a whole stream, ending with its final block and checksum


@pytest.mark.parametrize(
    "payload",
    [
        zlib_rectangle(finished(bytes(63))).payload,  # one byte short of 4x4 pixels
        zlib_rectangle(finished(bytes(65))).payload,  # one byte long
        zlib_rectangle(finished(bytes(64)) + b"junk").payload,  # after the stream's end
        zlib_rectangle(b"\x78\x9c\xff\xff\xff").payload,  # not deflate
        struct.pack(">I", 10) + finished(bytes(64)),  # length field disagrees
        b"\x00\x00",  # no length
    ],
)
def test_decode_rejects(payload: bytes) -> None:
    framebuffer = Framebuffer.blank(4, 4)
    with pytest.raises(RemoteProtocolError):
        zlib_encoding.ZlibDecoder().decode(
            Rectangle(0, 0, 4, 4, Encoding.ZLIB, payload), BGRX, framebuffer
        )
    assert not framebuffer.pixels.any()


def test_decode_outside_the_framebuffer_is_an_error() -> None:
    with pytest.raises(RemoteProtocolError):
        zlib_encoding.ZlibDecoder().decode(
            zlib_rectangle(finished(bytes(64))), BGRX, Framebuffer.blank(3, 4)
        )


@settings(max_examples=200, deadline=None)
@given(
    width=st.integers(0, 9),
    height=st.integers(0, 9),
    data=st.binary(max_size=200),
    valid_start=st.booleans(),
    pf=st.sampled_from(FORMATS),
)
def test_arbitrary_bytes_are_a_protocol_error_or_pixels(
    width: int, height: int, data: bytes, valid_start: bool, pf: PixelFormat
) -> None:
    if valid_start:  # get past the zlib header to garble the deflate data itself
        data = struct.pack(">I", len(data) + 2) + b"\x78\x9c" + data
    header = Rectangle(0, 0, width, height, Encoding.ZLIB)
    decode_arbitrary(header, data, pf, Framebuffer.blank(9, 9))
