"""Cursor pseudo-encodings (rfbproto "Cursor", "X Cursor", "Cursor With Alpha", "VMware
Cursor", PointerPos and "VMware Cursor Position"): the Cursor record and its alpha
arithmetic, golden bytes worked out from the spec by hand, round trips through the wire in
arbitrary pieces, and hostile headers and payloads."""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from protocol import FramebufferUpdate
from protocol._errors import RemoteProtocolError
from protocol._events import Rectangle
from protocol._framebuffer import Framebuffer
from protocol._pixelformat import BGRX, PixelFormat, encode_pixels, quantise
from protocol.encodings import (
    DECODERS,
    MAX_CURSOR_SIZE,
    Cursor,
    Encoding,
    cursor_with_alpha,
    make_decoder,
    pointer_pos,
    rich_cursor,
    vmware_cursor,
    vmware_cursor_position,
    x_cursor,
)
from protocol.encodings.cursor import premultiply, shape_mask, unpremultiply

from .roundtrip import (
    FORMATS,
    MAP8,
    NEED,
    RGB565,
    cut_lists,
    decode_arbitrary,
    feed,
    palette_framebuffer,
    split,
    through_the_wire,
)
from .strategies import formats

SHAPES = (
    Encoding.CURSOR,
    Encoding.X_CURSOR,
    Encoding.CURSOR_WITH_ALPHA,
    Encoding.VMWARE_CURSOR,
)
POSITIONS = (Encoding.POINTER_POS, Encoding.VMWARE_CURSOR_POSITION)


def encode(encoding: int, cursor: Cursor, pf: PixelFormat = BGRX) -> Rectangle:
    """The rectangle each shape encoder makes (only Cursor needs the pixel format)."""
    if encoding == Encoding.CURSOR:
        return rich_cursor(cursor, pf)
    encoders: dict[int, Callable[[Cursor], Rectangle]] = {
        Encoding.X_CURSOR: x_cursor,
        Encoding.CURSOR_WITH_ALPHA: cursor_with_alpha,
        Encoding.VMWARE_CURSOR: vmware_cursor,
    }
    return encoders[encoding](cursor)


def received(rectangle: Rectangle, pf: PixelFormat = BGRX, cuts: Sequence[int] = ()) -> Framebuffer:
    """The client's framebuffer after ``rectangle`` came over the wire in pieces."""
    framebuffer = palette_framebuffer(3, 2, pf)
    make_decoder(rectangle.encoding).decode(through_the_wire(rectangle, pf, cuts), pf, framebuffer)
    return framebuffer


def bgra(*pixels: tuple[int, int, int, int], width: int = 2) -> np.ndarray:
    return np.array(pixels, np.uint8).reshape(-1, width, 4)


# A 2x2 cursor, hotspot (1, 0), in B, G, R, A with straight alpha:
# opaque red, green at alpha 128, transparent, white at alpha 64.
SAMPLE = Cursor(bgra((0, 0, 255, 255), (0, 255, 0, 128), (0, 0, 0, 0), (255, 255, 255, 64)), 1, 0)


# --- the Cursor record and its alpha ------------------------------------------------------


def test_cursor_zeroes_transparent_colour_and_is_read_only() -> None:
    image = bgra((1, 2, 3, 0), (4, 5, 6, 7), width=2)
    cursor = Cursor(image, 1, 0)
    assert (cursor.width, cursor.height) == (2, 1)
    assert cursor.image.tolist() == [[[0, 0, 0, 0], [4, 5, 6, 7]]]
    assert image[0, 0].tolist() == [1, 2, 3, 0]  # a copy: the caller's array is untouched
    with pytest.raises(ValueError):
        cursor.image[0, 0, 0] = 9
    assert cursor == Cursor(bgra((9, 9, 9, 0), (4, 5, 6, 7)), 1, 0)
    assert cursor != Cursor(image, 0, 0)
    assert cursor != Cursor(bgra((0, 0, 0, 0), (4, 5, 6, 8)), 1, 0)
    assert hash(cursor) == hash(Cursor(image, 1, 0))


