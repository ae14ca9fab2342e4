"""One frozen class per RFB message or handshake step (rfbproto sections cited per class).

Events are validated on construction, so a malformed event can neither be sent nor received:
the receiving side turns a ``ValueError`` raised here into ``RemoteProtocolError``, the sending
side into ``LocalProtocolError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from ._pixelformat import PixelFormat

U8 = (0, 0xFF)
U16 = (0, 0xFFFF)
U32 = (0, 0xFFFFFFFF)
S32 = (-0x80000000, 0x7FFFFFFF)


def _in_range(bounds: tuple[int, int]):
    low, high = bounds

    def check(instance: object, attribute: attrs.Attribute, value: int) -> None:
        if not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{attribute.name}={value!r} is outside {low}..{high}")

    return check


def _all_in_range(bounds: tuple[int, int]):
    single = _in_range(bounds)

    def check(instance: object, attribute: attrs.Attribute, values: tuple[int, ...]) -> None:
        for value in values:
            single(instance, attribute, value)

    return check


def _latin1(instance: object, attribute: attrs.Attribute, value: str) -> None:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError as error:
        raise ValueError(f"{attribute.name} must be Latin-1 text") from error


def _exact_length(n: int):
    def check(instance: object, attribute: attrs.Attribute, value: bytes) -> None:
        if len(value) != n:
            raise ValueError(f"{attribute.name} must be {n} bytes, got {len(value)}")

    return check


event = attrs.frozen(slots=True, kw_only=False)


class Event:
    """Marker base class so callers can ``isinstance(x, Event)``."""

    __slots__ = ()


# --- Handshake (rfbproto 7.1, 7.2, 7.3) ----------------------------------------------


@event
class ProtocolVersion(Event):
    """7.1.1: 'RFB xxx.yyy\\n'. Sent by both sides; the client's reply picks the version."""

    major: int = attrs.field(validator=_in_range((0, 999)))
    minor: int = attrs.field(validator=_in_range((0, 999)))


@event
class SecurityTypes(Event):
    """7.1.2: the security types the server offers (3.3: the one type it decided)."""

    types: tuple[int, ...] = attrs.field(converter=tuple, validator=_all_in_range((1, 255)))

    @types.validator
    def _not_empty(self, attribute: attrs.Attribute, value: tuple[int, ...]) -> None:
        if not 1 <= len(value) <= 255:
            raise ValueError("offer between 1 and 255 security types")


@event
class HandshakeFailed(Event):
    """7.1.2: zero security types (3.3: type 0) followed by a reason; the server then closes."""

    reason: str


@event
class SecurityTypeChosen(Event):
    """7.1.2 (3.7+): the client's pick among the offered types."""

    type: int = attrs.field(validator=_in_range((1, 255)))


@event
class VncAuthChallenge(Event):
    """7.2.2: 16 random bytes the client must DES-encrypt with its password."""

    challenge: bytes = attrs.field(validator=_exact_length(16))


@event
class VncAuthResponse(Event):
    """7.2.2: the client's encrypted challenge."""

    response: bytes = attrs.field(validator=_exact_length(16))


@event
class SecurityResult(Event):
    """7.1.3: OK or failed; 3.8 adds a reason string to a failure."""

    ok: bool
    reason: str = ""


@event
class ClientInit(Event):
    """7.3.1: whether the client agrees to share the desktop with other viewers."""

    shared: bool


@attrs.frozen(slots=True)
class Capability:
    """rfbproto 'Tight Security Type': a CAPABILITY names a tunnel, an authentication, a
    message or an encoding by its code, 4-byte vendor and 8-byte signature (all three must
    match before a peer uses it)."""

    code: int = attrs.field(validator=_in_range(S32))
    vendor: bytes = attrs.field(validator=_exact_length(4))
    signature: bytes = attrs.field(validator=_exact_length(8))


@attrs.frozen(slots=True)
class InteractionCapabilities:
    """rfbproto 'ServerInit', after Tight security: the messages (beyond the standard ones)
    and the encodings the server supports. Empty unless the Tight type was chosen."""

    server_messages: tuple[Capability, ...] = attrs.field(default=(), converter=tuple)
    client_messages: tuple[Capability, ...] = attrs.field(default=(), converter=tuple)
    encodings: tuple[Capability, ...] = attrs.field(default=(), converter=tuple)


@event
class ServerInit(Event):
    """7.3.2: framebuffer size, the server's pixel format and the desktop name (UTF-8);
    after Tight security, the server's interaction capabilities follow."""

    width: int = attrs.field(validator=_in_range(U16))
    height: int = attrs.field(validator=_in_range(U16))
    pixel_format: PixelFormat
    name: str
    capabilities: InteractionCapabilities = InteractionCapabilities()


# --- Client to server (rfbproto 7.5) ---------------------------------------------------


@event
class SetPixelFormat(Event):
    """7.5.1."""

    pixel_format: PixelFormat


@event
class SetEncodings(Event):
    """7.5.2: encodings in the client's order of preference (signed 32-bit numbers)."""

    encodings: tuple[int, ...] = attrs.field(converter=tuple, validator=_all_in_range(S32))


