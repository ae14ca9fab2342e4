"""Tight (rfbproto 7.7.6): golden bytes per method and filter computed by hand from the spec,
the zlib streams and their reset bits, the encoder's cutting of regions, round trips through
the wire for every pixel format, JPEG by PSNR, and a decoder that only ever raises
RemoteProtocolError."""

from __future__ import annotations

import tracemalloc
import zlib

import numpy as np
import pytest
import simplejpeg
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol._errors import RemoteProtocolError
from protocol._events import Rectangle
from protocol._framebuffer import Framebuffer
from protocol._pixelformat import BGRX, PixelFormat, quantise
from protocol.encodings import (
    EncodeSettings,
    Encoding,
    _tight_encode,
    make_decoder,
    make_encoder,
    tight,
)
from protocol.encodings._tight_gradient import gradient_unfilter
from protocol.encodings._tight_jpeg import jpeg_parameters, requested_jpeg
from protocol.encodings._tight_palette import _buckets, palette
from protocol.encodings._tight_plan import Kind, plan
from protocol.encodings._tight_solid import solid_areas, solid_blocks
from protocol.encodings._tight_wire import compact_length, read_compact_length

from .roundtrip import (
    FORMATS,
    MAP8,
    NEED,
    RGB565,
    RGB565_LE,
    cut_lists,
    decode_arbitrary,
    decode_payload,
    feed,
    psnr,
    round_trip,
    split,
    through_the_wire,
    tight_image,
)
from .strategies import images, led_by, pixel_formats, smooth

TIGHT = Encoding.TIGHT
#: 32 bpp with 8-bit channels but depth 32: TPIXELs are whole 4-byte PIXELs (7.7.6).
DEPTH32 = PixelFormat(32, 32, False, True, 255, 255, 255, 16, 8, 0)
LEVEL0 = EncodeSettings(compress_level=0)


def gradient_filter(channels: np.ndarray) -> np.ndarray:
    """The gradient filter (7.7.6) by its definition, for the decoder's tests (our encoder
    does not send it): (H, W, 3) intensities (MAX = 255) -> the differences."""
    values = channels.astype(np.int16)
    prediction = np.zeros_like(values)
    prediction[:, 1:] += values[:, :-1]
    prediction[1:, :] += values[:-1, :]
    prediction[1:, 1:] -= values[:-1, :-1]
    np.clip(prediction, 0, 255, out=prediction)
    return (values - prediction).astype(np.uint8)


def bgrx(*rgb: tuple[int, int, int]) -> np.ndarray:
    """Canonical pixels from (red, green, blue) triples, as one row."""
    return np.array([[(b, g, r, 0) for r, g, b in rgb]], np.uint8)


# --- compact lengths (7.7.6) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (10000, b"\x90\x4e"),  # the spec's own example
        (16383, b"\xff\x7f"),
        (16384, b"\x80\x80\x01"),
        (4194303, b"\xff\xff\xff"),
    ],
)
def test_compact_length(value: int, wire: bytes) -> None:
    assert compact_length(value) == wire
    assert feed(read_compact_length(), [wire]) == value  # consuming exactly the wire bytes


def test_compact_length_refuses_what_does_not_fit() -> None:
    with pytest.raises(ValueError):
        compact_length(1 << 22)


# --- golden bytes, by hand from 7.7.6 ----------------------------------------------------


def test_fill_golden() -> None:
    pixels = np.broadcast_to(bgrx((0x11, 0x22, 0x33)), (3, 4, 4))
    (rectangle,) = make_encoder(TIGHT).encode(pixels, 5, 6, BGRX, EncodeSettings())
    assert rectangle == Rectangle(5, 6, 4, 3, TIGHT, b"\x80\x11\x22\x33")  # TPIXEL R, G, B
    # Other formats: the TPIXEL is the PIXEL (RGB565 big endian: pure red is 0xF800).
    red = np.broadcast_to(bgrx((255, 0, 0)), (2, 2, 4))
    (rectangle,) = make_encoder(TIGHT).encode(red, 0, 0, RGB565, EncodeSettings())
    assert rectangle.payload == b"\x80\xf8\x00"
    (rectangle,) = make_encoder(TIGHT).encode(red, 0, 0, DEPTH32, EncodeSettings())
    assert rectangle.payload == b"\x80\x00\x00\xff\x00"
    assert (decode_payload(TIGHT, b"\x80\x11\x22\x33", 4, 3)[..., :3] == [0x33, 0x22, 0x11]).all()


