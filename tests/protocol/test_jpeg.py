"""JPEG encoding (21): one JFIF image per rectangle, found on the wire by its own markers; a
reader that stops exactly at EOI; tables carried over from earlier images (RealVNC)."""

from __future__ import annotations

import numpy as np
import pytest
import simplejpeg
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol._errors import RemoteProtocolError
from protocol._events import Rectangle
from protocol._framebuffer import Framebuffer
from protocol._pixelformat import BGRX, PixelFormat, quantise
from protocol.encodings import EncodeSettings, Encoding, jpeg, make_decoder, make_encoder
from protocol.encodings._tight_wire import run_over

from .roundtrip import (
    FORMATS,
    NEED,
    RGB565,
    cut_lists,
    decode_arbitrary,
    feed,
    psnr,
    read_stream,
    round_trip,
    split,
)
from .strategies import smooth

JPEG = Encoding.JPEG


def without_tables(image: bytes) -> bytes:
    segments = run_over(jpeg._segments(1 << 24), image)
    return b"".join(s for s in segments if s[1] not in (0xDB, 0xC4))


def decode(rectangles: list[Rectangle], pf: PixelFormat, size: tuple[int, int]) -> np.ndarray:
    framebuffer = Framebuffer.blank(*size)
    decoder = make_decoder(JPEG)
    for rectangle in rectangles:
        decoder.decode(rectangle, pf, framebuffer)
    return framebuffer.pixels


@pytest.mark.parametrize(
    ("options", "bound"),
    [
        (EncodeSettings(), 45),  # level 8 when the client names no quality
        (EncodeSettings(quality=0), 30),
        (EncodeSettings(quality=9), 48),
        (EncodeSettings(fine_quality=60, subsampling=1), 35),
    ],
)
@pytest.mark.parametrize("pf", [BGRX, FORMATS[1], RGB565])
def test_round_trip(options: EncodeSettings, bound: float, pf: PixelFormat) -> None:
    pixels = smooth()
    seen, rectangles = round_trip(JPEG, pixels, pf, [1, 2, 700], options)
    (rectangle,) = rectangles
    assert rectangle.payload.startswith(b"\xff\xd8") and rectangle.payload.endswith(b"\xff\xd9")
    assert simplejpeg.decode_jpeg_header(rectangle.payload)[:2] == (96, 160)
    assert psnr(seen, quantise(pixels, pf)) >= (min(bound, 36) if pf is RGB565 else bound)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(1, 40),
    st.integers(0, 2**32 - 1),
    st.sampled_from(FORMATS),
    cut_lists,
)
def test_any_size_and_format_decodes(
    height: int, width: int, seed: int, pf: PixelFormat, cuts: list[int]
) -> None:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 4), np.uint8)
    seen, _ = round_trip(JPEG, pixels, pf, cuts, EncodeSettings(quality=9))
    assert seen.shape == pixels.shape and not seen[..., 3].any()


def test_reader_stops_at_eoi() -> None:
    (rectangle,) = make_encoder(JPEG).encode(smooth(), 0, 0, BGRX, EncodeSettings())
    following = b"\xff\xd9\x00\x00\x00\x01" + bytes(50)  # whatever the next message is
    reader = make_decoder(JPEG).read_payload(Rectangle(0, 0, 160, 96, JPEG), BGRX)
    assert read_stream(reader, rectangle.payload + following) == (
        rectangle.payload,
        len(rectangle.payload),
    )


def test_scan_data_markers() -> None:
    """Stuffed 0xFF00, restarts, fill bytes and a marker between scans do not end a scan;
    EOI does, even straight after fill bytes."""
    stream = (
        b"\xff\xd8"
        + b"\xff\xe0\x00\x04ab"  # APP0
        + b"\xff\xda\x00\x03x"  # SOS with a 1-byte header
        + b"\x12\xff\x00\x34\xff\xd3\x56"  # data, a stuffed 0xFF, restart 3
        + b"\xff\xc4\x00\x02"  # a marker between scans (DHT)
        + b"\xff\xda\x00\x02"  # second scan
        + b"\xff\xff\xff\xd9"  # fill bytes, EOI
    )
    for extra in (b"", b"\xff\xd9", b"\x00"):
        segments, taken = read_stream(jpeg._segments(1 << 20), stream + extra)
        assert taken == len(stream)
        assert segments == [
            b"\xff\xd8",
            b"\xff\xe0\x00\x04ab",
            b"\xff\xda\x00\x03x\x12\xff\x00\x34\xff\xd3\x56",
            b"\xff\xc4\x00\x02",
            b"\xff\xda\x00\x02\xff\xff",
            b"\xff\xd9",
        ]


def test_missing_tables_come_from_the_previous_image() -> None:
    rng = np.random.default_rng(3)
    first, second = (rng.integers(0, 256, (16, 24, 4), np.uint8) for _ in range(2))
    options = EncodeSettings(quality=7)
    encoder = make_encoder(JPEG)
    (one,) = encoder.encode(first, 0, 0, BGRX, options)
    (two,) = encoder.encode(second, 0, 0, BGRX, options)
    short = Rectangle(0, 0, 24, 16, JPEG, without_tables(two.payload))
    assert len(short.payload) < len(two.payload)
    assert (decode([one, short], BGRX, (24, 16)) == decode([two], BGRX, (24, 16))).all()
    with pytest.raises(RemoteProtocolError):  # no earlier tables to borrow
        decode([short], BGRX, (24, 16))