@pytest.mark.parametrize(
    ("image", "hotspot"),
    [
        (np.zeros((2, 2, 3), np.uint8), (0, 0)),
        (np.zeros((2, 2, 4), np.uint16), (0, 0)),
        (np.zeros((2, 4), np.uint8), (0, 0)),
        (np.zeros((2, 2, 4), np.uint8), (-1, 0)),
        (np.zeros((2, 2, 4), np.uint8), (0, 0x10000)),
    ],
)
def test_cursor_rejects_bad_images_and_hotspots(
    image: np.ndarray, hotspot: tuple[int, int]
) -> None:
    with pytest.raises((ValueError, TypeError)):
        Cursor(image, *hotspot)


def test_from_argb32_reads_xfixes_words_and_straightens_alpha() -> None:
    # 0xAARRGGBB, premultiplied: opaque blue; red 0x40, green 0x20, blue 0x10 at alpha 0x80
    # (straight: 64*255/128 = 127.5 -> 128, 63.75 -> 64, 31.875 -> 32); transparent.
    words = [0xFF0000FF, 0x80402010, 0x00000000]
    cursor = Cursor.from_argb32(words, 3, 1, 2, 0)
    assert cursor.image.tolist() == [[[255, 0, 0, 255], [32, 64, 128, 128], [0, 0, 0, 0]]]
    assert (cursor.hotspot_x, cursor.hotspot_y) == (2, 0)
    assert Cursor.from_argb32(np.array(words, np.uint32), 3, 1, 2, 0) == cursor
    assert Cursor.from_argb32(np.array(words, np.uint64), 1, 3, 2, 0).height == 3


@pytest.mark.parametrize(
    ("words", "width", "height"),
    [([0] * 3, 2, 2), ([0] * 4, 2, 1), ([1 << 32], 1, 1), ([-1], 1, 1)],
)
def test_from_argb32_rejects_wrong_counts_and_values(
    words: list[int], width: int, height: int
) -> None:
    with pytest.raises(ValueError):
        Cursor.from_argb32(words, width, height)


def test_premultiplied_to_straight_and_back_is_exact() -> None:
    """Every valid premultiplied pixel (colour <= alpha) survives the round trip."""
    alpha, colour = np.meshgrid(np.arange(256), np.arange(256))
    valid = colour <= alpha
    pixels = np.stack([colour[valid]] * 3 + [alpha[valid]], -1).astype(np.uint8)
    np.testing.assert_array_equal(premultiply(unpremultiply(pixels)), pixels)


def test_straight_to_premultiplied_and_back_loses_only_what_alpha_hides() -> None:
    alpha, colour = np.meshgrid(np.arange(1, 256), np.arange(256))
    pixels = np.stack([colour.ravel()] * 3 + [alpha.ravel()], -1).astype(np.uint8)
    back = unpremultiply(premultiply(pixels)).astype(int)
    error = np.abs(back[:, 0] - pixels[:, 0])
    assert (error <= 255 / (2 * alpha.ravel()) + 0.5).all()
    opaque = pixels[:, 3] == 255
    np.testing.assert_array_equal(back[opaque], pixels[opaque])


def test_premultiply_rounds_and_unpremultiply_saturates() -> None:
    assert premultiply(bgra((255, 100, 1, 128), width=1)).tolist() == [[[128, 50, 1, 128]]]
    # Colour above alpha is not a premultiplied pixel: it saturates; alpha 0 gives black.
    assert unpremultiply(bgra((200, 100, 50, 100), width=1)).tolist() == [[[255, 255, 128, 100]]]
    assert unpremultiply(bgra((7, 7, 7, 0), width=1)).tolist() == [[[0, 0, 0, 0]]]


# --- the 1-bit mask -------------------------------------------------------------------------


def alphas(*values: int) -> Cursor:
    image = np.full((1, len(values), 4), 255, np.uint8)
    image[0, :, 3] = values
    return Cursor(image)


def test_mask_keeps_pixels_from_half_opaque_up() -> None:
    assert shape_mask(alphas(0, 1, 127, 128, 200, 255)).tolist() == [
        [False, False, False, True, True, True]
    ]


def test_mask_of_a_faint_cursor_keeps_its_most_opaque_pixels() -> None:
    assert shape_mask(alphas(0, 30, 100, 100)).tolist() == [[False, False, True, True]]
    assert not shape_mask(alphas(0, 0)).any()
    assert shape_mask(Cursor(np.zeros((0, 3, 4), np.uint8))).shape == (0, 3)


# --- golden bytes ---------------------------------------------------------------------------