def test_mono_palette_golden() -> None:
    white, black = (255, 255, 255), (0, 0, 0)
    pixels = np.concatenate([bgrx(white, *[black] * 8, white), bgrx(*[black] * 10)])
    (rectangle,) = make_encoder(TIGHT).encode(pixels, 0, 0, BGRX, EncodeSettings())
    assert rectangle.payload == bytes.fromhex(
        "50"  # stream 1, explicit filter
        "01"  # PaletteFilter
        "01"  # 2 colours
        "000000ffffff"  # palette TPIXELs
        "8040"
        "0000"  # 1 bit per pixel, MSB leftmost, rows padded: 4 bytes < 12, as is
    )
    assert (decode_payload(TIGHT, rectangle.payload, 10, 2) == quantise(pixels, BGRX)).all()


def test_indexed_palette_golden() -> None:
    colours = bgrx((1, 2, 3), (4, 5, 6), (7, 8, 9))[0]
    indices = np.arange(48).reshape(6, 8) % 3
    pixels = colours[indices]
    (rectangle,) = make_encoder(TIGHT).encode(pixels, 0, 0, BGRX, LEVEL0)
    # Stream 2, 3 colours, in the order of the encoder's hash buckets (any order is valid).
    head = bytes.fromhex("600102070809040506010203")
    assert rectangle.payload.startswith(head)
    compressed = rectangle.payload[len(head) + 1 :]
    assert rectangle.payload[len(head)] == len(compressed) < 128  # 1-byte compact length
    expected = (2 - indices).astype(np.uint8).tobytes()
    assert zlib.decompressobj().decompress(compressed) == expected
    assert (decode_payload(TIGHT, rectangle.payload, 8, 6) == quantise(pixels, BGRX)).all()


def test_copy_filter_under_12_bytes_is_sent_as_is() -> None:
    pixels = bgrx((1, 2, 3), (40, 50, 60), (7, 8, 9))
    (rectangle,) = make_encoder(TIGHT).encode(pixels, 0, 0, BGRX, EncodeSettings())
    assert rectangle.payload == bytes.fromhex("0001020328323c070809")
    assert (decode_payload(TIGHT, rectangle.payload, 3, 1) == quantise(pixels, BGRX)).all()
    # 3 RGB565 pixels: 6 bytes of PIXELs, big endian.
    (rectangle,) = make_encoder(TIGHT).encode(
        bgrx((255, 0, 0), (0, 0, 255), (0, 255, 0)), 0, 0, RGB565, EncodeSettings()
    )
    assert rectangle.payload == bytes.fromhex("00f800001f07e0")


@pytest.mark.parametrize(
    ("side", "length_bytes", "control"),
    [(5, 1, 0x00), (40, 2, 0x30), (100, 3, 0x30)],  # stream 0; photos: stream 3
)
def test_copy_filter_compressed_with_compact_lengths(
    side: int, length_bytes: int, control: int
) -> None:
    pixels = np.random.default_rng(side).integers(0, 256, (side, side, 4), np.uint8)
    (rectangle,) = make_encoder(TIGHT).encode(pixels, 0, 0, BGRX, LEVEL0)
    payload = rectangle.payload
    assert payload[0] == control  # no filter-id: CopyFilter
    length = len(payload) - 1 - length_bytes
    assert payload[1 : 1 + length_bytes] == compact_length(length)
    rgb = pixels[..., 2::-1].tobytes()
    assert zlib.decompressobj().decompress(payload[1 + length_bytes :]) == rgb
    assert (decode_payload(TIGHT, payload, side, side) == quantise(pixels, BGRX)).all()


def test_gradient_decode_hand_computed() -> None:
    # Red intensities [[10, 20], [30, 50]] and [[200, 250], [250, 10]] side by side as
    # green and blue. Predictions (7.7.6) and differences, by hand:
    #   red:   P = [[0, 10], [10, 20+30-10=40]]          D = [[10, 10], [20, 10]]
    #   green: P = [[0, 200], [200, 250+250-200 -> 255]]  D = [[200, 50], [50, 11]]
    #   blue:  all zero, but (1,1) predicts 0+0-200 -> 0:  D = 0
    red = [[10, 20], [30, 50]]
    green = [[200, 250], [250, 10]]
    blue = [[200, 0], [0, 0]]
    differences = bytes([10, 200, 200, 10, 50, (0 - 200) % 256, 20, 50, (0 - 200) % 256, 10, 11, 0])
    # blue's own predictions: (0,1) = left 200 -> D = -200; (1,0) = up 200 -> D = -200;
    # (1,1) = 0 + 0 - 200 -> clamped to 0 -> D = 0.
    compressed = zlib.compress(differences)
    payload = b"\x70\x02" + compact_length(len(compressed)) + compressed  # stream 3
    pixels = decode_payload(TIGHT, payload, 2, 2)
    expected = np.stack([blue, green, red, np.zeros((2, 2), int)], axis=-1)
    assert pixels.tolist() == expected.tolist()
    assert gradient_filter(expected[..., 2::-1].astype(np.uint8)).tobytes() == differences


