"""Pixel-format conversion (rfbproto 7.4): hand-computed values, then properties against an
independent per-pixel reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol._pixelformat import (
    BGRX,
    COLOUR_MAP_332,
    PixelFormat,
    colour_map_entries,
    colour_map_to_bgrx,
    decode_pixels,
    encode_pixels,
    pixel_value,
    quantise,
)

from .roundtrip import BGR233, MAP8, RGB565, RGB565_LE
from .strategies import any_format, frames, pixel_formats

RGB332 = PixelFormat(8, 8, False, True, 7, 7, 3, 5, 2, 0)
XBGR_BE = PixelFormat(32, 24, True, True, 255, 255, 255, 0, 8, 16)
RGBX_LE = PixelFormat(32, 24, False, True, 255, 255, 255, 0, 8, 16)
MAP16_BE = PixelFormat(16, 16, True, False, 0, 0, 0, 0, 0, 0)
MAP32_LE = PixelFormat(32, 8, False, False, 0, 0, 0, 0, 0, 0)


def one(b: int, g: int, r: int, x: int = 0) -> np.ndarray:
    return np.array([[[b, g, r, x]]], np.uint8)


# --- golden values, computed by hand --------------------------------------------------


@pytest.mark.parametrize(
    ("pf", "bgrx", "wire"),
    [
        # r = round(255*31/255) = 31, g = round(128*63/255) = 32, b = round(16*31/255) = 2
        (RGB565, (16, 128, 255, 0), bytes([0xFC, 0x02])),
        (RGB565_LE, (16, 128, 255, 0), bytes([0x02, 0xFC])),
        # r = round(50*7/255) = 1, g = round(100*7/255) = 3, b = 3
        (BGR233, (255, 100, 50, 0), bytes([1 | 3 << 3 | 3 << 6])),
        (RGB332, (255, 100, 50, 0), bytes([1 << 5 | 3 << 2 | 3])),
        # big endian, red at bit 0, green 8, blue 16: bytes pad, B, G, R; X rides in the pad
        (XBGR_BE, (1, 2, 3, 4), bytes([4, 1, 2, 3])),
        (RGBX_LE, (1, 2, 3, 4), bytes([3, 2, 1, 4])),
        (BGRX, (1, 2, 3, 4), bytes([1, 2, 3, 4])),
        # colour map: BGR233 index of magenta = 7 | 0 << 3 | 3 << 6 = 199, in the low bits
        (MAP8, (255, 0, 255, 0), bytes([199])),
        (MAP16_BE, (255, 0, 255, 0), bytes([0, 199])),
        (MAP32_LE, (255, 0, 255, 0), bytes([199, 0, 0, 0])),
    ],
)
def test_encode_golden(pf: PixelFormat, bgrx: tuple[int, ...], wire: bytes) -> None:
    assert encode_pixels(one(*bgrx), pf) == wire
    assert pixel_value(bgrx, pf) == wire
    assert pixel_value(bytes(bgrx), pf) == wire


@pytest.mark.parametrize(
    ("pf", "wire", "bgrx"),
    [
        # b = round(2*255/31) = 16, g = round(32*255/63) = 130, r = 255; X always 0
        (RGB565, bytes([0xFC, 0x02]), (16, 130, 255, 0)),
        # r = round(1*255/7) = 36, g = round(3*255/7) = 109, b = 255
        (BGR233, bytes([1 | 3 << 3 | 3 << 6]), (255, 109, 36, 0)),
        (XBGR_BE, bytes([4, 1, 2, 3]), (1, 2, 3, 0)),
        (BGRX, bytes([1, 2, 3, 4]), (1, 2, 3, 0)),
        (MAP16_BE, bytes([0, 199]), (255, 0, 255, 0)),
    ],
)
def test_decode_golden(pf: PixelFormat, wire: bytes, bgrx: tuple[int, ...]) -> None:
    assert decode_pixels(wire, 1, 1, pf).tolist() == [[list(bgrx)]]
    assert decode_pixels(memoryview(wire), 1, 1, pf).tolist() == [[list(bgrx)]]


def test_palette_is_bgr233_in_16_bits() -> None:
    assert colour_map_entries() == COLOUR_MAP_332
    assert len(COLOUR_MAP_332) == 256
    assert COLOUR_MAP_332[0] == (0, 0, 0)
    assert COLOUR_MAP_332[1] == (9362, 0, 0)  # round(65535 / 7)
    assert COLOUR_MAP_332[7] == (65535, 0, 0)
    assert COLOUR_MAP_332[8] == (0, 9362, 0)
    assert COLOUR_MAP_332[64] == (0, 0, 21845)  # round(65535 / 3)
    assert COLOUR_MAP_332[255] == (65535, 65535, 65535)


def test_colour_map_to_bgrx_rounds_16_bit_colours() -> None:
    got = colour_map_to_bgrx([(0xFFFF, 0x8080, 0), (0x0080, 0x007F, 0x0101)])
    assert got.tolist() == [[0, 128, 255, 0], [1, 0, 0, 0]]


def test_colour_map_lookup_uses_given_map_and_black_past_its_end() -> None:
    colour_map = np.array([[1, 2, 3, 99], [4, 5, 6, 99]], np.uint8)
    got = decode_pixels(bytes([0, 0, 0, 1, 0xFF, 0xFF]), 3, 1, MAP16_BE, colour_map)
    assert got.tolist() == [[[1, 2, 3, 0], [4, 5, 6, 0], [0, 0, 0, 0]]]


def test_quantise_golden() -> None:
    assert quantise(one(16, 128, 255, 77), RGB565).tolist() == [[[16, 130, 255, 0]]]
    assert quantise(one(1, 2, 3, 4), BGRX).tolist() == [[[1, 2, 3, 0]]]


def test_decode_rejects_wrong_length() -> None:
    with pytest.raises(ValueError, match="bytes are not"):
        decode_pixels(b"\0" * 7, 2, 2, RGB565_LE)


def test_encode_rejects_non_bgrx_arrays() -> None:
    with pytest.raises(ValueError):
        encode_pixels(np.zeros((2, 2, 3), np.uint8), BGRX)
    with pytest.raises(ValueError):
        encode_pixels(np.zeros((2, 2, 4), np.uint16), BGRX)


def test_overlapping_channels_are_rejected() -> None:
    with pytest.raises(ValueError, match="overlap"):
        PixelFormat(16, 16, False, True, 31, 63, 31, 11, 4, 0)


# --- properties ---------------------------------------------------------------------


def reference_values(pixels: np.ndarray, pf: PixelFormat) -> list[int]:
    """Per-pixel Python arithmetic, written from 7.4 independently of the module."""
    if not pf.true_colour:
        pf = BGR233  # the fixed palette's index is the BGR233 value
    values = []
    for b, g, r, _ in pixels.reshape(-1, 4).tolist():
        value = 0
        for c, maximum, shift in (
            (r, pf.red_max, pf.red_shift),
            (g, pf.green_max, pf.green_shift),
            (b, pf.blue_max, pf.blue_shift),
        ):
            value |= round(c * maximum / 255) << shift
        values.append(value)
    return values


@settings(max_examples=200, deadline=None)
@given(frames, any_format)
def test_encode_matches_reference(pixels: np.ndarray, pf: PixelFormat) -> None:
    wire = encode_pixels(pixels, pf)
    size = pf.bytes_per_pixel
    assert len(wire) == pixels.shape[0] * pixels.shape[1] * size
    order = "big" if pf.big_endian else "little"
    got = [int.from_bytes(wire[i : i + size], order) for i in range(0, len(wire), size)]
    if pf.true_colour:
        mask = (
            pf.red_max << pf.red_shift
            | pf.green_max << pf.green_shift
            | pf.blue_max << pf.blue_shift
        )
        got = [value & mask for value in got]
    assert got == reference_values(pixels, pf)


@settings(max_examples=200, deadline=None)
@given(frames, any_format)
def test_round_trip_is_quantisation(pixels: np.ndarray, pf: PixelFormat) -> None:
    height, width = pixels.shape[:2]
    decoded = decode_pixels(encode_pixels(pixels, pf), width, height, pf)
    assert decoded.shape == pixels.shape
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, quantise(pixels, pf))


@settings(max_examples=100, deadline=None)
@given(frames, any_format, st.data())
def test_a_window_of_a_frame_encodes_like_a_copy(
    pixels: np.ndarray, pf: PixelFormat, data: st.DataObject
) -> None:
    """Regions are views into the frame (strided rows): no copy is needed to encode them."""
    height, width = pixels.shape[:2]
    top = data.draw(st.integers(0, height))
    left = data.draw(st.integers(0, width))
    window = pixels[top:, left:]
    assert encode_pixels(window, pf) == encode_pixels(window.copy(), pf)
    columns = pixels[:, ::2]  # not 4-byte packed any more: still right
    assert encode_pixels(columns, pf) == encode_pixels(columns.copy(), pf)


@settings(max_examples=100, deadline=None)
@given(pixel_formats(), st.tuples(*[st.integers(0, 255)] * 4))
def test_quantise_is_idempotent_and_pixel_value_agrees(
    pf: PixelFormat, bgrx: tuple[int, int, int, int]
) -> None:
    pixel = one(*bgrx)
    once = quantise(pixel, pf)
    np.testing.assert_array_equal(quantise(once, pf), once)
    assert pixel_value(bgrx, pf) == encode_pixels(pixel, pf)
