"""Messages shared by the connection tests and the fuzz state machine: Hypothesis strategies
for every normal-phase message (rfbproto 7.5, 7.6 and the named extensions), garbage that
gets past the dispatch byte, and a driver that drains a connection's events."""

from __future__ import annotations

from hypothesis import strategies as st

from protocol import (
    NEED_DATA,
    Bell,
    ClientConnection,
    ClientCutText,
    ConnectionClosed,
    EnableContinuousUpdates,
    EndOfContinuousUpdates,
    Event,
    Fence,
    FramebufferUpdate,
    FramebufferUpdateRequest,
    KeyEvent,
    PixelFormat,
    PointerEvent,
    QemuAudio,
    QemuExtendedKeyEvent,
    Rectangle,
    Screen,
    ServerConnection,
    ServerCutText,
    SetColourMapEntries,
    SetDesktopSize,
    SetEncodings,
    SetPixelFormat,
    XvpMessage,
)
from protocol.clipboard import (
    ClipboardAction,
    ClipboardCaps,
    ClipboardFormat,
    ClipboardNotify,
    ClipboardPeek,
    ClipboardProvide,
    ClipboardRequest,
)
from protocol.encodings import Encoding, extended_mouse_buttons, qemu_extended_key_event

from .strategies import led_by, pixel_formats

Connection = ServerConnection | ClientConnection

#: BGRX as a PIXEL_FORMAT on the wire (7.4): 32 bpp, depth 24, little endian, true colour,
#: maxima 255, shifts 16, 8, 0, three bytes of padding.
BGRX_WIRE = b"\x20\x18\x00\x01\x00\xff\x00\xff\x00\xff\x10\x08\x00\x00\x00\x00"

#: Message type bytes each side understands (7.5 / 7.6 and extensions), to get past the
#: dispatch byte more often than chance would.
CLIENT_TYPES = [0, 2, 3, 4, 5, 6, 150, 248, 250, 251, 255]
SERVER_TYPES = [0, 1, 2, 3, 150, 248, 250]

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
s32 = st.integers(-(2**31), 2**31 - 1)
latin1 = st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=40)

desktop_screens = st.builds(Screen, u32, u16, u16, u16, u16, u32)

client_messages = st.one_of(
    st.builds(SetPixelFormat, pixel_formats()),
    st.builds(SetEncodings, st.lists(s32, max_size=40)),
    st.builds(FramebufferUpdateRequest, st.booleans(), u16, u16, u16, u16),
    st.builds(KeyEvent, st.booleans(), u32),
    st.builds(PointerEvent, u8, u16, u16),
    st.builds(ClientCutText, latin1),
    st.builds(EnableContinuousUpdates, st.booleans(), u16, u16, u16, u16),
    st.builds(Fence, u32, st.binary(max_size=64)),
    st.builds(XvpMessage, u8, u8),
    st.builds(SetDesktopSize, u16, u16, st.lists(desktop_screens, max_size=4)),
    st.builds(QemuExtendedKeyEvent, st.booleans(), u32, u32),
    st.builds(QemuAudio, st.sampled_from([0, 1])),
    st.builds(QemuAudio, st.just(2), u8, u8, u32),
)


@st.composite
def raw_rectangles(draw: st.DrawFn, size: tuple[int, int], pixel_format: PixelFormat) -> Rectangle:
    """A Raw rectangle inside a framebuffer of ``size`` with a payload of the right length."""
    x = draw(st.integers(0, size[0]))
    y = draw(st.integers(0, size[1]))
    width = draw(st.integers(0, min(12, size[0] - x)))
    height = draw(st.integers(0, min(12, size[1] - y)))
    length = width * height * pixel_format.bytes_per_pixel
    payload = draw(st.binary(min_size=length, max_size=length))
    return Rectangle(x, y, width, height, Encoding.RAW, payload)