def test_gradient_decode_of_a_16_bit_format_works_in_channel_units() -> None:
    # RGB565: red MAX 31. Red [[31, 31], [31, 0]]: P(1,1) = 31 + 31 - 31 = 31, D = -31 % 32
    # = 1; the others: D(0,0) = 31, D(0,1) = 0, D(1,0) = 0. Green, blue zero.
    reds = [31, 0, 0, 1]
    payload = b"\x70\x02" + b"".join((r << 11).to_bytes(2, "big") for r in reds)
    pixels = decode_payload(TIGHT, payload, 2, 2, RGB565)  # 8 bytes < 12: sent as is
    assert pixels[..., 2].tolist() == [[255, 255], [255, 0]]
    assert not pixels[..., :2].any()


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 140),
    st.integers(1, 70),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["noise", "smooth", "edges"]),
)
def test_gradient_filter_inverts(height: int, width: int, seed: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    if kind == "noise":  # clamps everywhere: the anti-diagonal solver
        channels = rng.integers(0, 256, (height, width, 3), np.uint8)
    else:
        ys, xs = np.mgrid[0:height, 0:width]
        channels = np.stack([xs * 3 + ys, ys * 2, xs + 5], -1) % 200
        if kind == "edges":
            channels[rng.random((height, width)) < 0.05] = 255
        channels = channels.astype(np.uint8)
    assert (gradient_unfilter(gradient_filter(channels), (255,) * 3) == channels).all()


# --- zlib streams and reset bits ------------------------------------------------------------


def copy_rect(pixels: np.ndarray, data: bytes, control: int = 0x00) -> Rectangle:
    height, width = pixels.shape[:2]
    return Rectangle(
        0, 0, width, height, TIGHT, bytes([control]) + compact_length(len(data)) + data
    )


def test_decoder_resets_the_streams_it_is_told_to() -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (4, 5, 4), np.uint8)
    pixels[..., 3] = 0
    rgb = pixels[..., 2::-1].tobytes()
    first = zlib.compressobj()
    fresh = zlib.compressobj()
    one = first.compress(rgb) + first.flush(zlib.Z_SYNC_FLUSH)
    restarted = fresh.compress(rgb) + fresh.flush(zlib.Z_SYNC_FLUSH)
    decoder, framebuffer = make_decoder(TIGHT), Framebuffer.blank(5, 4)
    decoder.decode(copy_rect(pixels, one), BGRX, framebuffer)
    # A new zlib stream in the middle of the old one is garbage unless stream 0 is reset...
    stale = make_decoder(TIGHT)
    stale.decode(copy_rect(pixels, one), BGRX, framebuffer)
    with pytest.raises(RemoteProtocolError):
        stale.decode(copy_rect(pixels, restarted), BGRX, framebuffer)
    # ... and fine with bit 0 set, even when the reset comes with a fill (NOTE1).
    decoder.decode(copy_rect(pixels, restarted, control=0x01), BGRX, framebuffer)
    assert (framebuffer.pixels == pixels).all()
    decoder.decode(Rectangle(0, 0, 1, 1, TIGHT, b"\x81\x00\x00\x00"), BGRX, framebuffer)
    framebuffer.pixels[:] = 0
    decoder.decode(copy_rect(pixels, restarted), BGRX, framebuffer)
    assert (framebuffer.pixels == pixels).all()
    # Bits of other streams leave stream 0 alone: the next rectangle continues it.
    following = fresh.compress(rgb) + fresh.flush(zlib.Z_SYNC_FLUSH)
    framebuffer.pixels[:] = 0
    decoder.decode(copy_rect(pixels, following, control=0x0E), BGRX, framebuffer)
    assert (framebuffer.pixels == pixels).all()