@event
class FramebufferUpdateRequest(Event):
    """7.5.3."""

    incremental: bool
    x: int = attrs.field(validator=_in_range(U16))
    y: int = attrs.field(validator=_in_range(U16))
    width: int = attrs.field(validator=_in_range(U16))
    height: int = attrs.field(validator=_in_range(U16))


@event
class KeyEvent(Event):
    """7.5.4: an X keysym pressed or released."""

    down: bool
    keysym: int = attrs.field(validator=_in_range(U32))


@event
class PointerEvent(Event):
    """7.5.5: bit n of the mask is button n+1 (4/5 wheel up/down, 6/7 left/right, 8 back).
    Bits 8-14 (9 forward, 10-15 reserved) need rfbproto 'ExtendedMouseButtons', whose extra
    byte carries bits 7-14: the mask noVNC and TigerVNC keep, so back is bit 7 either way."""

    button_mask: int = attrs.field(validator=_in_range((0, 0x7FFF)))
    x: int = attrs.field(validator=_in_range(U16))
    y: int = attrs.field(validator=_in_range(U16))


@event
class ClientCutText(Event):
    """7.5.6: clipboard text, Latin-1 on the wire."""

    text: str = attrs.field(validator=_latin1)


@event
class EnableContinuousUpdates(Event):
    """7.5.9 (type 150)."""

    enable: bool
    x: int = attrs.field(validator=_in_range(U16))
    y: int = attrs.field(validator=_in_range(U16))
    width: int = attrs.field(validator=_in_range(U16))
    height: int = attrs.field(validator=_in_range(U16))


@event
class Fence(Event):
    """7.5.8 / 7.6.7 (type 248), both directions: flags and at most 64 bytes of payload."""

    flags: int = attrs.field(validator=_in_range(U32))
    payload: bytes = attrs.field(default=b"")

    @payload.validator
    def _short(self, attribute: attrs.Attribute, value: bytes) -> None:
        if len(value) > 64:
            raise ValueError("a fence payload is at most 64 bytes")


@event
class XvpMessage(Event):
    """7.5.10 / 7.6.8 (type 250): version and code (client: 2 shutdown, 3 reboot, 4 reset;
    server: 0 fail, 1 init)."""

    version: int = attrs.field(validator=_in_range(U8))
    code: int = attrs.field(validator=_in_range(U8))


@event
class Screen(Event):
    """One screen of the ExtendedDesktopSize layout (7.8.2)."""

    id: int = attrs.field(validator=_in_range(U32))
    x: int = attrs.field(validator=_in_range(U16))
    y: int = attrs.field(validator=_in_range(U16))
    width: int = attrs.field(validator=_in_range(U16))
    height: int = attrs.field(validator=_in_range(U16))
    flags: int = attrs.field(default=0, validator=_in_range(U32))


@event
class SetDesktopSize(Event):
    """7.5.11 (type 251): the client asks for a new framebuffer size and screen layout."""

    width: int = attrs.field(validator=_in_range(U16))
    height: int = attrs.field(validator=_in_range(U16))
    screens: tuple[Screen, ...] = attrs.field(converter=tuple)

    @screens.validator
    def _count(self, attribute: attrs.Attribute, value: tuple[Screen, ...]) -> None:
        if len(value) > 255:
            raise ValueError("at most 255 screens")


@event
class QemuExtendedKeyEvent(Event):
    """7.5.13 (type 255, subtype 0): a key with its XT scancode as well as its keysym."""

    down: bool
    keysym: int = attrs.field(validator=_in_range(U32))
    keycode: int = attrs.field(validator=_in_range(U32))


@event
class QemuAudio(Event):
    """7.5.14 (type 255, subtype 1): 0 enable, 1 disable, 2 set format (with its fields)."""

    operation: int = attrs.field(validator=_in_range(U16))
    sample_format: int = attrs.field(default=0, validator=_in_range(U8))
    channels: int = attrs.field(default=0, validator=_in_range(U8))
    frequency: int = attrs.field(default=0, validator=_in_range(U32))


# --- Server to client (rfbproto 7.6) ---------------------------------------------------


@event
class Rectangle(Event):
    """One rectangle of a FramebufferUpdate: header fields plus the encoding's payload bytes,
    exactly as on the wire. Decoding the payload into pixels is the decoder's job
    (``protocol.encodings``), so proxies and recorders can pass rectangles through untouched.
    Pseudo-encodings reuse the fields as their spec section says (e.g. DesktopSize: the new
    size in width/height)."""

    x: int = attrs.field(validator=_in_range(U16))
    y: int = attrs.field(validator=_in_range(U16))
    width: int = attrs.field(validator=_in_range(U16))
    height: int = attrs.field(validator=_in_range(U16))
    encoding: int = attrs.field(validator=_in_range(S32))
    payload: bytes = b""