def test_tables_are_replaced_by_newer_ones() -> None:
    pixels = np.random.default_rng(4).integers(0, 256, (8, 8, 4), np.uint8)
    images = [
        make_encoder(JPEG).encode(pixels, 0, 0, BGRX, EncodeSettings(quality=q))[0]
        for q in (0, 9, 9)
    ]
    short = Rectangle(0, 0, 8, 8, JPEG, without_tables(images[2].payload))
    assert (decode([*images[:2], short], BGRX, (8, 8)) == decode(images[2:], BGRX, (8, 8))).all()
    assert not (decode([images[0], short], BGRX, (8, 8)) == decode(images[2:], BGRX, (8, 8))).all()


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\xd8",  # not a marker
        b"\xff\xd8\xff\xe0\x00\x01",  # segment length below 2
        b"\xff\xd8\xff\xd9",  # SOI, EOI: read, but no image
        b"\xff\xd9",
    ],
)
def test_bad_images(data: bytes) -> None:
    rectangle = Rectangle(0, 0, 2, 2, JPEG)
    with pytest.raises(RemoteProtocolError):
        payload = feed(make_decoder(JPEG).read_payload(rectangle, BGRX), [data])
        make_decoder(JPEG).decode(
            Rectangle(0, 0, 2, 2, JPEG, payload), BGRX, Framebuffer.blank(2, 2)
        )


def test_wrong_size_and_outside_are_refused() -> None:
    (rectangle,) = make_encoder(JPEG).encode(smooth(8, 8), 0, 0, BGRX, EncodeSettings())
    with pytest.raises(RemoteProtocolError):
        make_decoder(JPEG).decode(
            Rectangle(0, 0, 8, 7, JPEG, rectangle.payload), BGRX, Framebuffer.blank(8, 8)
        )
    with pytest.raises(RemoteProtocolError):
        make_decoder(JPEG).decode(
            Rectangle(1, 0, 8, 8, JPEG, rectangle.payload), BGRX, Framebuffer.blank(8, 8)
        )


def test_reader_is_bounded_by_the_rectangle() -> None:
    segment = b"\xff\xe1\xff\xff" + bytes(0xFFFD)
    reader = make_decoder(JPEG).read_payload(Rectangle(0, 0, 1, 1, JPEG), BGRX)
    with pytest.raises(RemoteProtocolError, match="larger"):
        feed(reader, [b"\xff\xd8" + segment * 17])


def test_truncated_waits() -> None:
    (rectangle,) = make_encoder(JPEG).encode(smooth(20, 30), 0, 0, BGRX, EncodeSettings())
    header = Rectangle(0, 0, 30, 20, JPEG)
    for cut in (1, 2, 3, 100, len(rectangle.payload) - 1):
        reader = make_decoder(JPEG).read_payload(header, BGRX)
        assert feed(reader, split(rectangle.payload[:cut], [5])) is NEED


@settings(max_examples=600, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=60),
        st.builds(lambda rest: b"\xff\xd8" + rest, st.binary(max_size=60)),
        st.builds(
            lambda cut, noise: JPEG_8X8[:cut] + noise,
            st.integers(0, 700),
            st.binary(max_size=8),
        ),
    ),
    st.sampled_from(FORMATS),
)
def test_arbitrary_bytes_only_raise_remote_protocol_errors(data: bytes, pf: PixelFormat) -> None:
    decode_arbitrary(Rectangle(0, 0, 8, 8, JPEG), data, pf, Framebuffer.blank(8, 8))


JPEG_8X8 = simplejpeg.encode_jpeg(np.zeros((8, 8, 4), np.uint8), 80, "BGRX")


def test_sides_beyond_libjpeg_are_split() -> None:
    pixels = np.zeros((1, jpeg.MAX_SIDE + 3, 4), np.uint8)
    rectangles = make_encoder(JPEG).encode(pixels, 0, 5, BGRX, EncodeSettings())
    assert [(r.x, r.y, r.width, r.height) for r in rectangles] == [
        (0, 5, jpeg.MAX_SIDE, 1),
        (jpeg.MAX_SIDE, 5, 3, 1),
    ]
    tall = make_encoder(JPEG).encode(pixels.transpose(1, 0, 2), 2, 0, BGRX, EncodeSettings())
    assert [(r.x, r.y, r.width, r.height) for r in tall] == [
        (2, 0, 1, jpeg.MAX_SIDE),
        (2, jpeg.MAX_SIDE, 1, 3),
    ]


def test_registered_and_empty() -> None:
    assert isinstance(make_encoder(JPEG), jpeg.JPEGEncoder)
    assert isinstance(make_decoder(JPEG), jpeg.JPEGDecoder)
    assert (
        make_encoder(JPEG).encode(np.zeros((3, 0, 4), np.uint8), 0, 0, BGRX, EncodeSettings()) == []
    )
