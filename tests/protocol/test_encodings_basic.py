"""Raw, CopyRect, DesktopSize and LastRect through encoder -> wire -> reader -> Framebuffer,
plus the Framebuffer itself and the encodings registry."""

from __future__ import annotations

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from protocol._errors import RemoteProtocolError
from protocol._events import Rectangle, Screen
from protocol._framebuffer import Framebuffer
from protocol._pixelformat import BGRX, PixelFormat, quantise
from protocol.encodings import (
    DECODERS,
    ENCODERS,
    EncodeSettings,
    Encoding,
    copy_rect,
    desktop_size,
    last_rect,
    make_decoder,
    make_encoder,
    register_decoder,
    settings_from_encodings,
)
from protocol.encodings._base import CHUNK
from protocol.encodings.pseudo import (
    ResizeReason,
    ResizeStatus,
    ScreenLayout,
    extended_desktop_size,
    screen_layout,
)
from protocol.encodings.raw import RawDecoder, RawEncoder

from .roundtrip import (
    FORMATS,
    NEED,
    RGB565,
    cut_lists,
    feed,
    round_trip,
    split,
    through_the_wire,
)

# --- Raw --------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    pixels=arrays(
        np.uint8,
        st.tuples(st.integers(0, 7), st.integers(0, 7), st.just(4)),
        elements=st.integers(0, 255),
    ),
    pf=st.sampled_from(FORMATS),
    x=st.integers(0, 5),
    y=st.integers(0, 5),
    cuts=cut_lists,
)
def test_raw_round_trip(
    pixels: np.ndarray, pf: PixelFormat, x: int, y: int, cuts: list[int]
) -> None:
    height, width = pixels.shape[:2]
    seen, (rectangle,) = round_trip(Encoding.RAW, pixels, pf, cuts, x=x, y=y)
    assert (rectangle.x, rectangle.y, rectangle.width, rectangle.height) == (x, y, width, height)
    assert len(rectangle.payload) == width * height * pf.bytes_per_pixel
    np.testing.assert_array_equal(seen, quantise(pixels, pf))


def test_raw_reader_asks_in_bounded_chunks() -> None:
    rectangle = Rectangle(0, 0, 1000, 700, Encoding.RAW)
    reader = RawDecoder().read_payload(rectangle, BGRX)
    sizes = [next(reader)]
    try:
        while True:
            sizes.append(reader.send(bytes(sizes[-1])))
    except StopIteration as done:
        payload = done.value
    assert max(sizes) <= CHUNK
    assert sum(sizes) == len(payload) == 1000 * 700 * 4


def test_raw_reader_for_a_huge_header_asks_for_one_chunk() -> None:
    reader = RawDecoder().read_payload(Rectangle(0, 0, 0xFFFF, 0xFFFF, Encoding.RAW), BGRX)
    assert next(reader) == CHUNK


@settings(max_examples=50, deadline=None)
@given(
    width=st.integers(1, 40),
    height=st.integers(1, 40),
    missing=st.integers(1, 100),
    cuts=cut_lists,
)
def test_truncated_raw_never_returns(
    width: int, height: int, missing: int, cuts: list[int]
) -> None:
    data = bytes(width * height * 2)[:-missing]
    reader = RawDecoder().read_payload(Rectangle(0, 0, width, height, Encoding.RAW), RGB565)
    assert feed(reader, split(data, cuts)) is NEED


def test_raw_empty_rectangle_needs_no_bytes() -> None:
    reader = RawDecoder().read_payload(Rectangle(3, 3, 0, 5, Encoding.RAW), BGRX)
    assert feed(reader, []) == b""