def test_golden_cursor_with_alpha() -> None:
    rectangle = cursor_with_alpha(SAMPLE)
    assert (rectangle.x, rectangle.y, rectangle.width, rectangle.height) == (1, 0, 2, 2)
    assert rectangle.encoding == Encoding.CURSOR_WITH_ALPHA == -314
    # S32 Raw, then R, G, B, A premultiplied: 255*128/255 = 128, 255*64/255 = 64.
    assert rectangle.payload == bytes.fromhex("00000000 ff0000ff 00800080 00000000 40404040")


def test_golden_vmware_alpha_cursor() -> None:
    rectangle = vmware_cursor(SAMPLE)
    assert (rectangle.x, rectangle.y, rectangle.width, rectangle.height) == (1, 0, 2, 2)
    assert rectangle.encoding == Encoding.VMWARE_CURSOR == 0x574D5664
    # Type 1 (alpha), padding, then R, G, B, A with straight alpha.
    assert rectangle.payload == bytes.fromhex("0100 ff0000ff 00ff0080 00000000 ffffff40")


def test_golden_rich_cursor_in_two_formats() -> None:
    rectangle = rich_cursor(SAMPLE, BGRX)
    assert (rectangle.x, rectangle.y, rectangle.width, rectangle.height) == (1, 0, 2, 2)
    assert rectangle.encoding == Encoding.CURSOR == -239
    # B, G, R, X pixels (the padding byte 0, not the alpha), then the mask: alpha >= 128
    # keeps the top row (0b11000000) and nothing of the bottom one.
    assert rectangle.payload == bytes.fromhex("0000ff00 00ff0000 00000000 ffffff00 c0 00")
    # 16-bit 5-6-5 big endian: red 0xf800, green 0x07e0, white 0xffff.
    assert rich_cursor(SAMPLE, RGB565).payload == bytes.fromhex("f800 07e0 0000 ffff c0 00")


def test_golden_x_cursor() -> None:
    rectangle = x_cursor(SAMPLE)
    assert (rectangle.x, rectangle.y, rectangle.width, rectangle.height) == (1, 0, 2, 2)
    assert rectangle.encoding == Encoding.X_CURSOR == -240
    # Primary white, secondary black; bitmap: red's luma (76) is dark, green's (150) and
    # white's light, the transparent pixel black; then the same mask as Cursor's.
    assert rectangle.payload == bytes.fromhex("ffffff 000000 40 40 c0 00")


def test_golden_mask_rows_are_padded_to_whole_bytes() -> None:
    image = np.zeros((2, 10, 4), np.uint8)
    image[0, [0, 8, 9], 3] = 255
    image[1, 7, 3] = 255
    assert rich_cursor(Cursor(image), BGRX).payload[-4:] == bytes.fromhex("80c0 0100")


def test_golden_positions() -> None:
    assert pointer_pos(5, 7) == Rectangle(5, 7, 0, 0, -232)
    assert vmware_cursor_position(5, 7) == Rectangle(5, 7, 0, 0, 0x574D5666)


def test_golden_wire_header_and_the_client_keeps_shape_and_position(pair) -> None:
    server, client = pair()
    update = FramebufferUpdate([cursor_with_alpha(SAMPLE), pointer_pos(300, 400)])
    data = server.send(update)
    # Type 0, padding, 2 rectangles; hotspot (1, 0), 2x2, S32 -314 = 0xfffffec6.
    assert data[:16] == bytes.fromhex("00 00 0002 0001 0000 0002 0002 fffffec6")
    client.receive_data(data)
    assert client.next_event() == update
    framebuffer = Framebuffer.blank(64, 48)
    assert framebuffer.cursor is None and framebuffer.pointer is None
    client.apply_update(update, framebuffer)
    assert framebuffer.cursor == Cursor(unpremultiply(premultiply(SAMPLE.image)), 1, 0)
    assert framebuffer.pointer == (300, 400)  # may lie outside: it is news, not pixels
    assert not framebuffer.pixels.any()


# --- round trips ----------------------------------------------------------------------------


@st.composite
def cursors(draw: st.DrawFn, max_side: int = 9) -> Cursor:
    """Any cursor, its alpha often fully opaque or fully transparent."""
    height, width = draw(st.integers(0, max_side)), draw(st.integers(0, max_side))
    image = draw(arrays(np.uint8, (height, width, 4)))
    alpha = st.one_of(st.sampled_from([0, 255]), st.integers(0, 255))
    image[..., 3] = draw(arrays(np.uint8, (height, width), elements=alpha))
    return Cursor(image, draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFF)))


