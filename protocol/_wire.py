"""Byte layouts of every RFB message: writers (event → bytes) and resumable readers.

Readers are generators that yield how many bytes they need and are sent exactly that many
(the contract of ``protocol.encodings._base``). Each checks a length field against its limit
before it yields for the body, so the peer's numbers never make us wait for, or allocate, more
than the limits allow. Malformed input raises ``RemoteProtocolError``; a writer given an event
the wire cannot carry raises ``ValueError``.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, TypeVar

import attrs

from . import clipboard
from ._errors import RemoteProtocolError
from ._events import (
    Bell,
    ClientCutText,
    ClientInit,
    ConnectionClosed,
    EnableContinuousUpdates,
    EndOfContinuousUpdates,
    Event,
    Fence,
    FramebufferUpdate,
    FramebufferUpdateRequest,
    HandshakeFailed,
    InteractionCapabilities,
    KeyEvent,
    PointerEvent,
    ProtocolVersion,
    QemuAudio,
    QemuExtendedKeyEvent,
    Rectangle,
    Screen,
    SecurityResult,
    SecurityTypeChosen,
    SecurityTypes,
    ServerCutText,
    ServerInit,
    SetColourMapEntries,
    SetDesktopSize,
    SetEncodings,
    SetPixelFormat,
    VncAuthChallenge,
    VncAuthResponse,
    XvpMessage,
)
from ._pixelformat import WIRE_SIZE as PIXEL_FORMAT_SIZE
from ._pixelformat import PixelFormat
from ._state import IllegalTransition, Role, State, Version, advance_size
from .encodings._registry import Encoding
from .security import SecurityType, tight

if TYPE_CHECKING:
    from .encodings import Decoder

T = TypeVar("T")
Reader = Generator[int, bytes, T]

#: Oversized cut text is read and dropped in pieces of at most this size.
SKIP_CHUNK = 64 * 1024
#: rfbproto 'ClientFence': a fence payload is at most 64 bytes.
MAX_FENCE_PAYLOAD = 64
#: rfbproto 'Extended Clipboard Pseudo-Encoding': a negative length gives abs(length) bytes,
#: which is 2**31 at most.
MAX_EXTENDED_CUT_TEXT = 1 << 31

_U32 = struct.Struct(">I")
_VERSION = re.compile(rb"RFB (\d{3})\.(\d{3})\n")
# Message bodies after the type byte (rfbproto 7.5, 7.6); "x" is padding.
_SET_PIXEL_FORMAT = struct.Struct(">3x")
_SET_ENCODINGS = struct.Struct(">xH")
_UPDATE_REQUEST = struct.Struct(">BHHHH")
_KEY = struct.Struct(">B2xI")
_POINTER = struct.Struct(">BHH")
_EXTENDED_POINTER = struct.Struct(">BHHB")
_CUT_TEXT = struct.Struct(">3xI")
_EXTENDED_CUT_TEXT = struct.Struct(">3xi")
_CONTINUOUS = struct.Struct(">BHHHH")
_FENCE = struct.Struct(">3xIB")
_XVP = struct.Struct(">xBB")
_DESKTOP_SIZE = struct.Struct(">xHHBx")
_SCREEN = struct.Struct(">IHHHHI")
_QEMU_KEY = struct.Struct(">HII")
_QEMU_AUDIO = struct.Struct(">H")
_QEMU_AUDIO_FORMAT = struct.Struct(">BBI")
_UPDATE = struct.Struct(">xH")
_RECTANGLE = struct.Struct(">HHHHi")
_COLOUR_MAP = struct.Struct(">xHH")
_COLOUR = struct.Struct(">HHH")
_SERVER_INIT = struct.Struct(">HH")
_INTERACTION = struct.Struct(">HHH2x")

# Message types (7.5 client to server, 7.6 server to client; the extensions are named in
# rfbproto: EnableContinuousUpdates, Fence, xvp, SetDesktopSize, QEMU).
_SET_PIXEL_FORMAT_TYPE = 0
_SET_ENCODINGS_TYPE = 2
_UPDATE_REQUEST_TYPE = 3
_KEY_TYPE = 4
_POINTER_TYPE = 5
_CLIENT_CUT_TEXT_TYPE = 6
_UPDATE_TYPE = 0
_COLOUR_MAP_TYPE = 1
_BELL_TYPE = 2
_SERVER_CUT_TEXT_TYPE = 3
_CONTINUOUS_TYPE = 150  # EnableContinuousUpdates / EndOfContinuousUpdates
_FENCE_TYPE = 248
_XVP_TYPE = 250
_SET_DESKTOP_SIZE_TYPE = 251
_QEMU_TYPE = 255
_QEMU_KEY_SUBTYPE = 0
_QEMU_AUDIO_SUBTYPE = 1
_QEMU_AUDIO_SET_FORMAT = 2


DEFAULT_MAX_CUT_TEXT = 1 << 20
DEFAULT_MAX_ENCODINGS = 1024
DEFAULT_MAX_REASON = 64 << 10
DEFAULT_MAX_CLIPBOARD = 4 << 20

#: rfbproto 'ExtendedMouseButtons Pseudo-encoding': the high bit of the button mask marks an
#: extended PointerEvent, whose extra byte holds buttons 8-15 (mask bits 7-14).
_POINTER_MARKER = 0x80


@attrs.frozen(slots=True)
class Limits:
    """How much of the peer's say-so we accept (bytes, except max_encodings).

    ``max_cut_text`` bounds clipboard bytes on the wire (classic text, and an Extended
    Clipboard message's compressed data); ``max_clipboard`` what one Provide inflates to.
    """

    max_cut_text: int = DEFAULT_MAX_CUT_TEXT
    max_encodings: int = DEFAULT_MAX_ENCODINGS
    max_reason: int = DEFAULT_MAX_REASON
    max_clipboard: int = DEFAULT_MAX_CLIPBOARD


@attrs.frozen(slots=True)
class Skipped:
    """What a reader returns for cut text over ``max_cut_text``: read, dropped, and counted by
    the connection instead of becoming an event (clipboards that large are not worth holding).
    """


@attrs.frozen(slots=True)
class ClientContext:
    """What parsing client messages needs: the extensions that change their layouts."""

    limits: Limits
    extended_clipboard: bool = False
    extended_mouse_buttons: bool = False


@attrs.frozen(slots=True)
class UpdateContext:
    """What parsing server messages needs: a FramebufferUpdate's payload sizes depend on the
    pixel format, its rectangles are checked against the size, and decoders know payloads."""

    limits: Limits
    pixel_format: PixelFormat
    size: tuple[int, int]
    decoder: Callable[[int], Decoder]
    extended_clipboard: bool = False


def _build(cls: Callable[..., T], *args: object) -> T:
    """Construct a received event; its validators' ValueError is the peer's fault."""
    try:
        return cls(*args)
    except ValueError as error:
        raise RemoteProtocolError(f"invalid {cls.__name__}: {error}") from error


def _string(text: str) -> bytes:
    """7.1.2 reason / 7.3.2 name: U32 length then the bytes (UTF-8, see rfbproto 'String
    Encodings')."""
    data = text.encode("utf-8")
    return _U32.pack(len(data)) + data


def _read_string(limit: int, what: str) -> Reader[str]:
    (length,) = _U32.unpack((yield 4))
    if length > limit:
        raise RemoteProtocolError(f"{what} of {length} bytes exceeds the limit of {limit}")
    # Peers disagree on the encoding; never fail on it (rfbproto 'String Encodings').
    return (yield length).decode("utf-8", errors="replace")


# --- Writers --------------------------------------------------------------------------------


def _write_version(event: ProtocolVersion, state: State) -> bytes:
    return b"RFB %03d.%03d\n" % (event.major, event.minor)  # 7.1.1


def _write_security_types(event: SecurityTypes, state: State) -> bytes:
    if state.version == (3, 3):
        return _U32.pack(event.types[0])  # 7.1.2, 3.3: the one type the server decided
    return bytes([len(event.types), *event.types])


def _write_handshake_failed(event: HandshakeFailed, state: State) -> bytes:
    # 7.1.2: zero security types (3.3: the U32 type 0), then the reason.
    zero = _U32.pack(0) if state.version == (3, 3) else b"\0"
    return zero + _string(event.reason)


def _write_security_result(event: SecurityResult, state: State) -> bytes:
    # 7.1.3: U32 status; only 3.8 follows a failure with a reason.
    if event.ok:
        if event.reason:
            raise ValueError("a successful SecurityResult carries no reason")
        return _U32.pack(0)
    if state.version is not None and state.version >= (3, 8):
        return _U32.pack(1) + _string(event.reason)
    return _U32.pack(1)


def _write_server_init(event: ServerInit, state: State) -> bytes:
    init = _SERVER_INIT.pack(event.width, event.height) + event.pixel_format.pack()
    init += _string(event.name)
    caps = event.capabilities
    if state.security_type != SecurityType.TIGHT:
        if caps != InteractionCapabilities():
            raise ValueError("interaction capabilities follow ServerInit only after Tight security")
        return init
    # rfbproto 'ServerInit' after Tight security: three U16 counts, padding, the lists.
    lists = (caps.server_messages, caps.client_messages, caps.encodings)
    if any(len(found) > tight.MAX_CAPABILITIES for found in lists):
        raise ValueError(f"more than {tight.MAX_CAPABILITIES} capabilities in a list")
    header = _INTERACTION.pack(*map(len, lists))
    return init + header + b"".join(map(tight.pack_capabilities, lists))


def _write_set_encodings(event: SetEncodings, state: State) -> bytes:
    count = len(event.encodings)
    if count > 0xFFFF:
        raise ValueError(f"{count} encodings do not fit the U16 count")
    return (
        bytes([_SET_ENCODINGS_TYPE])
        + _SET_ENCODINGS.pack(count)
        + struct.pack(f">{count}i", *event.encodings)
    )


def _write_cut_text(message_type: int, text: str) -> bytes:
    data = text.encode("latin-1")  # 7.5.6 / 7.6.4
    return bytes([message_type]) + _CUT_TEXT.pack(len(data)) + data


def _write_pointer(event: PointerEvent, state: State) -> bytes:
    # 7.5.5; rfbproto 'ExtendedMouseButtons Pseudo-encoding': once the server confirmed it,
    # the marker bit is set only when a button past 7 is down (as TigerVNC and noVNC send).
    mask = event.button_mask
    if state.extended_mouse_buttons and mask > 0x7F:
        low = mask & 0x7F | _POINTER_MARKER
        return bytes([_POINTER_TYPE]) + _EXTENDED_POINTER.pack(low, event.x, event.y, mask >> 7)
    if mask > 0xFF:
        raise ValueError(
            f"button mask {mask:#x} needs ExtendedMouseButtons, which the server has not confirmed"
        )
    return bytes([_POINTER_TYPE]) + _POINTER.pack(mask, event.x, event.y)


def _write_extended_clipboard(event: Event, state: State, sender: Role) -> bytes:
    # rfbproto 'Extended Clipboard Pseudo-Encoding': the cut text message of the sender's
    # direction, its length negated.
    if not state.extended_clipboard:
        raise ValueError("the client has not advertised the Extended Clipboard pseudo-encoding")
    data = clipboard.pack(event)
    if len(data) > MAX_EXTENDED_CUT_TEXT:
        raise ValueError(f"{len(data)} bytes of extended clipboard exceed 2**31")
    message_type = _CLIENT_CUT_TEXT_TYPE if sender is Role.CLIENT else _SERVER_CUT_TEXT_TYPE
    return bytes([message_type]) + _EXTENDED_CUT_TEXT.pack(-len(data)) + data


def _write_fence(event: Fence, state: State) -> bytes:
    return bytes([_FENCE_TYPE]) + _FENCE.pack(event.flags, len(event.payload)) + event.payload


def _write_set_desktop_size(event: SetDesktopSize, state: State) -> bytes:
    head = _DESKTOP_SIZE.pack(event.width, event.height, len(event.screens))
    screens = b"".join(
        _SCREEN.pack(s.id, s.x, s.y, s.width, s.height, s.flags) for s in event.screens
    )
    return bytes([_SET_DESKTOP_SIZE_TYPE]) + head + screens


def _write_qemu_audio(event: QemuAudio, state: State) -> bytes:
    head = bytes([_QEMU_TYPE, _QEMU_AUDIO_SUBTYPE]) + _QEMU_AUDIO.pack(event.operation)
    if event.operation == _QEMU_AUDIO_SET_FORMAT:
        return head + _QEMU_AUDIO_FORMAT.pack(event.sample_format, event.channels, event.frequency)
    if event.operation > _QEMU_AUDIO_SET_FORMAT:
        raise ValueError(f"QEMU audio operation {event.operation} is not 0, 1 or 2")
    if (event.sample_format, event.channels, event.frequency) != (0, 0, 0):
        raise ValueError("only the set-format QEMU audio operation carries a format")
    return head


def _write_update(event: FramebufferUpdate, state: State) -> bytes:
    # 7.6.1; rfbproto 'LastRect Pseudo-encoding': count 0xFFFF, the marker ends the update.
    rectangles = event.rectangles
    if any(r.encoding == Encoding.LAST_RECT for r in rectangles[:-1]):
        raise ValueError("LastRect may only be the last rectangle of an update")
    count = (
        0xFFFF if rectangles and rectangles[-1].encoding == Encoding.LAST_RECT else len(rectangles)
    )
    parts = [bytes([_UPDATE_TYPE]), _UPDATE.pack(count)]
    for r in rectangles:
        parts += (_RECTANGLE.pack(r.x, r.y, r.width, r.height, r.encoding), r.payload)
    return b"".join(parts)


def _write_colour_map(event: SetColourMapEntries, state: State) -> bytes:
    head = bytes([_COLOUR_MAP_TYPE]) + _COLOUR_MAP.pack(event.first_colour, len(event.colours))
    return head + b"".join(_COLOUR.pack(*colour) for colour in event.colours)


_WRITERS: dict[type[Event], Callable[[Event, State], bytes]] = {
    # Handshake (7.1-7.3)
    ProtocolVersion: _write_version,
    SecurityTypes: _write_security_types,
    HandshakeFailed: _write_handshake_failed,
    SecurityTypeChosen: lambda e, s: bytes([e.type]),
    VncAuthChallenge: lambda e, s: e.challenge,
    VncAuthResponse: lambda e, s: e.response,
    SecurityResult: _write_security_result,
    ClientInit: lambda e, s: bytes([e.shared]),
    ServerInit: _write_server_init,
    # Client to server (7.5)
    SetPixelFormat: lambda e, s: (
        bytes([_SET_PIXEL_FORMAT_TYPE]) + _SET_PIXEL_FORMAT.pack() + e.pixel_format.pack()
    ),
    SetEncodings: _write_set_encodings,
    FramebufferUpdateRequest: lambda e, s: (
        bytes([_UPDATE_REQUEST_TYPE])
        + _UPDATE_REQUEST.pack(e.incremental, e.x, e.y, e.width, e.height)
    ),
    KeyEvent: lambda e, s: bytes([_KEY_TYPE]) + _KEY.pack(e.down, e.keysym),
    PointerEvent: _write_pointer,
    ClientCutText: lambda e, s: _write_cut_text(_CLIENT_CUT_TEXT_TYPE, e.text),
    EnableContinuousUpdates: lambda e, s: (
        bytes([_CONTINUOUS_TYPE]) + _CONTINUOUS.pack(e.enable, e.x, e.y, e.width, e.height)
    ),
    Fence: _write_fence,
    XvpMessage: lambda e, s: bytes([_XVP_TYPE]) + _XVP.pack(e.version, e.code),
    SetDesktopSize: _write_set_desktop_size,
    QemuExtendedKeyEvent: lambda e, s: (
        bytes([_QEMU_TYPE, _QEMU_KEY_SUBTYPE]) + _QEMU_KEY.pack(e.down, e.keysym, e.keycode)
    ),
    QemuAudio: _write_qemu_audio,
    # Server to client (7.6)
    FramebufferUpdate: _write_update,
    SetColourMapEntries: _write_colour_map,
    Bell: lambda e, s: bytes([_BELL_TYPE]),
    ServerCutText: lambda e, s: _write_cut_text(_SERVER_CUT_TEXT_TYPE, e.text),
    EndOfContinuousUpdates: lambda e, s: bytes([_CONTINUOUS_TYPE]),
    # Closing the stream is the driver's job; the event only moves the phase to CLOSED.
    ConnectionClosed: lambda e, s: b"",
}


def write(event: Event, state: State, sender: Role) -> bytes:
    """The wire bytes of ``event`` said by ``sender`` in ``state`` (the conversation before
    it): the negotiated version and extensions decide some layouts."""
    if isinstance(event, clipboard.EVENTS):
        return _write_extended_clipboard(event, state, sender)
    return _WRITERS[type(event)](event, state)


# --- Handshake readers (7.1-7.3) ------------------------------------------------------------


def read_protocol_version() -> Reader[ProtocolVersion]:
    data = yield 12
    match = _VERSION.fullmatch(data)
    if match is None:
        raise RemoteProtocolError(f"not an RFB ProtocolVersion: {data!r}")
    return ProtocolVersion(int(match[1]), int(match[2]))


def read_security_types(version: Version, limits: Limits) -> Reader[Event]:
    if version == (3, 3):
        (security_type,) = _U32.unpack((yield 4))
        if security_type == 0:
            return HandshakeFailed((yield from _read_string(limits.max_reason, "reason")))
        return _build(SecurityTypes, (security_type,))
    (count,) = yield 1
    if count == 0:
        return HandshakeFailed((yield from _read_string(limits.max_reason, "reason")))
    return _build(SecurityTypes, tuple((yield count)))


def read_security_type_chosen() -> Reader[SecurityTypeChosen]:
    (security_type,) = yield 1
    return _build(SecurityTypeChosen, security_type)


def read_vnc_auth_challenge() -> Reader[VncAuthChallenge]:
    return VncAuthChallenge((yield 16))


def read_vnc_auth_response() -> Reader[VncAuthResponse]:
    return VncAuthResponse((yield 16))


def read_security_result(version: Version, limits: Limits) -> Reader[SecurityResult]:
    (status,) = _U32.unpack((yield 4))
    if status == 0:
        return SecurityResult(ok=True)
    # Any non-zero status is a failure (2 is Tight's "too many attempts").
    if version >= (3, 8):
        return SecurityResult(False, (yield from _read_string(limits.max_reason, "reason")))
    return SecurityResult(ok=False)


def read_client_init() -> Reader[ClientInit]:
    (shared,) = yield 1
    return ClientInit(shared != 0)


def read_server_init(limits: Limits, tight_security: bool) -> Reader[ServerInit]:
    width, height = _SERVER_INIT.unpack((yield _SERVER_INIT.size))
    pixel_format = _read_pixel_format((yield PIXEL_FORMAT_SIZE), "ServerInit")
    name = yield from _read_string(limits.max_reason, "desktop name")
    if not tight_security:
        return ServerInit(width, height, pixel_format, name)
    counts = _INTERACTION.unpack((yield _INTERACTION.size))
    lists = []
    for count, what in zip(counts, ("server message", "client message", "encoding"), strict=True):
        lists.append((yield from tight.read_capabilities(count, what)))
    return ServerInit(width, height, pixel_format, name, InteractionCapabilities(*lists))


def read_after_close() -> Reader[Event]:
    """The CLOSED phase: the peer may only close too, any byte is an error."""
    data = yield 1
    raise RemoteProtocolError(f"data after the handshake ended: {data!r}")


# --- Client to server readers (7.5), after the type byte ------------------------------------


def _read_pixel_format(data: bytes, where: str) -> PixelFormat:
    try:
        return PixelFormat.unpack(data)
    except ValueError as error:
        raise RemoteProtocolError(f"invalid pixel format in {where}: {error}") from error


def _read_set_pixel_format(context: ClientContext) -> Reader[SetPixelFormat]:
    yield _SET_PIXEL_FORMAT.size
    return SetPixelFormat(_read_pixel_format((yield PIXEL_FORMAT_SIZE), "SetPixelFormat"))


def _read_set_encodings(context: ClientContext) -> Reader[SetEncodings]:
    (count,) = _SET_ENCODINGS.unpack((yield _SET_ENCODINGS.size))
    limit = context.limits.max_encodings
    if count > limit:
        raise RemoteProtocolError(
            f"SetEncodings with {count} encodings exceeds the limit of {limit}"
        )
    return SetEncodings(struct.unpack(f">{count}i", (yield 4 * count)))


def _read_update_request(context: ClientContext) -> Reader[FramebufferUpdateRequest]:
    incremental, x, y, width, height = _UPDATE_REQUEST.unpack((yield _UPDATE_REQUEST.size))
    return FramebufferUpdateRequest(incremental != 0, x, y, width, height)


def _read_key(context: ClientContext) -> Reader[KeyEvent]:
    down, keysym = _KEY.unpack((yield _KEY.size))
    return KeyEvent(down != 0, keysym)


def _read_pointer(context: ClientContext) -> Reader[PointerEvent]:
    mask, x, y = _POINTER.unpack((yield _POINTER.size))
    # rfbproto 'ExtendedMouseButtons Pseudo-encoding': the marker means one more byte only
    # once the server has confirmed the extension; before, bit 7 is button 8 (7.5.5).
    if context.extended_mouse_buttons and mask & _POINTER_MARKER:
        (high,) = yield 1
        mask = mask & 0x7F | high << 7
    return PointerEvent(mask, x, y)


def _skip(count: int) -> Reader[None]:
    """Read and drop ``count`` bytes, asking for a bounded piece at a time."""
    while count:
        chunk = min(count, SKIP_CHUNK)
        yield chunk
        count -= chunk


def _read_cut_text(
    limits: Limits, extended: bool, cls: type[ClientCutText] | type[ServerCutText]
) -> Reader[Event | Skipped]:
    (length,) = _CUT_TEXT.unpack((yield _CUT_TEXT.size))
    # rfbproto 'Extended Clipboard Pseudo-Encoding': once the client advertised it, the length
    # is signed and a negative one is the extended form. Before, a length of 2 GiB or more is
    # an extended message sent without the pseudo-encoding (or nonsense): no text that long
    # is ever sent, so it is an error rather than gigabytes to read and drop.
    if length >= MAX_EXTENDED_CUT_TEXT:
        if not extended:
            raise RemoteProtocolError(
                f"{cls.__name__} of {length} bytes: a negative (extended clipboard) length "
                "without the Extended Clipboard pseudo-encoding"
            )
        return (yield from _read_extended_clipboard(limits, (1 << 32) - length))
    if length <= limits.max_cut_text:
        return cls((yield length).decode("latin-1"))
    yield from _skip(length)
    return Skipped()


def _read_extended_clipboard(limits: Limits, size: int) -> Reader[Event]:
    """``size`` bytes: the flags word, then what its action needs (``protocol.clipboard``)."""
    if size < _U32.size:
        raise RemoteProtocolError(f"extended clipboard message of {size} bytes has no flags")
    (flags,) = _U32.unpack((yield _U32.size))
    data_size = size - _U32.size
    expected = clipboard.body_size(flags)
    if expected is None and data_size > limits.max_cut_text:  # a Provide too large to read
        yield from _skip(data_size)
        return clipboard.dropped(flags, data_size)
    if expected is not None and data_size != expected:
        raise RemoteProtocolError(
            f"extended clipboard flags {flags:#010x} need {expected} more bytes, not {data_size}"
        )
    return clipboard.unpack(flags, (yield data_size), limits.max_clipboard)


def _read_continuous(context: ClientContext) -> Reader[EnableContinuousUpdates]:
    enable, x, y, width, height = _CONTINUOUS.unpack((yield _CONTINUOUS.size))
    return EnableContinuousUpdates(enable != 0, x, y, width, height)


def _read_fence() -> Reader[Fence]:
    flags, length = _FENCE.unpack((yield _FENCE.size))
    if length > MAX_FENCE_PAYLOAD:
        raise RemoteProtocolError(f"fence payload of {length} bytes exceeds 64")
    return Fence(flags, (yield length))


def _read_xvp() -> Reader[XvpMessage]:
    return XvpMessage(*_XVP.unpack((yield _XVP.size)))


def _read_set_desktop_size(context: ClientContext) -> Reader[SetDesktopSize]:
    width, height, count = _DESKTOP_SIZE.unpack((yield _DESKTOP_SIZE.size))
    data = yield count * _SCREEN.size
    screens = [Screen(*fields) for fields in _SCREEN.iter_unpack(data)]
    return SetDesktopSize(width, height, screens)


def _read_qemu(context: ClientContext) -> Reader[Event]:
    (subtype,) = yield 1
    if subtype == _QEMU_KEY_SUBTYPE:
        down, keysym, keycode = _QEMU_KEY.unpack((yield _QEMU_KEY.size))
        return QemuExtendedKeyEvent(down != 0, keysym, keycode)
    if subtype == _QEMU_AUDIO_SUBTYPE:
        (operation,) = _QEMU_AUDIO.unpack((yield _QEMU_AUDIO.size))
        if operation == _QEMU_AUDIO_SET_FORMAT:
            fields = _QEMU_AUDIO_FORMAT.unpack((yield _QEMU_AUDIO_FORMAT.size))
            return QemuAudio(operation, *fields)
        if operation > _QEMU_AUDIO_SET_FORMAT:
            raise RemoteProtocolError(f"unknown QEMU audio operation {operation}")
        return QemuAudio(operation)
    raise RemoteProtocolError(f"unknown QEMU client message subtype {subtype}")


_CLIENT_MESSAGES: dict[int, Callable[[ClientContext], Reader[Event | Skipped]]] = {
    _SET_PIXEL_FORMAT_TYPE: _read_set_pixel_format,
    _SET_ENCODINGS_TYPE: _read_set_encodings,
    _UPDATE_REQUEST_TYPE: _read_update_request,
    _KEY_TYPE: _read_key,
    _POINTER_TYPE: _read_pointer,
    _CLIENT_CUT_TEXT_TYPE: lambda context: _read_cut_text(
        context.limits, context.extended_clipboard, ClientCutText
    ),
    _CONTINUOUS_TYPE: _read_continuous,
    _FENCE_TYPE: lambda context: _read_fence(),
    _XVP_TYPE: lambda context: _read_xvp(),
    _SET_DESKTOP_SIZE_TYPE: _read_set_desktop_size,
    _QEMU_TYPE: _read_qemu,
}


def read_client_message(context: ClientContext) -> Reader[Event | Skipped]:
    (message_type,) = yield 1
    reader = _CLIENT_MESSAGES.get(message_type)
    if reader is None:
        raise RemoteProtocolError(f"unknown client message type {message_type}")
    return (yield from reader(context))


# --- Server to client readers (7.6), after the type byte ------------------------------------


def _read_update(context: UpdateContext) -> Reader[FramebufferUpdate]:
    (count,) = _UPDATE.unpack((yield _UPDATE.size))
    size = context.size
    rectangles = []
    for _ in range(count):
        header = Rectangle(*_RECTANGLE.unpack((yield _RECTANGLE.size)))
        try:
            size = advance_size(size, header)  # checked before any payload is read
        except IllegalTransition as error:
            raise RemoteProtocolError(str(error)) from None
        decoder = context.decoder(header.encoding)
        payload = yield from decoder.read_payload(header, context.pixel_format)
        rectangles.append(attrs.evolve(header, payload=payload))
        if header.encoding == Encoding.LAST_RECT:  # rfbproto 'LastRect': ends the update
            break
    return FramebufferUpdate(rectangles)


def _read_colour_map(context: UpdateContext) -> Reader[SetColourMapEntries]:
    first, count = _COLOUR_MAP.unpack((yield _COLOUR_MAP.size))
    data = yield count * _COLOUR.size
    return _build(SetColourMapEntries, first, _COLOUR.iter_unpack(data))


def _nothing_more(event: T) -> Reader[T]:
    """The reader of a message that is complete after its type byte."""
    yield from ()
    return event


_SERVER_MESSAGES: dict[int, Callable[[UpdateContext], Reader[Event | Skipped]]] = {
    _UPDATE_TYPE: _read_update,
    _COLOUR_MAP_TYPE: _read_colour_map,
    _BELL_TYPE: lambda context: _nothing_more(Bell()),
    _SERVER_CUT_TEXT_TYPE: lambda context: _read_cut_text(
        context.limits, context.extended_clipboard, ServerCutText
    ),
    _CONTINUOUS_TYPE: lambda context: _nothing_more(EndOfContinuousUpdates()),
    _FENCE_TYPE: lambda context: _read_fence(),
    _XVP_TYPE: lambda context: _read_xvp(),
}


def read_server_message(context: UpdateContext) -> Reader[Event | Skipped]:
    (message_type,) = yield 1
    reader = _SERVER_MESSAGES.get(message_type)
    if reader is None:
        raise RemoteProtocolError(f"unknown server message type {message_type}")
    return (yield from reader(context))