@pytest.mark.parametrize(
    "rectangle",
    [
        Rectangle(0, 0, 2, 2, Encoding.RAW, bytes(15)),  # one byte short
        Rectangle(0, 0, 2, 2, Encoding.RAW, bytes(17)),
        Rectangle(3, 0, 2, 2, Encoding.RAW, bytes(16)),  # sticks out on the right
        Rectangle(0, 4, 1, 1, Encoding.RAW, bytes(4)),  # below
    ],
)
def test_raw_decode_rejects_bad_rectangles(rectangle: Rectangle) -> None:
    with pytest.raises(RemoteProtocolError):
        RawDecoder().decode(rectangle, BGRX, Framebuffer.blank(4, 4))


def test_raw_encoder_is_stateless_and_registered() -> None:
    assert isinstance(make_encoder(0), RawEncoder)
    assert make_encoder(0) is not make_encoder(0)


# --- CopyRect ---------------------------------------------------------------------------


@st.composite
def copies(draw: st.DrawFn) -> tuple[int, int, int, int, int, int, int, int]:
    """A framebuffer size and a copy whose source and destination both fit (often overlap)."""
    fb_w, fb_h = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    width, height = draw(st.integers(0, fb_w)), draw(st.integers(0, fb_h))
    x, src_x = (draw(st.integers(0, fb_w - width)) for _ in range(2))
    y, src_y = (draw(st.integers(0, fb_h - height)) for _ in range(2))
    return fb_w, fb_h, x, y, width, height, src_x, src_y


@settings(max_examples=200, deadline=None)
@given(copies(), st.integers(0, 2**32 - 1), cut_lists)
def test_copyrect_round_trip(
    copy: tuple[int, int, int, int, int, int, int, int], seed: int, cuts: list[int]
) -> None:
    fb_w, fb_h, x, y, width, height, src_x, src_y = copy
    framebuffer = Framebuffer.blank(fb_w, fb_h)
    framebuffer.pixels[:] = np.random.default_rng(seed).integers(0, 256, (fb_h, fb_w, 4))
    before = framebuffer.pixels.copy()

    rectangle = copy_rect(x, y, width, height, src_x, src_y)
    assert rectangle.encoding == Encoding.COPY_RECT
    assert len(rectangle.payload) == 4
    make_decoder(Encoding.COPY_RECT).decode(
        through_the_wire(rectangle, BGRX, cuts), BGRX, framebuffer
    )

    expected = before.copy()
    expected[y : y + height, x : x + width] = before[src_y : src_y + height, src_x : src_x + width]
    np.testing.assert_array_equal(framebuffer.pixels, expected)


def test_copyrect_scroll_up_by_one_row_overlaps_safely() -> None:
    framebuffer = Framebuffer.blank(1, 4)
    framebuffer.pixels[:, 0, 0] = [10, 20, 30, 40]
    make_decoder(Encoding.COPY_RECT).decode(copy_rect(0, 1, 1, 3, 0, 0), BGRX, framebuffer)
    assert framebuffer.pixels[:, 0, 0].tolist() == [10, 10, 20, 30]


@pytest.mark.parametrize(
    ("x", "y", "width", "height", "src_x", "src_y"),
    [
        (0, 0, 2, 2, 3, 0),  # source sticks out on the right
        (0, 0, 2, 2, 0, 3),  # source sticks out at the bottom
        (0, 0, 1, 1, 4, 0),  # source starts outside
        (0, 0, 1, 1, 0xFFFF, 0xFFFF),
        (3, 3, 2, 2, 0, 0),  # destination sticks out
    ],
)
def test_copyrect_outside_the_framebuffer_is_a_protocol_error(
    x: int, y: int, width: int, height: int, src_x: int, src_y: int
) -> None:
    framebuffer = Framebuffer.blank(4, 4)
    with pytest.raises(RemoteProtocolError):
        make_decoder(Encoding.COPY_RECT).decode(
            copy_rect(x, y, width, height, src_x, src_y), BGRX, framebuffer
        )
    assert not framebuffer.pixels.any()