def test_encoder_keeps_its_stream_when_the_level_changes() -> None:
    """A reset in the middle of a stream (to change its level) is what noVNC's inflater
    (pako) cannot follow: the next rectangle continuing the new stream fails. So a used
    stream keeps the level it started with."""
    rng = np.random.default_rng(2)
    encoder, decoder = make_encoder(TIGHT), make_decoder(TIGHT)
    framebuffer = Framebuffer.blank(30, 20)
    controls = []
    for level in (0, 0, 6, 6, 1):
        pixels = rng.integers(0, 256, (20, 30, 4), np.uint8)
        (rectangle,) = encoder.encode(pixels, 0, 0, RGB565, EncodeSettings(compress_level=level))
        controls.append(rectangle.payload[0])
        decoder.decode(rectangle, RGB565, framebuffer)
        assert (framebuffer.pixels == quantise(pixels, RGB565)).all()
    assert controls == [0x00] * 5  # stream 0, never reset


def test_uncompressed_variant_and_its_length() -> None:
    # BasicCompression Without Zlib (0xA / 0xE): the data follows a compact length.
    pixels = np.random.default_rng(3).integers(0, 256, (2, 3, 4), np.uint8)
    rgb = pixels[..., 2::-1].tobytes()
    assert (
        decode_payload(TIGHT, b"\xa0" + compact_length(18) + rgb, 3, 2) == quantise(pixels, BGRX)
    ).all()
    mono = b"\xe0\x01\x01" + bytes(3) + b"\xff\xff\xff" + compact_length(16) + b"\x80" * 16
    assert decode_payload(TIGHT, mono, 1, 16)[:, 0, 0].tolist() == [255] * 16
    with pytest.raises(RemoteProtocolError):
        decode_payload(TIGHT, b"\xa0" + compact_length(17) + rgb[:17], 3, 2)


# --- the encoder's cutting of regions --------------------------------------------------------