def opaque_where(colours: np.ndarray, opaque: np.ndarray) -> np.ndarray:
    image = colours.copy()
    image[..., 3] = np.where(opaque, 255, 0)
    return image


def expected(encoding: int, cursor: Cursor, pf: PixelFormat) -> Cursor:
    """What each encoding lets through: VMware's straight RGBA all of it; Cursor With
    Alpha rounds through premultiplied alpha; the 1-bit masks keep ``shape_mask`` at full
    opacity, Cursor in the client's colours, X Cursor in white (luma >= 128) or black."""
    image, mask = cursor.image, shape_mask(cursor)
    if encoding == Encoding.VMWARE_CURSOR:
        return cursor
    if encoding == Encoding.CURSOR_WITH_ALPHA:
        image = unpremultiply(premultiply(image))
    elif encoding == Encoding.CURSOR:
        image = opaque_where(quantise(image, pf), mask)
    else:
        blue, green, red = (image[..., i].astype(int) for i in range(3))
        light = 299 * red + 587 * green + 114 * blue >= 128_000
        image = opaque_where(
            np.where(light[..., None], [255, 255, 255, 0], 0).astype(np.uint8), mask
        )
    return Cursor(image, cursor.hotspot_x, cursor.hotspot_y)


@settings(max_examples=300, deadline=None)
@given(
    encoding=st.sampled_from(SHAPES),
    cursor=cursors(),
    pf=formats,
    cuts=cut_lists,
)
def test_shape_round_trip(encoding: int, cursor: Cursor, pf: PixelFormat, cuts: list[int]) -> None:
    framebuffer = received(encode(encoding, cursor, pf), pf, cuts)
    assert framebuffer.cursor == expected(encoding, cursor, pf)
    assert framebuffer.pointer is None
    assert not framebuffer.pixels.any()


@pytest.mark.parametrize("pf", FORMATS)
def test_opaque_black_and_white_survive_every_shape_encoding(pf: PixelFormat) -> None:
    image = np.zeros((3, 11, 4), np.uint8)
    image[..., 3] = 255
    image[1, 2:9, :3] = 255
    image[2, 5:, 3] = 0
    cursor = Cursor(image, 4, 1)
    for encoding in SHAPES:
        assert received(encode(encoding, cursor, pf), pf).cursor == cursor, encoding


@settings(max_examples=100, deadline=None)
@given(
    encoding=st.sampled_from(POSITIONS),
    x=st.integers(0, 0xFFFF),
    y=st.integers(0, 0xFFFF),
    cuts=cut_lists,
)
def test_position_round_trip(encoding: int, x: int, y: int, cuts: list[int]) -> None:
    make = pointer_pos if encoding == Encoding.POINTER_POS else vmware_cursor_position
    framebuffer = received(make(x, y), BGRX, cuts)
    assert framebuffer.pointer == (x, y)
    assert framebuffer.cursor is None


def test_a_new_shape_replaces_the_old_and_resizing_keeps_it() -> None:
    framebuffer = received(vmware_cursor(SAMPLE))
    other = Cursor(np.full((1, 1, 4), 255, np.uint8))
    make_decoder(Encoding.CURSOR).decode(rich_cursor(other, BGRX), BGRX, framebuffer)
    framebuffer.resize(5, 5)
    assert framebuffer.cursor == other


# --- VMware classic (AND/XOR) cursors, built by hand ----------------------------------------


def classic(and_mask: np.ndarray, xor_mask: np.ndarray, pf: PixelFormat) -> bytes:
    """A type-0 payload: type, padding, AND then XOR PIXELs in the client's format."""
    return b"\x00\x00" + encode_pixels(and_mask, pf) + encode_pixels(xor_mask, pf)