def test_copyrect_bad_payload_and_bad_source() -> None:
    with pytest.raises(RemoteProtocolError):
        make_decoder(Encoding.COPY_RECT).decode(
            Rectangle(0, 0, 1, 1, Encoding.COPY_RECT, b"\0\0\0"), BGRX, Framebuffer.blank(2, 2)
        )
    with pytest.raises(ValueError):
        copy_rect(0, 0, 1, 1, 0x10000, 0)


# --- pseudo-encodings ---------------------------------------------------------------------


def test_desktop_size_resizes_keeping_what_overlaps() -> None:
    framebuffer = Framebuffer.blank(3, 2)
    framebuffer.pixels[:] = 9
    rectangle = through_the_wire(desktop_size(5, 1), BGRX, [])
    assert (rectangle.width, rectangle.height, rectangle.payload) == (5, 1, b"")
    make_decoder(Encoding.DESKTOP_SIZE).decode(rectangle, BGRX, framebuffer)
    assert (framebuffer.width, framebuffer.height) == (5, 1)
    assert framebuffer.pixels[0, :, 0].tolist() == [9, 9, 9, 0, 0]


screens = st.builds(
    Screen,
    st.integers(0, 2**32 - 1),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF),
    st.integers(0, 2**32 - 1),
)


@settings(max_examples=200, deadline=None)
@given(
    reason=st.sampled_from(ResizeReason),
    status=st.sampled_from(ResizeStatus),
    width=st.integers(1, 300),
    height=st.integers(1, 300),
    layout=st.lists(screens, max_size=5),
    cuts=cut_lists,
)
def test_extended_desktop_size_round_trip(
    reason: ResizeReason,
    status: ResizeStatus,
    width: int,
    height: int,
    layout: list[Screen],
    cuts: list[int],
) -> None:
    sent = extended_desktop_size(width, height, layout, reason, status)
    assert len(sent.payload) == 4 + 16 * len(layout)
    rectangle = through_the_wire(sent, BGRX, cuts)
    assert screen_layout(rectangle) == ScreenLayout(reason, status, width, height, layout)
    framebuffer = Framebuffer.blank(7, 3)
    make_decoder(Encoding.EXTENDED_DESKTOP_SIZE).decode(rectangle, BGRX, framebuffer)
    refused = reason == ResizeReason.THIS_CLIENT and status != ResizeStatus.OK
    assert (framebuffer.width, framebuffer.height) == ((7, 3) if refused else (width, height))


def test_extended_desktop_size_wire_layout() -> None:
    rectangle = extended_desktop_size(
        640, 480, [Screen(9, 1, 2, 3, 4, 5)], ResizeReason.OTHER_CLIENT, ResizeStatus.OK
    )
    assert (rectangle.x, rectangle.y, rectangle.encoding) == (2, 0, -308)
    assert rectangle.payload == bytes.fromhex("01000000 00000009 0001 0002 0003 0004 00000005")


def test_extended_desktop_size_with_a_wrong_screen_count_is_refused() -> None:
    good = extended_desktop_size(4, 4, [Screen(0, 0, 0, 4, 4)])
    for payload in (b"", good.payload[:-1], good.payload + b"\0"):
        with pytest.raises(RemoteProtocolError):
            screen_layout(attrs.evolve(good, payload=payload))


def test_last_rect_is_an_empty_marker() -> None:
    framebuffer = Framebuffer.blank(2, 2)
    rectangle = through_the_wire(last_rect(), BGRX, [])
    assert rectangle == Rectangle(0, 0, 0, 0, Encoding.LAST_RECT)
    make_decoder(Encoding.LAST_RECT).decode(rectangle, BGRX, framebuffer)
    assert not framebuffer.pixels.any()


# --- Framebuffer ----------------------------------------------------------------------------