def desktop(height: int, width: int, seed: int) -> np.ndarray:
    """Flat background, a few-colour window with text-like strokes, a photo corner."""
    rng = np.random.default_rng(seed)
    pixels = np.zeros((height, width, 4), np.uint8)
    pixels[:] = (165, 110, 58, 0)
    pixels[height // 5 : height // 2, width // 6 :] = (250, 250, 250, 0)
    strokes = rng.random((height // 2 - height // 5, width - width // 6)) < 0.2
    pixels[height // 5 : height // 2, width // 6 :][strokes] = (20, 20, 20, 0)
    pixels[height // 2 :, : width // 2] = rng.integers(
        0, 256, (height - height // 2, width // 2, 4)
    )
    return pixels


def test_wide_regions_are_cut_to_the_limits() -> None:
    pixels = desktop(300, 3000, 4)
    for options in (EncodeSettings(), EncodeSettings(quality=5)):
        seen, rectangles = round_trip(TIGHT, pixels, BGRX, options=options)
        coverage = np.zeros((301, 3002), int)
        for rectangle in rectangles:
            assert rectangle.width <= 2048
            if rectangle.payload[0] >> 4 not in (0x8, 0x9):  # zlib data: TigerVNC's limit
                assert rectangle.width * rectangle.height <= 65536
            coverage[
                rectangle.y : rectangle.y + rectangle.height,
                rectangle.x : rectangle.x + rectangle.width,
            ] += 1
        assert (coverage[1:, 2:] == 1).all() and not coverage[0].any() and not coverage[:, :2].any()
        if options.quality is None:
            assert (seen == quantise(pixels, BGRX)).all()
    kinds = {rectangle.payload[0] >> 4 for rectangle in rectangles}
    assert {0x8, 0x9} <= kinds  # fills for the background, JPEG for the photo


def test_plan_fills_merge_and_photos_are_found() -> None:
    pixels = np.zeros((200, 300, 4), np.uint8)
    pixels[:, :, 0] = 9
    pixels[64:128, 64:192] = np.random.default_rng(5).integers(0, 256, (64, 128, 4))
    values = pixels.view("<u4")[..., 0] & 0xFFFFFF
    blocks = plan(values, 1 << 20, 512)
    coverage = np.zeros(values.shape, int)
    for block in blocks:
        block.of(coverage)[...] += 1
    assert (coverage == 1).all()
    photos = [b for b in blocks if b.kind is Kind.PHOTO]
    assert [(b.x, b.y, b.width, b.height) for b in photos] == [(64, 64, 128, 64)]
    assert all(b.kind is Kind.FILL for b in blocks if b not in photos)
    assert len(blocks) == 5  # the photo; fills above, left and right of it, below


def noise(height: int, width: int, seed: int) -> np.ndarray:
    """A photo's texture: every channel random in 0..199 (so never SOLID's blue), X = 0."""
    pixels = np.random.default_rng(seed).integers(0, 200, (height, width, 4), np.uint8)
    pixels[..., 3] = 0
    return pixels


SOLID = (230, 210, 250)  # red, green, blue


def zlib_data(payload: bytes, start: int) -> bytes:
    """The zlib data of a BasicCompression payload whose compact length is at ``start``."""
    for size in (1, 2, 3):
        if payload[start : start + size] == compact_length(len(payload) - start - size):
            return payload[start + size :]
    raise AssertionError("no compact length fits the payload")


def test_a_solid_area_larger_than_a_tile_is_one_fill_of_its_exact_size() -> None:
    """Its 16x16 blocks are found, joined and grown pixel by pixel to the area's edges
    (TigerVNC's findSolidRect and extendSolidArea), wherever those fall."""
    pixels = noise(192, 256, 1)
    pixels[21:121, 37:187, :3] = SOLID[::-1]
    for options in (EncodeSettings(), EncodeSettings(quality=8)):
        seen, rectangles = round_trip(TIGHT, pixels, BGRX, options=options, x=0, y=0)
        fills = [r for r in rectangles if r.payload[0] >> 4 == 0x8]
        assert fills == [Rectangle(37, 21, 150, 100, TIGHT, b"\x80" + bytes(SOLID))]
        jpeg = {r.payload[0] >> 4 == 0x9 for r in rectangles if r not in fills}
        assert jpeg == {options.quality is not None}  # the noise around it: a photo
        if options.quality is None:
            assert (seen == pixels).all()


def test_two_colour_text_is_a_mono_palette_with_or_without_jpeg() -> None:
    rng = np.random.default_rng(2)
    pixels = np.full((40, 200, 4), 255, np.uint8)
    pixels[..., 3] = 0
    pixels[rng.random((40, 200)) < 0.3] = (40, 20, 10, 0)
    white, ink = bytes.fromhex("ffffff"), bytes.fromhex("0a1428")
    for options in (EncodeSettings(), EncodeSettings(quality=8)):
        (rectangle,) = make_encoder(TIGHT).encode(pixels, 10, 20, BGRX, options)
        assert (rectangle.x, rectangle.y, rectangle.width, rectangle.height) == (10, 20, 200, 40)
        payload = rectangle.payload
        assert payload[:3] == b"\x50\x01\x01"  # stream 1, PaletteFilter, 2 colours
        assert payload[3:9] in (white + ink, ink + white)
        one = (pixels[..., 0] == 255) == (payload[6:9] == white)  # pixels of colour 1
        bits = np.packbits(one, axis=1).tobytes()  # 25 bytes a row
        assert zlib.decompressobj().decompress(zlib_data(payload, 9)) == bits


def test_a_photo_is_jpeg_with_a_quality_else_basic_compression() -> None:
    pixels = smooth(128, 128)
    pixels[..., :3] += noise(128, 128, 3)[..., :3] // 16
    (jpeg,) = make_encoder(TIGHT).encode(pixels, 0, 0, BGRX, EncodeSettings(quality=8))
    assert jpeg.payload[0] == 0x90
    assert simplejpeg.decode_jpeg_header(tight_image(jpeg.payload))[:2] == (128, 128)
    rgb = pixels[..., 2::-1].tobytes()
    # Run-length zlib on stream 3 at the default level; string matching on stream 0 above.
    for options, control in ((EncodeSettings(), 0x30), (EncodeSettings(compress_level=9), 0x00)):
        (basic,) = make_encoder(TIGHT).encode(pixels, 0, 0, BGRX, options)
        assert basic.payload[0] == control  # no filter-id: CopyFilter
        assert zlib.decompressobj().decompress(zlib_data(basic.payload, 1)) == rgb


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 150),
    st.integers(1, 150),
    st.integers(0, 2**32 - 1),
    st.integers(1, 4),
    st.sampled_from([8, 13, 40]),
)
def test_solid_blocks_areas_and_the_plan(
    height: int, width: int, seed: int, colours: int, cell: int
) -> None:
    """Blocks (edge ones smaller) are solid exactly when all their pixels are equal; areas
    are solid, big enough and disjoint; the plan covers the region once, its fills solid."""
    rng = np.random.default_rng(seed)
    cells = rng.integers(0, colours, (-(-height // cell), -(-width // cell)), np.uint32)
    values = np.repeat(np.repeat(cells, cell, 0), cell, 1)[:height, :width].copy()
    values[rng.random(values.shape) < 0.01] = 7
    solid, firsts = solid_blocks(values)
    for row, column in np.ndindex(solid.shape):
        block = values[row * 16 : row * 16 + 16, column * 16 : column * 16 + 16]
        assert solid[row, column] == (block == block[0, 0]).all()
        assert firsts[row, column] == block[0, 0]
    covered = np.zeros(values.shape, int)
    for x, y, area_width, area_height, colour in solid_areas(values):
        area = values[y : y + area_height, x : x + area_width]
        assert (area == colour).all() and (area.size >= 2048 or area.size == values.size)
        covered[y : y + area_height, x : x + area_width] += 1
    assert covered.max(initial=0) <= 1
    covered[:] = 0
    for block in plan(values, 1 << 20, 512):
        block.of(covered)[...] += 1
        assert block.kind is not Kind.FILL or (block.of(values) == block.colour).all()
    assert (covered == 1).all()


def test_palette_of_runs() -> None:
    values = np.array([[5, 5, 9, 9], [9, 1, 1, 5]], np.uint32)
    colours, indices = palette(values, 3)
    assert sorted(colours.tolist()) == [1, 5, 9]
    assert indices.dtype == np.uint8 and (colours[indices] == values).all()
    assert palette(values, 2) is None


def test_palette_when_two_colours_share_a_bucket() -> None:
    """The buckets cannot tell the colours apart: the palette is sorted out exactly."""
    candidates = np.arange(1, 1 << 20, dtype=np.uint32)
    other = int(candidates[_buckets(candidates) == _buckets(np.zeros(1, np.uint32))[0]][0])
    values = np.array([[0, other, other], [5, 0, 0]], np.uint32)
    colours, indices = palette(values, 3)
    assert sorted(colours.tolist()) == sorted([0, other, 5])
    assert (colours[indices] == values).all()
    assert palette(values, 2) is None


@pytest.mark.parametrize("colours", [95, 96, 97, 300])
@pytest.mark.parametrize("where", ["sampled", "between", "anywhere"])
def test_palette_limit_of_a_large_block(colours: int, where: str) -> None:
    """Blocks over 4096 pixels are first judged by one pixel in 8 (every other row, every
    fourth column): a sample never refuses a block within the limit, wherever its
    colours lie, and the block is refused exactly when it has too many."""
    rng = np.random.default_rng(colours)
    values = np.zeros((64, 128), np.uint32)
    spots = np.zeros(values.shape, bool)
    if where == "sampled":
        spots[::2, ::4] = True
    elif where == "between":
        spots[1::2] = True
    else:
        spots[:] = True
    places = rng.permutation(np.flatnonzero(spots))[: colours - 1]
    values.ravel()[places] = np.arange(1, colours, dtype=np.uint32) * 7919
    found = palette(values, 96)
    if colours > 96:
        assert found is None
    else:
        assert len(found[0]) == colours and (found[0][found[1]] == values).all()


# --- round trips --------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(images(), st.sampled_from(FORMATS), st.integers(0, 9), cut_lists)
def test_lossless_round_trip(
    pixels: np.ndarray, pf: PixelFormat, level: int, cuts: list[int]
) -> None:
    seen, _ = round_trip(TIGHT, pixels, pf, cuts, EncodeSettings(compress_level=level))
    assert (seen == quantise(pixels, pf)).all()


@settings(max_examples=200, deadline=None)
@given(images(), pixel_formats())
def test_lossless_round_trip_any_format(pixels: np.ndarray, pf: PixelFormat) -> None:
    seen, _ = round_trip(TIGHT, pixels, pf)
    assert (seen == quantise(pixels, pf)).all()


def test_one_decoder_follows_one_encoder_over_many_updates() -> None:
    """The zlib streams of both ends stay in step across regions and settings."""
    rng = np.random.default_rng(6)
    frame = desktop(140, 200, 6)
    encoder, decoder = make_encoder(TIGHT), make_decoder(TIGHT)
    framebuffer = Framebuffer.blank(200, 140)
    for step in range(12):
        top, left = rng.integers(0, 100), rng.integers(0, 150)
        frame[top : top + 30, left : left + 40] = rng.integers(0, 256, 4, np.uint8)
        options = EncodeSettings(compress_level=int(rng.integers(0, 10)))
        region = frame if step % 4 == 0 else frame[top : top + 40, left : left + 50]
        y, x = (0, 0) if step % 4 == 0 else (top, left)
        for rectangle in encoder.encode(region, int(x), int(y), BGRX, options):
            decoder.decode(through_the_wire(rectangle, BGRX, [7]), BGRX, framebuffer)
        assert (framebuffer.pixels == quantise(frame, BGRX)).all()


# --- JPEG ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", range(10))
@pytest.mark.parametrize("pf", [BGRX, FORMATS[2], RGB565_LE])
def test_jpeg_quality_levels(level: int, pf: PixelFormat) -> None:
    pixels = smooth()
    seen, rectangles = round_trip(TIGHT, pixels, pf, options=EncodeSettings(quality=level))
    assert {r.payload[0] for r in rectangles} == {0x90}
    bound = 30 if level < 8 or pf.bits_per_pixel == 16 else 45
    assert psnr(seen, quantise(pixels, pf)) >= bound


def test_jpeg_parameters_follow_the_client() -> None:
    assert requested_jpeg(EncodeSettings()) is None
    assert requested_jpeg(EncodeSettings(compress_level=9, subsampling=0)) is None
    assert jpeg_parameters(EncodeSettings()) == requested_jpeg(EncodeSettings(quality=8))
    table = [jpeg_parameters(EncodeSettings(quality=q)) for q in range(10)]
    assert [(p.quality, p.subsampling) for p in table] == [
        (15, "420"), (29, "420"), (41, "420"), (42, "422"), (62, "422"),
        (77, "422"), (79, "444"), (86, "444"), (92, "444"), (100, "444"),
    ]  # fmt: skip
    fine = jpeg_parameters(EncodeSettings(quality=1, fine_quality=70, subsampling=3))
    assert (fine.quality, fine.subsampling) == (70, "Gray")
    alone = requested_jpeg(EncodeSettings(fine_quality=0))
    assert alone is not None and alone.quality == 1
    names = [jpeg_parameters(EncodeSettings(quality=9, subsampling=s)) for s in range(6)]
    assert [p.subsampling for p in names] == ["444", "420", "422", "Gray", "420", "420"]


@pytest.mark.parametrize(("subsampling", "name"), [(0, "444"), (1, "420"), (2, "422"), (3, "Gray")])
def test_jpeg_subsampling_reaches_the_image(subsampling: int, name: str) -> None:
    options = EncodeSettings(quality=6, subsampling=subsampling)
    (rectangle,) = make_encoder(TIGHT).encode(smooth(), 0, 0, BGRX, options)
    assert simplejpeg.decode_jpeg_header(tight_image(rectangle.payload))[3] == name


def test_jpeg_too_long_for_its_length_field_is_halved(monkeypatch: pytest.MonkeyPatch) -> None:
    pixels = smooth()
    options = EncodeSettings(quality=9)
    (whole,) = make_encoder(TIGHT).encode(pixels, 0, 0, BGRX, options)
    monkeypatch.setattr(_tight_encode, "MAX_COMPACT", len(whole.payload) // 3)
    seen, rectangles = round_trip(TIGHT, pixels, BGRX, options=options)
    assert len(rectangles) > 3
    assert all(len(tight_image(r.payload)) <= len(whole.payload) // 3 for r in rectangles)
    assert psnr(seen, pixels) >= 45


@pytest.mark.parametrize("pf", [MAP8, FORMATS[6], FORMATS[9]])
def test_no_jpeg_for_8_bpp_or_colour_maps(pf: PixelFormat) -> None:
    seen, rectangles = round_trip(TIGHT, smooth(), pf, options=EncodeSettings(quality=9))
    assert all(r.payload[0] >> 4 != 0x9 for r in rectangles)
    assert (seen == quantise(smooth(), pf)).all()


def test_jpeg_keeps_text_lossless_when_its_palette_is_small() -> None:
    pixels = desktop(128, 256, 7)
    pixels[64:, :128] = (200, 200, 200, 0)  # no photo at all
    seen, rectangles = round_trip(TIGHT, pixels, BGRX, options=EncodeSettings(quality=5))
    assert all(r.payload[0] >> 4 != 0x9 for r in rectangles)
    assert (seen == quantise(pixels, BGRX)).all()


# --- decoder robustness ---------------------------------------------------------------------------


@settings(max_examples=1000, deadline=None)
@given(
    st.one_of(st.binary(max_size=60), led_by(st.integers(0, 255))),
    st.integers(0, 12),
    st.integers(0, 12),
    st.sampled_from(FORMATS),
)
def test_arbitrary_bytes_only_raise_remote_protocol_errors(
    data: bytes, width: int, height: int, pf: PixelFormat
) -> None:
    header = Rectangle(0, 0, width, height, TIGHT)
    decode_arbitrary(header, data, pf, Framebuffer.blank(12, 12))


@pytest.mark.parametrize(
    ("payload", "width", "pf"),
    [
        (b"\xb0", 4, BGRX),  # 1011: invalid compression type
        (b"\xf0", 4, BGRX),
        (b"\x40\x03", 4, BGRX),  # filter-id 3
        (b"\x40\x02", 4, MAP8),  # gradient needs 16/32 bpp true colour
        (b"\x90\x00", 4, FORMATS[6]),  # JPEG needs 16/32 bpp
        (b"\x00", 2049, BGRX),  # wider than 2048
    ],
)
def test_reader_refuses_bad_headers(payload: bytes, width: int, pf: PixelFormat) -> None:
    with pytest.raises(RemoteProtocolError):
        feed(make_decoder(TIGHT).read_payload(Rectangle(0, 0, width, 1, TIGHT), pf), [payload])


def test_wide_fills_are_accepted() -> None:
    reader = make_decoder(TIGHT).read_payload(Rectangle(0, 0, 3000, 1, TIGHT), BGRX)
    assert feed(reader, [b"\x80\x01\x02\x03"]) == b"\x80\x01\x02\x03"


IMAGE_4X1 = simplejpeg.encode_jpeg(np.zeros((1, 4, 4), np.uint8), 50, "BGRX")
IMAGE_1X1 = simplejpeg.encode_jpeg(np.zeros((1, 1, 4), np.uint8), 50, "BGRX")


@pytest.mark.parametrize(
    "payload",
    [
        b"\x50\x01\x00\x00\x00\x00\x80",  # 1-colour palette, but a pixel indexes colour 1
        b"\x60\x01\x02" + bytes(9) + b"\x03\x00\x00\x00",  # index 3 of 3 colours
        b"\x90\x03abc",  # JPEG that is not one
        b"\x90" + compact_length(len(IMAGE_4X1) - 2) + IMAGE_4X1[:-2],  # no EOI
        b"\x90" + compact_length(len(IMAGE_1X1)) + IMAGE_1X1,  # not the rectangle's size
    ],
)
def test_decoder_refuses_bad_data(payload: bytes) -> None:
    rectangle = Rectangle(0, 0, 4, 1, TIGHT)
    payload = feed(make_decoder(TIGHT).read_payload(rectangle, BGRX), [payload])
    with pytest.raises(RemoteProtocolError):
        make_decoder(TIGHT).decode(
            Rectangle(0, 0, 4, 1, TIGHT, payload), BGRX, Framebuffer.blank(4, 1)
        )


def test_rectangle_outside_the_framebuffer() -> None:
    with pytest.raises(RemoteProtocolError):
        make_decoder(TIGHT).decode(
            Rectangle(3, 0, 2, 1, TIGHT, b"\x80\x00\x00\x00"), BGRX, Framebuffer.blank(4, 4)
        )


def test_zlib_bomb_is_stopped_at_the_rectangle_size() -> None:
    compressor = zlib.compressobj(1)
    chunk = bytes(1 << 20)
    bomb = b"".join(compressor.compress(chunk) for _ in range(64)) + compressor.flush()
    rectangle = Rectangle(0, 0, 64, 64, TIGHT, b"\x00" + compact_length(len(bomb)) + bomb)
    tracemalloc.start()
    try:
        with pytest.raises(RemoteProtocolError, match="more"):
            make_decoder(TIGHT).decode(rectangle, BGRX, Framebuffer.blank(64, 64))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # the 64 MiB of zeros never materialise


def test_truncated_payload_waits() -> None:
    pixels = np.random.default_rng(8).integers(0, 256, (20, 20, 4), np.uint8)
    for rectangle in make_encoder(TIGHT).encode(pixels, 0, 0, BGRX, EncodeSettings()):
        header = Rectangle(rectangle.x, rectangle.y, rectangle.width, rectangle.height, TIGHT)
        for cut in (1, len(rectangle.payload) // 2, len(rectangle.payload) - 1):
            reader = make_decoder(TIGHT).read_payload(header, BGRX)
            assert feed(reader, split(rectangle.payload[:cut], [3])) is NEED


def test_registered() -> None:
    assert isinstance(make_encoder(TIGHT), tight.TightEncoder)
    assert isinstance(make_decoder(TIGHT), tight.TightDecoder)
    assert (
        make_encoder(TIGHT).encode(np.zeros((0, 5, 4), np.uint8), 0, 0, BGRX, EncodeSettings())
        == []
    )
