"""TightPNG (-260, as noVNC decodes it): only the control bytes 0x8_, 0x9_ and 0xA_ (fill,
JPEG, PNG), PNG images that are lossless for every pixel format, and a decoder that refuses
BasicCompression and anything that is not a PNG of the rectangle's size."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from protocol._errors import RemoteProtocolError
from protocol._events import Rectangle
from protocol._framebuffer import Framebuffer
from protocol._pixelformat import BGRX, PixelFormat, quantise
from protocol.encodings import EncodeSettings, Encoding, make_decoder, make_encoder, tightpng
from protocol.encodings._tight_wire import compact_length

from .roundtrip import (
    FORMATS,
    RGB565,
    cut_lists,
    decode_arbitrary,
    decode_payload,
    feed,
    psnr,
    round_trip,
    tight_image,
)
from .strategies import images, led_by, pixel_formats, smooth

PNG = Encoding.TIGHT_PNG


def png_of(payload: bytes) -> bytes:
    assert payload[0] == 0xA0
    image = tight_image(payload)
    assert image.startswith(b"\x89PNG\r\n\x1a\n")
    return image


def png_payload(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return b"\xa0" + compact_length(len(out.getvalue())) + out.getvalue()


def test_fill_golden() -> None:
    pixels = np.zeros((3, 5, 4), np.uint8)
    pixels[:] = (0x33, 0x22, 0x11, 0xEE)
    (rectangle,) = make_encoder(PNG).encode(pixels, 1, 2, BGRX, EncodeSettings())
    assert rectangle == Rectangle(1, 2, 5, 3, PNG, b"\x80\x11\x22\x33")
    (rectangle,) = make_encoder(PNG).encode(pixels, 1, 2, RGB565, EncodeSettings())
    assert rectangle.payload == b"\x80" + (2 << 11 | 8 << 5 | 6).to_bytes(2, "big")


def test_palette_blocks_are_palette_pngs() -> None:
    pixels = np.zeros((4, 9, 4), np.uint8)
    pixels[::2, ::3] = (255, 255, 255, 0)
    (rectangle,) = make_encoder(PNG).encode(pixels, 0, 0, BGRX, EncodeSettings())
    image = Image.open(io.BytesIO(png_of(rectangle.payload)))
    assert image.mode == "P" and image.size == (9, 4)
    assert png_of(rectangle.payload)[24:26] == b"\x01\x03"  # IHDR: 1 bit, colour type 3
    assert (decode_payload(PNG, rectangle.payload, 9, 4) == quantise(pixels, BGRX)).all()


def test_colourful_blocks_are_rgb_pngs() -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (30, 40, 4), np.uint8)
    (rectangle,) = make_encoder(PNG).encode(pixels, 0, 0, BGRX, EncodeSettings())
    assert Image.open(io.BytesIO(png_of(rectangle.payload))).mode == "RGB"
    assert (decode_payload(PNG, rectangle.payload, 40, 30) == quantise(pixels, BGRX)).all()


@settings(max_examples=300, deadline=None)
@given(images(), st.sampled_from(FORMATS), st.integers(0, 9), cut_lists)
def test_lossless_round_trip(
    pixels: np.ndarray, pf: PixelFormat, level: int, cuts: list[int]
) -> None:
    seen, rectangles = round_trip(PNG, pixels, pf, cuts, EncodeSettings(compress_level=level))
    assert {r.payload[0] for r in rectangles} <= {0x80, 0xA0}
    assert (seen == quantise(pixels, pf)).all()


@settings(max_examples=150, deadline=None)
@given(images(), pixel_formats())
def test_lossless_round_trip_any_format(pixels: np.ndarray, pf: PixelFormat) -> None:
    seen, _ = round_trip(PNG, pixels, pf)
    assert (seen == quantise(pixels, pf)).all()


@pytest.mark.parametrize("level", [0, 5, 8, 9])
def test_jpeg(level: int) -> None:
    pixels = smooth()
    seen, rectangles = round_trip(PNG, pixels, BGRX, options=EncodeSettings(quality=level))
    assert {r.payload[0] for r in rectangles} == {0x90}
    assert psnr(seen, pixels) >= (45 if level >= 8 else 30)


def test_decoder_applies_other_png_colour_types() -> None:
    rgb = np.random.default_rng(2).integers(0, 256, (3, 4, 3), np.uint8)
    expected = np.zeros((3, 4, 4), np.uint8)
    expected[..., :3] = rgb[..., ::-1]
    rgba = np.concatenate([rgb, np.full((3, 4, 1), 9, np.uint8)], axis=-1)
    assert (decode_payload(PNG, png_payload(Image.fromarray(rgba, "RGBA")), 4, 3) == expected).all()
    grey = decode_payload(PNG, png_payload(Image.fromarray(rgb[..., 0])), 4, 3)
    assert (grey[..., :3] == rgb[..., :1]).all()
    assert (
        decode_payload(PNG, png_payload(Image.fromarray(rgb)), 4, 3, RGB565)
        == quantise(expected, RGB565)
    ).all()


@pytest.mark.parametrize(
    "payload",
    [
        b"\x00\x00\x00\x00",  # BasicCompression does not exist in TightPNG
        b"\x40\x01",
        b"\x70\x02",
        b"\xb0",
        b"\xe0",
    ],
)
def test_reader_refuses_basic_compression(payload: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        feed(make_decoder(PNG).read_payload(Rectangle(0, 0, 4, 4, PNG), BGRX), [payload])


@pytest.mark.parametrize(
    "payload",
    [
        png_payload(Image.new("RGB", (5, 4))),  # not the rectangle's size
        b"\xa0\x03abc",
        b"\xa0" + compact_length(12) + b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0d",  # truncated
    ],
)
def test_decoder_refuses_bad_images(payload: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_payload(PNG, payload, 4, 4)


def test_reset_bits_are_accepted() -> None:
    assert (decode_payload(PNG, b"\x8f\x01\x02\x03", 2, 2)[..., 2] == 1).all()


@settings(max_examples=600, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=60),
        led_by(st.sampled_from([0x80, 0x90, 0xA0, 0xA5, 0x00])),
        st.builds(
            lambda image, cut: image[:cut],
            st.sampled_from(
                [png_payload(Image.new("P", (3, 3))), png_payload(Image.new("RGB", (3, 3)))]
            ),
            st.integers(0, 200),
        ),
    ),
    st.integers(0, 6),
    st.integers(0, 6),
    st.sampled_from(FORMATS),
)
def test_arbitrary_bytes_only_raise_remote_protocol_errors(
    data: bytes, width: int, height: int, pf: PixelFormat
) -> None:
    header = Rectangle(0, 0, width, height, PNG)
    decode_arbitrary(header, data, pf, Framebuffer.blank(6, 6))


def test_registered() -> None:
    assert isinstance(make_encoder(PNG), tightpng.TightPNGEncoder)
    assert isinstance(make_decoder(PNG), tightpng.TightPNGDecoder)