@event
class FramebufferUpdate(Event):
    """7.6.1: rectangles in wire order. When the last rectangle is the LastRect marker
    (encoding -224) the count on the wire is 0xFFFF and the marker ends the update, so the
    receiver gets back exactly the rectangles that were sent, marker included."""

    rectangles: tuple[Rectangle, ...] = attrs.field(converter=tuple)

    @rectangles.validator
    def _count(self, attribute: attrs.Attribute, value: tuple[Rectangle, ...]) -> None:
        if len(value) > 0xFFFF:
            raise ValueError("at most 65535 rectangles in one update")


@event
class SetColourMapEntries(Event):
    """7.6.2: colours (16-bit red, green, blue) starting at index first_colour."""

    first_colour: int = attrs.field(validator=_in_range(U16))
    colours: tuple[tuple[int, int, int], ...] = attrs.field(converter=tuple)

    @colours.validator
    def _check(self, attribute: attrs.Attribute, value: tuple[tuple[int, int, int], ...]) -> None:
        if len(value) > 0xFFFF:
            raise ValueError("at most 65535 colours")
        for colour in value:
            if len(colour) != 3 or not all(0 <= c <= 0xFFFF for c in colour):
                raise ValueError(f"colour {colour!r} is not three 16-bit values")


@event
class Bell(Event):
    """7.6.3."""


@event
class ServerCutText(Event):
    """7.6.4: clipboard text, Latin-1 on the wire."""

    text: str = attrs.field(validator=_latin1)


@event
class EndOfContinuousUpdates(Event):
    """7.6.5 (type 150): the server's answer to EnableContinuousUpdates / its support probe."""


# --- Extended Clipboard (rfbproto 'Extended Clipboard Pseudo-Encoding'), both directions ---
#
# Formats are single bits 0-15 of the flags word (protocol.clipboard.ClipboardFormat), actions
# bits 24-31 (ClipboardAction); the wire form is the cut text message with a negative length.

_FORMATS = 0xFFFF
_CAPS = 1 << 24
_ACTIONS = 0xFF000000


def _formats(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if not isinstance(value, int) or value & ~_FORMATS or value < 0:
        raise ValueError(f"{attribute.name}={value!r} is not a set of format bits 0-15")


def _format_table(value: Mapping[int, object] | Iterable[tuple[int, object]]) -> tuple:
    """(format, value) pairs in bit order, the order the wire lists formats in."""
    return tuple(sorted(dict(value).items()))


def _table_of(check_value):
    def check(instance: object, attribute: attrs.Attribute, value: tuple) -> None:
        for format_bit, item in value:
            if not isinstance(format_bit, int) or not 0 < format_bit <= 0x8000:
                raise ValueError(f"{format_bit!r} is not a format bit (0-15)")
            if format_bit & (format_bit - 1):
                raise ValueError(f"{format_bit:#x} names more than one format")
            check_value(item)

    return check


def _size(value: object) -> None:
    if not isinstance(value, int) or not U32[0] <= value <= U32[1]:
        raise ValueError(f"size {value!r} is not a U32")


def _data(value: object) -> None:
    if not isinstance(value, bytes) or len(value) > U32[1]:
        raise ValueError("clipboard data must be bytes of U32 length")


@event
class ClipboardCaps(Event):
    """The formats the sender accepts, each with the largest Provide it takes unasked (0: send
    Notify instead), and the other actions it accepts (the caps bit itself is implied). The
    server sends it after each SetEncodings that asks for the extension; a client may answer."""

    sizes: tuple[tuple[int, int], ...] = attrs.field(
        converter=_format_table, validator=_table_of(_size)
    )
    actions: int = attrs.field()

    @actions.validator
    def _action_bits(self, attribute: attrs.Attribute, value: int) -> None:
        if not isinstance(value, int) or value & ~_ACTIONS or value < 0:
            raise ValueError(f"actions={value!r} is not a set of action bits 24-31")
        if value & _CAPS:
            raise ValueError("the caps bit is implied, not one of the actions")


@event
class ClipboardRequest(Event):
    """Asks the peer to Provide its clipboard in these formats."""

    formats: int = attrs.field(validator=_formats)


@event
class ClipboardPeek(Event):
    """Asks the peer to Notify which formats its clipboard holds."""


@event
class ClipboardNotify(Event):
    """The sender's clipboard changed (or a Peek's answer): it holds these formats."""

    formats: int = attrs.field(validator=_formats)


@event
class ClipboardProvide(Event):
    """Clipboard contents, format → bytes exactly as on the wire (text: UTF-8, CRLF line ends
    and a NUL; see protocol.clipboard for the conversions), zlib-compressed on the wire."""

    data: tuple[tuple[int, bytes], ...] = attrs.field(
        converter=_format_table, validator=_table_of(_data)
    )


@event
class ClipboardDropped(Event):
    """A Provide the receiver read and dropped, too large on the wire (``max_cut_text``) or
    inflated (``max_clipboard``): the spec lets a receiver ignore it, a daemon logs it. Only
    ever received: it has no wire form of its own."""

    formats: int = attrs.field(validator=_formats)
    #: Bytes of compressed data the Provide carried.
    size: int = attrs.field(validator=_in_range(U32))


@event
class ConnectionClosed(Event):
    """The peer closed the stream (``receive_data(b"")``) at a point where that is legal."""
