"""Keyboard and mouse extensions: the LED State rectangles (rfbproto 'QEMU LED State
Pseudo-encoding', 'VMware LED State Pseudo-encoding'), the confirmations of QEMU Extended Key
Events and ExtendedMouseButtons, and the extended PointerEvent the latter allows."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import (
    BGRX,
    NEED_DATA,
    Framebuffer,
    FramebufferUpdate,
    LocalProtocolError,
    PointerEvent,
    Rectangle,
    RemoteProtocolError,
    SetEncodings,
)
from protocol.encodings import (
    Encoding,
    LedState,
    extended_mouse_buttons,
    led_state,
    make_decoder,
    qemu_extended_key_event,
    qemu_led_state,
    vmware_led_state,
)

from .messages import CLIENT_TYPES, drain, extended_masks, garbage, negotiate, u16
from .roundtrip import feed
from .test_fuzz import check

CAPS, NUM, SCROLL = LedState.CAPS_LOCK, LedState.NUM_LOCK, LedState.SCROLL_LOCK
#: An empty rectangle header: x, y, width, height all 0 (TigerVNC's SMsgWriter writes these).
EMPTY = b"\x00" * 8

# --- The rectangles -------------------------------------------------------------------------

RECTANGLES = [
    # -261 is 0xfffffefb; one U8: bit 0 scroll, 1 num, 2 caps lock.
    (qemu_led_state(CAPS | NUM), EMPTY + b"\xff\xff\xfe\xfb" + b"\x06"),
    (qemu_led_state(LedState(0)), EMPTY + b"\xff\xff\xfe\xfb" + b"\x00"),
    # 0x574d5668 and one U32 of the same bits.
    (vmware_led_state(SCROLL), EMPTY + b"\x57\x4d\x56\x68" + b"\x00\x00\x00\x01"),
    (qemu_extended_key_event(), EMPTY + b"\xff\xff\xfe\xfe"),  # -258
    (extended_mouse_buttons(), EMPTY + b"\xff\xff\xfe\xc4"),  # -316
]


@pytest.mark.parametrize(("rectangle", "wire"), RECTANGLES)
def test_rectangle_bytes(rectangle: Rectangle, wire: bytes, pair) -> None:
    server, client = pair()
    update = FramebufferUpdate([rectangle])
    assert server.send(update) == b"\x00\x00\x00\x01" + wire
    client.receive_data(b"\x00\x00\x00\x01" + wire)
    assert client.next_event() == update


def test_an_update_of_every_rectangle_one_byte_at_a_time(pair) -> None:
    server, client = pair()
    pixels = Rectangle(1, 1, 1, 1, Encoding.RAW, b"\x01\x02\x03\x00")
    update = FramebufferUpdate([r for r, _ in RECTANGLES] + [pixels])
    wire = server.send(update)
    received: list = []
    for i in range(len(wire)):
        drain(client, wire[i : i + 1], received)
    assert received == [update]
    framebuffer = Framebuffer.blank(64, 48)
    client.apply_update(update, framebuffer)
    assert framebuffer.pixels[1, 1, :3].tolist() == [1, 2, 3]


@pytest.mark.parametrize(
    ("rectangle", "state"),
    [
        (Rectangle(0, 0, 0, 0, Encoding.QEMU_LED_STATE, b"\x05"), CAPS | SCROLL),
        (Rectangle(0, 0, 0, 0, Encoding.QEMU_LED_STATE, b"\xfa"), NUM),  # reserved bits
        (Rectangle(9, 9, 9, 9, Encoding.VMWARE_LED_STATE, b"\x00\x00\x00\x04"), CAPS),
        (Rectangle(0, 0, 0, 0, Encoding.VMWARE_LED_STATE, b"\xff\xff\xff\xf8"), LedState(0)),
    ],
)
def test_led_state_reads_the_three_lock_keys(rectangle: Rectangle, state: LedState) -> None:
    assert led_state(rectangle) == state


def test_builders_never_send_reserved_bits() -> None:
    assert qemu_led_state(LedState(0xFF)).payload == b"\x07"
    assert vmware_led_state(LedState(0xFF)).payload == b"\x00\x00\x00\x07"


@pytest.mark.parametrize(
    "rectangle",
    [
        Rectangle(0, 0, 0, 0, Encoding.QEMU_LED_STATE, b""),
        Rectangle(0, 0, 0, 0, Encoding.QEMU_LED_STATE, b"\x00\x00"),
        Rectangle(0, 0, 0, 0, Encoding.VMWARE_LED_STATE, b"\x00"),
    ],
)
def test_a_malformed_led_payload_is_refused(rectangle: Rectangle) -> None:
    with pytest.raises(RemoteProtocolError, match="LED state rectangle of"):
        led_state(rectangle)
    with pytest.raises(RemoteProtocolError):
        make_decoder(rectangle.encoding).decode(rectangle, BGRX, Framebuffer.blank(1, 1))


@pytest.mark.parametrize("encoding", [Encoding.QEMU_LED_STATE, Encoding.VMWARE_LED_STATE])
def test_led_decoders_read_exactly_their_flags(encoding: int) -> None:
    header = Rectangle(0, 0, 0, 0, encoding)
    size = 1 if encoding == Encoding.QEMU_LED_STATE else 4
    reader = make_decoder(encoding).read_payload(header, BGRX)
    assert feed(reader, [b"\x01"] * size) == b"\x01" * size


# --- Confirmations --------------------------------------------------------------------------


def test_confirmations_are_learnt_by_both_ends(pair) -> None:
    server, client = pair()
    assert not server.extended_mouse_buttons and not client.qemu_extended_key_events
    negotiate(server, client)
    for end in (server, client):
        assert end.extended_mouse_buttons and end.qemu_extended_key_events


def test_asking_is_not_enough_the_server_must_confirm(pair) -> None:
    """rfbproto: before the rectangle, the client keeps the marker bit 0; bit 7 is back."""
    server, client = pair()
    server.receive_data(client.send(SetEncodings([Encoding.EXTENDED_MOUSE_BUTTONS])))
    server.next_event()
    assert not server.extended_mouse_buttons
    assert client.send(PointerEvent(0x80, 1, 2)) == b"\x05\x80\x00\x01\x00\x02"
    server.receive_data(b"\x05\x80\x00\x01\x00\x02")
    assert server.next_event() == PointerEvent(0x80, 1, 2)


# --- Extended PointerEvent ------------------------------------------------------------------

POINTER_GOLDEN = [
    # Buttons 1-7 need no extra byte: the marker stays 0, as TigerVNC and noVNC send them.
    (PointerEvent(0x7F, 10, 20), b"\x05\x7f\x00\x0a\x00\x14"),
    # Back (bit 7): the marker, then extra byte bit 0.
    (PointerEvent(0x80, 10, 20), b"\x05\x80\x00\x0a\x00\x14\x01"),
    # Forward (bit 8): extra byte bit 1.
    (PointerEvent(0x100, 10, 20), b"\x05\x80\x00\x0a\x00\x14\x02"),
    # Left, back and forward.
    (PointerEvent(0x181, 10, 20), b"\x05\x81\x00\x0a\x00\x14\x03"),
    # Every bit, the reserved ones included.
    (PointerEvent(0x7FFF, 0xFFFF, 0), b"\x05\xff\xff\xff\x00\x00\xff"),
]


@pytest.mark.parametrize(("event", "wire"), POINTER_GOLDEN)
def test_extended_pointer_event_bytes(event: PointerEvent, wire: bytes, pair) -> None:
    server, client = pair()
    negotiate(server, client)
    assert client.send(event) == wire
    received: list = []
    for i in range(len(wire)):
        drain(server, wire[i : i + 1], received)
    assert received == [event]


def test_without_confirmation_buttons_past_8_cannot_be_sent(pair) -> None:
    _, client = pair()
    with pytest.raises(LocalProtocolError, match="needs ExtendedMouseButtons"):
        client.send(PointerEvent(0x100, 0, 0))


def test_the_extra_byte_is_awaited(pair) -> None:
    server, client = pair()
    negotiate(server, client)
    server.receive_data(b"\x05\x80\x00\x0a\x00\x14")
    assert server.next_event() is NEED_DATA
    server.receive_data(b"\x02\x05\x01\x00\x00\x00\x00")
    assert server.next_event() == PointerEvent(0x100, 10, 20)
    assert server.next_event() == PointerEvent(0x01, 0, 0)


@settings(max_examples=200, deadline=None)
@given(
    masks=st.lists(st.tuples(extended_masks, u16, u16), min_size=1, max_size=6),
    confirmed=st.booleans(),
)
def test_pointer_events_round_trip(masks, confirmed: bool, pair) -> None:
    server, client = pair()
    if confirmed:
        negotiate(server, client)
    events = [PointerEvent(m if confirmed else m & 0xFF, x, y) for m, x, y in masks]
    server.receive_data(b"".join(client.send(event) for event in events))
    assert [server.next_event() for _ in events] == events
    assert server.next_event() is NEED_DATA


# --- Garbage --------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(data=garbage(CLIENT_TYPES, st.just(b"\x05\x80")), eof=st.booleans())
def test_server_survives_garbage_after_the_confirmation(data: bytes, eof: bool, pair) -> None:
    def make():
        server, client = pair()
        negotiate(server, client)
        return server

    check(make, data, eof)