def test_framebuffer_blank_and_resize() -> None:
    framebuffer = Framebuffer.blank(4, 3)
    assert framebuffer.pixels.shape == (3, 4, 4)
    assert (framebuffer.width, framebuffer.height) == (4, 3)
    framebuffer.pixels[:] = np.arange(12, dtype=np.uint8).reshape(3, 4, 1)
    framebuffer.resize(2, 5)
    assert framebuffer.pixels[:, :, 0].tolist() == [[0, 1], [4, 5], [8, 9], [0, 0], [0, 0]]


def test_framebuffer_colour_map_grows_and_converts() -> None:
    framebuffer = Framebuffer.blank(1, 1)
    assert framebuffer.colour_map.shape == (256, 4)
    assert not framebuffer.colour_map.any()
    framebuffer.set_colour_map_entries(300, [(0xFFFF, 0, 0), (0, 0x8080, 0xFFFF)])
    assert framebuffer.colour_map.shape == (302, 4)
    assert framebuffer.colour_map[300:].tolist() == [[0, 0, 255, 0], [255, 128, 0, 0]]
    framebuffer.set_colour_map_entries(1, [(0, 0xFFFF, 0)])
    assert framebuffer.colour_map.shape == (302, 4)
    assert framebuffer.colour_map[1].tolist() == [0, 255, 0, 0]


def test_framebuffer_rejects_other_arrays() -> None:
    with pytest.raises(ValueError):
        Framebuffer(np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError):
        Framebuffer(np.zeros((2, 2, 4), np.uint8), np.zeros((256, 3), np.uint8))


# --- registry and numbers -------------------------------------------------------------------


def test_registry_makes_fresh_instances_and_refuses_unknown_numbers() -> None:
    for number, cls in DECODERS.items():
        first, second = make_decoder(number), make_decoder(number)
        assert type(first) is cls and first is not second
        assert first.encoding == number
    assert set(DECODERS) >= {Encoding.RAW, Encoding.COPY_RECT, -223, -224}
    assert set(ENCODERS) >= {Encoding.RAW}
    with pytest.raises(KeyError):
        make_decoder(12345)
    with pytest.raises(KeyError):
        make_encoder(Encoding.COPY_RECT)  # built with copy_rect(), not from pixels
    with pytest.raises(TypeError):
        ENCODERS[99] = RawEncoder  # type: ignore[index]


def test_registering_a_number_twice_fails() -> None:
    class Impostor(RawDecoder):
        pass

    with pytest.raises(ValueError, match="registered twice"):
        register_decoder(Impostor)
    assert DECODERS[Encoding.RAW] is RawDecoder


def test_encoding_numbers() -> None:
    assert Encoding.EXTENDED_CLIPBOARD == 0xC0A1E5CE - 2**32
    assert Encoding.TIGHT_PNG == -260
    assert Encoding.JPEG_QUALITY_LEVEL_0 == -32 and Encoding.JPEG_QUALITY_LEVEL_9 == -23
    assert Encoding.COMPRESS_LEVEL_9 == -247
    assert Encoding.FINE_QUALITY_LEVEL_100 == -412
    assert Encoding.SUBSAMP_16X == -763
    assert all(-(2**31) <= member <= 2**31 - 1 for member in Encoding)


@pytest.mark.parametrize(
    ("encodings", "expected"),
    [
        ([], EncodeSettings()),
        ([7, 16, 0, -223], EncodeSettings()),
        ([-23, -247, -412, -763], EncodeSettings(9, 100, 5, 9)),
        ([-32, -256, -512, -768], EncodeSettings(0, 0, 0, 0)),
        ([7, -26, -250, -450, -766], EncodeSettings(6, 62, 2, 6)),
        ([-30, -22, -31, -255, -254], EncodeSettings(quality=2, compress_level=1)),
        ([-33, -257, -411, -513, -762, -769], EncodeSettings()),
    ],
)
def test_settings_from_encodings(encodings: list[int], expected: EncodeSettings) -> None:
    assert settings_from_encodings(encodings) == expected