@pytest.mark.parametrize("pf", [BGRX, RGB565, MAP8])
def test_vmware_classic_cursor(pf: PixelFormat) -> None:
    white, red = (255, 255, 255, 0), (0, 0, 255, 0)
    black = (0, 0, 0, 0)
    # Per pixel: opaque red (AND 0); transparent (AND 1s, XOR 0); inverted (AND 1s, XOR 1s:
    # black); opaque black (AND 0, XOR 0).
    and_mask = bgra(black, white, white, black, width=4)
    xor_mask = bgra(red, black, white, black, width=4)
    rectangle = Rectangle(3, 2, 4, 1, Encoding.VMWARE_CURSOR, classic(and_mask, xor_mask, pf))
    framebuffer = received(rectangle, pf, [1, 5, 9])
    colours = quantise(bgra(red, black, black, black, width=4), pf)
    assert framebuffer.cursor == Cursor(opaque_where(colours, [[1, 0, 1, 1]]), 3, 2)


def test_vmware_classic_cursor_golden_bytes() -> None:
    # 32-bit BGRX: AND 0 and XOR 0x00332211 (bytes 11 22 33 00) is opaque R=0x33 G=0x22
    # B=0x11; AND ff ff ff ff with XOR 0 is transparent.
    payload = bytes.fromhex("0000 00000000 ffffffff 11223300 00000000")
    framebuffer = received(Rectangle(0, 0, 2, 1, Encoding.VMWARE_CURSOR, payload))
    assert framebuffer.cursor == Cursor(bgra((0x11, 0x22, 0x33, 255), (0, 0, 0, 0)))


# --- empty and invisible cursors ------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "payload"),
    [
        (Encoding.CURSOR, b""),
        (Encoding.X_CURSOR, b""),  # rfbproto: no data when width or height is 0
        (Encoding.CURSOR_WITH_ALPHA, bytes(4)),  # the inner encoding is still there
        (Encoding.VMWARE_CURSOR, b"\x01\x00"),  # and so is the cursor type
    ],
)
@pytest.mark.parametrize("size", [(0, 0), (0, 3), (3, 0)])
def test_empty_cursor(encoding: int, payload: bytes, size: tuple[int, int]) -> None:
    height, width = size
    cursor = Cursor(np.zeros((height, width, 4), np.uint8))
    rectangle = encode(encoding, cursor)
    assert (rectangle.width, rectangle.height, rectangle.payload) == (width, height, payload)
    assert received(rectangle).cursor == cursor


@pytest.mark.parametrize("encoding", SHAPES)
@pytest.mark.parametrize("pf", [BGRX, RGB565, MAP8])
def test_invisible_cursor_is_one_transparent_pixel(encoding: int, pf: PixelFormat) -> None:
    invisible = Cursor.invisible()
    assert (invisible.width, invisible.height) == (1, 1)
    assert received(encode(encoding, invisible, pf), pf).cursor == invisible


# --- pieces, truncation and refusals --------------------------------------------------------


@pytest.mark.parametrize("encoding", SHAPES)
def test_byte_at_a_time(encoding: int) -> None:
    rectangle = encode(encoding, SAMPLE, RGB565)
    reader = make_decoder(encoding).read_payload(attrs.evolve(rectangle, payload=b""), RGB565)
    pieces = [rectangle.payload[i : i + 1] for i in range(len(rectangle.payload))]
    assert feed(reader, pieces) == rectangle.payload


@settings(max_examples=100, deadline=None)
@given(
    encoding=st.sampled_from(SHAPES), cursor=cursors(), missing=st.integers(1, 50), cuts=cut_lists
)
def test_truncated_payload_never_returns(
    encoding: int, cursor: Cursor, missing: int, cuts: list[int]
) -> None:
    rectangle = encode(encoding, cursor)
    if not rectangle.payload:
        return
    data = rectangle.payload[: max(len(rectangle.payload) - missing, 0)]
    reader = make_decoder(encoding).read_payload(attrs.evolve(rectangle, payload=b""), BGRX)
    assert feed(reader, split(data, cuts)) is NEED


@pytest.mark.parametrize("encoding", SHAPES)
@pytest.mark.parametrize("size", [(MAX_CURSOR_SIZE + 1, 1), (1, MAX_CURSOR_SIZE + 1)])
def test_oversized_cursors_are_refused_both_ways(encoding: int, size: tuple[int, int]) -> None:
    width, height = size
    with pytest.raises(ValueError, match="exceeds"):
        encode(encoding, Cursor(np.zeros((height, width, 4), np.uint8)))
    # The reader refuses on the header alone, before asking for a byte.
    reader = make_decoder(encoding).read_payload(Rectangle(0, 0, width, height, encoding), BGRX)
    with pytest.raises(RemoteProtocolError, match="larger than"):
        next(reader)
    with pytest.raises(RemoteProtocolError):
        make_decoder(encoding).decode(
            Rectangle(0, 0, width, height, encoding), BGRX, Framebuffer.blank(1, 1)
        )


