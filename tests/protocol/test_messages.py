"""Normal-phase messages (rfbproto 7.5, 7.6 and the named extensions): golden bytes both ways,
Hypothesis round trips, limits, rectangle bounds and applying updates."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import (
    BGRX,
    NEED_DATA,
    Bell,
    ClientCutText,
    EnableContinuousUpdates,
    EndOfContinuousUpdates,
    Event,
    Fence,
    Framebuffer,
    FramebufferUpdate,
    FramebufferUpdateRequest,
    KeyEvent,
    LocalProtocolError,
    PointerEvent,
    QemuAudio,
    QemuExtendedKeyEvent,
    Rectangle,
    RemoteProtocolError,
    Screen,
    ServerCutText,
    SetColourMapEntries,
    SetDesktopSize,
    SetEncodings,
    SetPixelFormat,
    XvpMessage,
)
from protocol.encodings import Encoding

from .messages import BGRX_WIRE, client_messages, server_messages
from .roundtrip import RGB565

# --- Golden bytes ---------------------------------------------------------------------------

CLIENT_GOLDEN = [
    (SetPixelFormat(BGRX), b"\x00\x00\x00\x00" + BGRX_WIRE),
    (
        SetEncodings((0, 1, -223, -239)),
        b"\x02\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x01\xff\xff\xff\x21\xff\xff\xff\x11",
    ),
    (FramebufferUpdateRequest(True, 1, 2, 300, 400), b"\x03\x01\x00\x01\x00\x02\x01\x2c\x01\x90"),
    (KeyEvent(True, 0x61), b"\x04\x01\x00\x00\x00\x00\x00\x61"),
    (KeyEvent(False, 0xFF0D), b"\x04\x00\x00\x00\x00\x00\xff\x0d"),
    (PointerEvent(1, 10, 20), b"\x05\x01\x00\x0a\x00\x14"),
    (ClientCutText("hé"), b"\x06\x00\x00\x00\x00\x00\x00\x02h\xe9"),
    (EnableContinuousUpdates(True, 0, 0, 640, 480), b"\x96\x01\x00\x00\x00\x00\x02\x80\x01\xe0"),
    (Fence(0x80000001, b"ab"), b"\xf8\x00\x00\x00\x80\x00\x00\x01\x02ab"),
    (XvpMessage(1, 2), b"\xfa\x00\x01\x02"),
    (
        SetDesktopSize(800, 600, [Screen(1, 0, 0, 800, 600, 0)]),
        b"\xfb\x00\x03\x20\x02\x58\x01\x00"
        b"\x00\x00\x00\x01\x00\x00\x00\x00\x03\x20\x02\x58\x00\x00\x00\x00",
    ),
    (QemuExtendedKeyEvent(True, 0x41, 0x1E), b"\xff\x00\x00\x01\x00\x00\x00\x41\x00\x00\x00\x1e"),
    (QemuAudio(0), b"\xff\x01\x00\x00"),
    (QemuAudio(1), b"\xff\x01\x00\x01"),
    (QemuAudio(2, 3, 2, 44100), b"\xff\x01\x00\x02\x03\x02\x00\x00\xac\x44"),
]

RAW_2X1 = Rectangle(1, 2, 2, 1, Encoding.RAW, bytes(range(8)))
RAW_2X1_WIRE = b"\x00\x01\x00\x02\x00\x02\x00\x01\x00\x00\x00\x00" + bytes(range(8))

SERVER_GOLDEN = [
    (FramebufferUpdate([RAW_2X1]), b"\x00\x00\x00\x01" + RAW_2X1_WIRE),
    (FramebufferUpdate([]), b"\x00\x00\x00\x00"),
    (
        FramebufferUpdate([RAW_2X1, Rectangle(0, 0, 0, 0, Encoding.LAST_RECT)]),
        b"\x00\x00\xff\xff" + RAW_2X1_WIRE + b"\x00" * 8 + b"\xff\xff\xff\x20",
    ),
    (
        FramebufferUpdate([Rectangle(0, 0, 100, 80, Encoding.DESKTOP_SIZE)]),
        b"\x00\x00\x00\x01\x00\x00\x00\x00\x00\x64\x00\x50\xff\xff\xff\x21",
    ),
    (
        SetColourMapEntries(5, [(0xFFFF, 0, 0x8000)]),
        b"\x01\x00\x00\x05\x00\x01\xff\xff\x00\x00\x80\x00",
    ),
    (Bell(), b"\x02"),
    (ServerCutText("hi"), b"\x03\x00\x00\x00\x00\x00\x00\x02hi"),
    (EndOfContinuousUpdates(), b"\x96"),
    (Fence(0, b""), b"\xf8\x00\x00\x00\x00\x00\x00\x00\x00"),
    (XvpMessage(1, 1), b"\xfa\x00\x01\x01"),
]


@pytest.mark.parametrize(("event", "wire"), CLIENT_GOLDEN)
def test_client_message_bytes(event: Event, wire: bytes, pair) -> None:
    server, client = pair()
    assert client.send(event) == wire
    server.receive_data(wire)
    assert server.next_event() == event
    assert server.next_event() is NEED_DATA


@pytest.mark.parametrize(("event", "wire"), SERVER_GOLDEN)
def test_server_message_bytes(event: Event, wire: bytes, pair) -> None:
    server, client = pair()
    assert server.send(event) == wire
    client.receive_data(wire)
    assert client.next_event() == event
    assert client.next_event() is NEED_DATA


# --- Round trips ----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(messages=st.lists(client_messages, min_size=1, max_size=5))
def test_client_messages_round_trip(messages: list[Event], pair) -> None:
    server, client = pair()
    wire = b"".join(client.send(message) for message in messages)
    server.receive_data(wire)
    assert [server.next_event() for _ in messages] == messages
    assert server.next_event() is NEED_DATA
    assert server.pixel_format == client.pixel_format


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_server_messages_round_trip(data: st.DataObject, pair) -> None:
    server, client = pair()
    # Updates use the format the client asked for: switch to a 16-bit one first, sometimes.
    if data.draw(st.booleans()):
        server.receive_data(client.send(SetPixelFormat(RGB565)))
        assert server.next_event() == SetPixelFormat(RGB565)
    assert client.pixel_format is not None and client.framebuffer_size is not None
    strategy = server_messages(client.framebuffer_size, client.pixel_format)
    messages = data.draw(st.lists(strategy, min_size=1, max_size=4))
    wire = b"".join(server.send(message) for message in messages)
    # Split anywhere: a reader resumes where the bytes stopped.
    cut = data.draw(st.integers(1, len(wire)))
    received = []
    for chunk in (wire[:cut], wire[cut:]):
        if chunk:  # b"" would mean EOF
            client.receive_data(chunk)
        while (event := client.next_event()) is not NEED_DATA:
            received.append(event)
    assert received == messages


# --- Limits ---------------------------------------------------------------------------------


def test_set_encodings_count_is_refused_as_soon_as_the_header_is_in(pair) -> None:
    server, _ = pair()
    server.receive_data(b"\x02\x00\xea")
    assert server.next_event() is NEED_DATA
    server.receive_data(b"\x60")  # count 60000: no encoding has arrived yet
    with pytest.raises(RemoteProtocolError, match="60000 encodings exceeds the limit of 1024"):
        server.next_event()


def test_set_encodings_limit_is_configurable(pair) -> None:
    server, client = pair(max_encodings=2)
    server.receive_data(client.send(SetEncodings((0, 1))))
    assert server.next_event() == SetEncodings((0, 1))
    server.receive_data(b"\x02\x00\x00\x03")
    with pytest.raises(RemoteProtocolError, match="3 encodings exceeds the limit of 2"):
        server.next_event()


def _feed_in_chunks(conn, total: int, chunk: bytes) -> None:
    for _ in range(total // len(chunk)):
        conn.receive_data(chunk)
        assert conn.next_event() is NEED_DATA


def test_huge_client_cut_text_is_skipped_without_allocating(pair) -> None:
    server, _ = pair()
    chunk = b"x" * 65536
    handshake_bytes = server.statistics().bytes_received
    tracemalloc.start()
    try:
        server.receive_data(b"\x06\x00\x00\x00" + (2**31 - 1).to_bytes(4, "big"))
        assert server.next_event() is NEED_DATA
        _feed_in_chunks(server, 4 << 20, chunk)  # 4 MiB of a 2 GiB clipboard
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 512 << 10  # a few chunks at most, never the announced length
    assert server.statistics().bytes_received - handshake_bytes == 8 + (4 << 20)


def test_oversized_cut_text_is_counted_and_the_stream_continues(pair) -> None:
    server, client = pair(max_cut_text=100_000)
    server.receive_data(b"\x06\x00\x00\x00" + (200_000).to_bytes(4, "big"))
    _feed_in_chunks(server, 200_000, b"y" * 1000)
    server.receive_data(client.send(KeyEvent(True, 0x61)))
    assert server.next_event() == KeyEvent(True, 0x61)
    assert server.statistics().cut_text_skipped == 1
    # Within the limit, text is delivered.
    server.receive_data(client.send(ClientCutText("z" * 100_000)))
    assert server.next_event() == ClientCutText("z" * 100_000)


@pytest.mark.parametrize("length", [2**31, 2**32 - 1])
def test_a_negative_cut_text_length_without_the_extension_is_an_error(pair, length) -> None:
    """Extended Clipboard's negative lengths before the viewer announced it: no text is that
    long, so the viewer is closed at once rather than read for gigabytes."""
    server, _ = pair()
    server.receive_data(b"\x06\x00\x00\x00" + length.to_bytes(4, "big"))
    with pytest.raises(RemoteProtocolError, match=f"ClientCutText of {length} bytes: a negative"):
        server.next_event()


def test_oversized_server_cut_text_is_skipped_by_the_client(pair) -> None:
    server, client = pair(max_cut_text=4)
    client.receive_data(server.send(ServerCutText("too long")) + server.send(Bell()))
    assert client.next_event() == Bell()
    assert client.statistics().cut_text_skipped == 1


def test_fence_payload_over_64_bytes_is_refused(pair) -> None:
    server, _ = pair()
    server.receive_data(b"\xf8\x00\x00\x00\x00\x00\x00\x00\x41")
    with pytest.raises(RemoteProtocolError, match="fence payload of 65 bytes"):
        server.next_event()


# --- Malformed client messages --------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"\x07", "unknown client message type 7"),
        (b"\x01", "unknown client message type 1"),
        (b"\xff\x02", "unknown QEMU client message subtype 2"),
        (b"\xff\x01\x00\x03", "unknown QEMU audio operation 3"),
        (b"\x00\x00\x00\x00\x18" + BGRX_WIRE[1:], "invalid pixel format in SetPixelFormat"),
    ],
)
def test_malformed_client_messages(wire: bytes, message: str, pair) -> None:
    server, _ = pair()
    server.receive_data(wire)
    with pytest.raises(RemoteProtocolError, match=message):
        server.next_event()


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"\x04", "unknown server message type 4"),
        (b"\x00\x00\x00\x01\x00\x00\x00\x00\x00\x01\x00\x01\x00\x00\x03\xe7", "unknown encoding"),
    ],
)
def test_malformed_server_messages(wire: bytes, message: str, pair) -> None:
    _, client = pair()
    client.receive_data(wire)
    with pytest.raises(RemoteProtocolError, match=message):
        client.next_event()


@pytest.mark.parametrize(
    "event",
    [
        SetEncodings(range(0x10000)),
        QemuAudio(3),
        QemuAudio(0, 1, 2, 3),
    ],
)
def test_events_the_wire_cannot_carry_are_refused(event: Event, pair) -> None:
    _, client = pair()
    with pytest.raises(LocalProtocolError, match="cannot send"):
        client.send(event)


def test_last_rect_must_be_last(pair) -> None:
    server, _ = pair()
    marker = Rectangle(0, 0, 0, 0, Encoding.LAST_RECT)
    with pytest.raises(LocalProtocolError, match="LastRect may only be the last"):
        server.send(FramebufferUpdate([marker, RAW_2X1]))


def test_last_rect_ends_the_update_before_the_count(pair) -> None:
    """The count says two; the LastRect marker (first) ends the update anyway."""
    _, client = pair()
    client.receive_data(b"\x00\x00\x00\x02" + b"\x00" * 8 + b"\xff\xff\xff\x20" + b"\x02")
    assert client.next_event() == FramebufferUpdate([Rectangle(0, 0, 0, 0, Encoding.LAST_RECT)])
    assert client.next_event() == Bell()


# --- Framebuffer size and pixel format tracking ---------------------------------------------


def test_rectangle_outside_the_framebuffer_is_refused_before_its_payload(pair) -> None:
    server, client = pair()  # 64 x 48
    client.receive_data(b"\x00\x00\x00\x01" + b"\x00\x3f\x00\x00\x00\x02\x00\x01\x00\x00\x00\x00")
    with pytest.raises(RemoteProtocolError, match="outside the 64x48 framebuffer"):
        client.next_event()
    outside = Rectangle(0, 40, 1, 9, Encoding.RAW, bytes(36))
    with pytest.raises(LocalProtocolError, match="outside the 64x48 framebuffer"):
        server.send(FramebufferUpdate([outside]))


def test_desktop_size_changes_the_bounds(pair) -> None:
    server, client = pair()
    grow = Rectangle(0, 0, 200, 100, Encoding.DESKTOP_SIZE)
    wide = Rectangle(150, 90, 50, 10, Encoding.RAW, bytes(50 * 10 * 4))
    client.receive_data(server.send(FramebufferUpdate([grow, wide])))
    assert client.next_event() == FramebufferUpdate([grow, wide])
    assert client.framebuffer_size == server.framebuffer_size == (200, 100)


def test_refused_extended_desktop_size_keeps_the_size(pair) -> None:
    """Both ends track the size with the same rule; the server's send shows it."""
    server, _ = pair()
    payload = b"\x00" * 4  # zero screens
    refused = Rectangle(1, 3, 999, 999, Encoding.EXTENDED_DESKTOP_SIZE, payload)
    server.send(FramebufferUpdate([refused]))
    assert server.framebuffer_size == (64, 48)
    accepted = Rectangle(1, 0, 320, 200, Encoding.EXTENDED_DESKTOP_SIZE, payload)
    server.send(FramebufferUpdate([accepted]))
    assert server.framebuffer_size == (320, 200)