def updates(size: tuple[int, int], pixel_format: PixelFormat) -> st.SearchStrategy[Event]:
    rectangles = st.lists(raw_rectangles(size, pixel_format), max_size=4)
    last_rect = st.sampled_from([[], [Rectangle(0, 0, 0, 0, Encoding.LAST_RECT)]])
    return st.builds(lambda rs, end: FramebufferUpdate(rs + end), rectangles, last_rect)


def server_messages(size: tuple[int, int], pixel_format: PixelFormat) -> st.SearchStrategy[Event]:
    """Messages a server may send a client whose framebuffer has ``size`` and ``pixel_format``."""
    return st.one_of(
        updates(size, pixel_format),
        st.builds(SetColourMapEntries, u16, st.lists(st.tuples(u16, u16, u16), max_size=8)),
        st.just(Bell()),
        st.builds(ServerCutText, latin1),
        st.just(EndOfContinuousUpdates()),
        st.builds(Fence, u32, st.binary(max_size=64)),
        st.builds(XvpMessage, u8, u8),
    )


#: The pseudo-encodings that change message layouts once negotiated (rfbproto 'Extended
#: Clipboard Pseudo-Encoding', 'ExtendedMouseButtons Pseudo-encoding'), and QEMU key events.
EXTENSIONS = (
    Encoding.EXTENDED_CLIPBOARD,
    Encoding.EXTENDED_MOUSE_BUTTONS,
    Encoding.QEMU_EXTENDED_KEY_EVENT,
)


def negotiate(server: ServerConnection, client: ClientConnection) -> None:
    """What noVNC and TigerVNC go through first: the client asks for ``EXTENSIONS`` and the
    server confirms those that need confirming with their empty rectangles."""
    server.receive_data(client.send(SetEncodings(EXTENSIONS)))
    assert server.next_event() == SetEncodings(EXTENSIONS)
    confirmations = FramebufferUpdate([extended_mouse_buttons(), qemu_extended_key_event()])
    client.receive_data(server.send(confirmations))
    assert client.next_event() == confirmations


#: Button masks of extended PointerEvents: buttons 1-7 plus back, forward and the reserved.
extended_masks = st.integers(0, 0x7FFF)

#: A set of the five named format bits (a receiver leaves the reserved ones out of a set),
#: and one format bit (named or reserved: a Caps or Provide lists them one by one).
format_sets = st.integers(0, 0x1F).map(ClipboardFormat)
format_bits = st.integers(0, 15).map(lambda bit: ClipboardFormat(1 << bit))
#: Actions a ClipboardCaps may list: request, peek, notify, provide and the reserved 29-31.
caps_actions = st.integers(0, 0x7F).map(lambda bits: ClipboardAction(bits << 25))

clipboard_messages = st.one_of(
    st.builds(ClipboardCaps, st.dictionaries(format_bits, u32, max_size=16), caps_actions),
    st.builds(ClipboardRequest, format_sets),
    st.just(ClipboardPeek()),
    st.builds(ClipboardNotify, format_sets),
    st.builds(ClipboardProvide, st.dictionaries(format_bits, st.binary(max_size=300), max_size=6)),
)


def garbage(types: list[int], *prefixes: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Bytes that are noise, or noise after a message type in ``types`` or a ``prefix``."""
    typed = led_by(st.sampled_from(types), max_size=None)
    pieces = st.one_of(st.binary(max_size=40), typed, *prefixes)
    return st.lists(pieces, min_size=1, max_size=6).map(b"".join)


def drain(
    conn: Connection, chunk: bytes, events: list[Event], budget: float = float("inf")
) -> None:
    """Feed ``chunk`` and append the events it completes (kept even if an error follows),
    stopping at ConnectionClosed; more than ``budget`` events in all means a loop."""
    conn.receive_data(chunk)
    while (event := conn.next_event()) is not NEED_DATA:
        events.append(event)
        assert len(events) <= budget, "events without input: a loop"
        if isinstance(event, ConnectionClosed):
            break