def test_the_largest_cursor_goes_through() -> None:
    side = MAX_CURSOR_SIZE
    cursor = Cursor(np.full((side, side, 4), 255, np.uint8))
    for encoding in SHAPES:
        assert received(encode(encoding, cursor)).cursor == cursor, encoding


@pytest.mark.parametrize("inner", [Encoding.ZRLE, Encoding.TIGHT, -1])
def test_cursor_with_alpha_in_another_inner_encoding_is_refused(inner: int) -> None:
    header = Rectangle(0, 0, 1, 1, Encoding.CURSOR_WITH_ALPHA)
    reader = make_decoder(header.encoding).read_payload(header, BGRX)
    assert next(reader) == 4
    with pytest.raises(RemoteProtocolError, match=f"encoding {inner}"):
        reader.send(struct.pack(">i", inner))
    with pytest.raises(RemoteProtocolError, match="only Raw"):
        make_decoder(header.encoding).decode(
            attrs.evolve(header, payload=struct.pack(">i", inner) + bytes(4)),
            BGRX,
            Framebuffer.blank(1, 1),
        )


@pytest.mark.parametrize("kind", [2, 255])
def test_unknown_vmware_cursor_type_is_refused(kind: int) -> None:
    header = Rectangle(0, 0, 1, 1, Encoding.VMWARE_CURSOR)
    reader = make_decoder(header.encoding).read_payload(header, BGRX)
    assert next(reader) == 2
    with pytest.raises(RemoteProtocolError, match=f"type {kind}"):
        reader.send(bytes([kind, 0]))


@pytest.mark.parametrize(
    "rectangle",
    [
        Rectangle(0, 0, 2, 2, Encoding.CURSOR, bytes(17)),  # 16 bytes of pixels + 2 of mask
        Rectangle(0, 0, 2, 2, Encoding.CURSOR, bytes(19)),
        Rectangle(0, 0, 2, 2, Encoding.X_CURSOR, bytes(9)),
        Rectangle(0, 0, 0, 2, Encoding.X_CURSOR, bytes(6)),
        Rectangle(0, 0, 2, 2, Encoding.CURSOR_WITH_ALPHA, bytes(19)),
        Rectangle(0, 0, 2, 2, Encoding.CURSOR_WITH_ALPHA, b""),
        Rectangle(0, 0, 2, 2, Encoding.VMWARE_CURSOR, b"\x01"),
        Rectangle(0, 0, 2, 2, Encoding.VMWARE_CURSOR, b"\x01\x00" + bytes(15)),
        Rectangle(0, 0, 2, 2, Encoding.VMWARE_CURSOR, b"\x00\x00" + bytes(16)),
    ],
)
def test_decode_refuses_payloads_of_the_wrong_length(rectangle: Rectangle) -> None:
    framebuffer = Framebuffer.blank(2, 2)
    with pytest.raises(RemoteProtocolError):
        make_decoder(rectangle.encoding).decode(rectangle, BGRX, framebuffer)
    assert framebuffer.cursor is None


@settings(max_examples=300, deadline=None)
@given(
    encoding=st.sampled_from(SHAPES + POSITIONS),
    width=st.integers(0, 9),
    height=st.integers(0, 9),
    data=st.one_of(
        st.binary(max_size=400),
        st.builds(
            lambda head, rest: head + rest,
            st.sampled_from([b"\0\0", b"\1\0", bytes(4)]),
            st.binary(max_size=400),
        ),
    ),
    pf=st.sampled_from(FORMATS),
)
def test_arbitrary_bytes_are_a_protocol_error_or_a_cursor(
    encoding: int, width: int, height: int, data: bytes, pf: PixelFormat
) -> None:
    header = Rectangle(0, 0, width, height, encoding)
    decode_arbitrary(header, data, pf, Framebuffer.blank(2, 2), also_as_payload=True)


def test_every_cursor_encoding_has_a_decoder() -> None:
    assert set(SHAPES + POSITIONS) <= set(DECODERS)