def test_pixel_format_follows_set_pixel_format(pair) -> None:
    server, client = pair()
    assert server.pixel_format == client.pixel_format == BGRX
    server.receive_data(client.send(SetPixelFormat(RGB565)))
    assert client.pixel_format == RGB565
    assert server.pixel_format == BGRX  # not yet read
    server.next_event()
    assert server.pixel_format == RGB565
    # Raw payloads are now 2 bytes per pixel.
    rectangle = Rectangle(0, 0, 3, 1, Encoding.RAW, bytes(6))
    client.receive_data(server.send(FramebufferUpdate([rectangle])))
    assert client.next_event() == FramebufferUpdate([rectangle])


def test_apply_update_draws_raw_pixels(pair) -> None:
    server, client = pair()
    pixels = bytes([10, 20, 30, 0, 40, 50, 60, 0])
    client.receive_data(server.send(FramebufferUpdate([Rectangle(5, 7, 2, 1, 0, pixels)])))
    update = client.next_event()
    framebuffer = Framebuffer.blank(64, 48)
    client.apply_update(update, framebuffer)
    expected = np.frombuffer(pixels, np.uint8).reshape(1, 2, 4)
    assert (framebuffer.pixels[7:8, 5:7, :3] == expected[..., :3]).all()
    assert framebuffer.pixels[:7].max() == 0


def test_statistics_count_both_directions(pair) -> None:
    server, client = pair()
    before = server.statistics()
    server.receive_data(client.send(PointerEvent(0, 1, 2)))
    server.next_event()
    client.receive_data(server.send(Bell()))
    client.next_event()
    after = server.statistics()
    assert after.bytes_received - before.bytes_received == 6
    assert after.messages_received - before.messages_received == 1
    assert after.bytes_sent - before.bytes_sent == 1
    assert after.messages_sent - before.messages_sent == 1
    assert client.statistics().bytes_received == server.statistics().bytes_sent
