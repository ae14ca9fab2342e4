"""Phases of an RFB conversation and the one table of legal transitions.

Both ends see the same sequence of messages, so one conversation-wide phase describes both:
``advance(sender, state, event)`` is used for events we send and events we receive alike.
Everything the rest of the conversation depends on (negotiated version, offered security
types, pixel format, framebuffer size, the extensions that change message layouts) is learnt
here from the events themselves, so the connection classes never branch on the phase.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from functools import reduce

import attrs

from ._common import Role
from ._events import (
    Bell,
    ClientCutText,
    ClientInit,
    ClipboardCaps,
    ClipboardDropped,
    ClipboardNotify,
    ClipboardPeek,
    ClipboardProvide,
    ClipboardRequest,
    ConnectionClosed,
    EnableContinuousUpdates,
    EndOfContinuousUpdates,
    Event,
    Fence,
    FramebufferUpdate,
    FramebufferUpdateRequest,
    HandshakeFailed,
    KeyEvent,
    PointerEvent,
    ProtocolVersion,
    QemuAudio,
    QemuExtendedKeyEvent,
    Rectangle,
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
from ._pixelformat import PixelFormat
from .encodings._registry import Encoding
from .security import HANDLERS, SecurityType

Version = tuple[int, int]

#: The one block of pseudo-encodings with positive numbers (IANA RFB registry: VMware).
_VMWARE_PSEUDO_ENCODINGS = range(0x574D5600, 0x574D5700)


class Phase(enum.Enum):
    """Whose turn it is and what they may say (rfbproto 7.1-7.3, then 7.5/7.6)."""

    SERVER_VERSION = enum.auto()
    CLIENT_VERSION = enum.auto()
    SECURITY_TYPES = enum.auto()
    SECURITY_TYPE_CHOICE = enum.auto()
    VNC_AUTH_CHALLENGE = enum.auto()
    VNC_AUTH_RESPONSE = enum.auto()
    #: A registered security handler runs (``security.HANDLERS``); the connection waits
    #: until ``security_handled`` gives it the bytes that follow.
    SECURITY_HANDLER = enum.auto()
    SECURITY_RESULT = enum.auto()
    CLIENT_INIT = enum.auto()
    SERVER_INIT = enum.auto()
    NORMAL = enum.auto()
    #: The handshake failed or a side closed: only the peer's EOF may still arrive.
    CLOSED = enum.auto()
    #: A ProtocolError happened; the connection refuses every further call.
    ERROR = enum.auto()


class IllegalTransition(Exception):
    """The event is not allowed here; the connection reports it as a Local or Remote error."""


@attrs.frozen(slots=True)
class State:
    """Everything about the conversation that decides what may come next."""

    phase: Phase = Phase.SERVER_VERSION
    #: The server's ProtocolVersion, normalised to a known version.
    offered_version: Version | None = None
    #: The version both sides speak, known once the client has replied.
    version: Version | None = None
    security_types: tuple[int, ...] = ()
    #: The security type in use: the client's choice (3.3: the server's one type). Tight's
    #: changes ServerInit's layout.
    security_type: int | None = None
    pixel_format: PixelFormat | None = None
    #: Framebuffer (width, height), from ServerInit and DesktopSize rectangles.
    size: tuple[int, int] | None = None
    #: The client has advertised the Extended Clipboard pseudo-encoding in a SetEncodings:
    #: from then on a negative cut text length is the extended form, both ways. Kept if a
    #: later SetEncodings leaves it out, as a message in flight may still use it.
    extended_clipboard: bool = False
    #: The server has sent the ExtendedMouseButtons rectangle: PointerEvents may carry the
    #: extra byte from then on.
    extended_mouse_buttons: bool = False
    #: The server has sent the QEMU Extended Key Event rectangle: the client may send
    #: QemuExtendedKeyEvent (rfbproto asks the client to wait for it; we do not enforce it).
    qemu_extended_key_events: bool = False


def known_version(event: ProtocolVersion) -> Version:
    """Map a ProtocolVersion onto 3.3, 3.7 or 3.8 (rfbproto 7.1.1).

    3.5 (sent by some old viewers) and every other minor below 7 mean 3.3; minors above 8
    (Apple's 3.889) and later majors speak at least 3.8, the newest version we know.
    """
    if event.major < 3:
        raise IllegalTransition(f"RFB {event.major}.{event.minor} predates 3.3")
    if event.major > 3 or event.minor >= 8:
        return (3, 8)
    return (3, 7) if event.minor == 7 else (3, 3)


def advance_size(size: tuple[int, int], rectangle: Rectangle) -> tuple[int, int]:
    """The framebuffer size after ``rectangle``; pixel rectangles must lie inside it."""
    if rectangle.encoding >= 0 and rectangle.encoding not in _VMWARE_PSEUDO_ENCODINGS:
        if rectangle.x + rectangle.width > size[0] or rectangle.y + rectangle.height > size[1]:
            raise IllegalTransition(
                f"rectangle {rectangle.width}x{rectangle.height}+{rectangle.x}+{rectangle.y} "
                f"lies outside the {size[0]}x{size[1]} framebuffer"
            )
        return size
    # rfbproto 'ExtendedDesktopSize': a refused request (reason 1, non-zero status) leaves
    # the other fields undefined.
    refused_request = rectangle.x == 1 and rectangle.y != 0
    if rectangle.encoding == Encoding.DESKTOP_SIZE or (
        rectangle.encoding == Encoding.EXTENDED_DESKTOP_SIZE and not refused_request
    ):
        return (rectangle.width, rectangle.height)
    return size


# --- What the conversation learns from an event (applied before the transition rule) ------


def _learn_version(sender: Role, state: State, event: ProtocolVersion) -> State:
    version = known_version(event)
    if sender is Role.SERVER:
        return attrs.evolve(state, offered_version=version)
    # The server never speaks above what it offered, even to a client that asks for more.
    assert state.offered_version is not None  # the table only allows this after the server's
    return attrs.evolve(state, version=min(state.offered_version, version))


def _learn_security_types(sender: Role, state: State, event: SecurityTypes) -> State:
    decided = event.types[0] if state.version == (3, 3) else None
    return attrs.evolve(state, security_types=event.types, security_type=decided)


def _learn_security_type(sender: Role, state: State, event: SecurityTypeChosen) -> State:
    return attrs.evolve(state, security_type=event.type)


def _learn_server_init(sender: Role, state: State, event: ServerInit) -> State:
    return attrs.evolve(state, pixel_format=event.pixel_format, size=(event.width, event.height))


def _learn_pixel_format(sender: Role, state: State, event: SetPixelFormat) -> State:
    return attrs.evolve(state, pixel_format=event.pixel_format)


def _learn_encodings(sender: Role, state: State, event: SetEncodings) -> State:
    if state.extended_clipboard or Encoding.EXTENDED_CLIPBOARD not in event.encodings:
        return state
    return attrs.evolve(state, extended_clipboard=True)


#: The empty rectangles by which a server confirms an extension (rfbproto 'QEMU Extended Key
#: Event Pseudo-encoding', 'ExtendedMouseButtons Pseudo-encoding') → the State field they set.
_CONFIRMATIONS = {
    Encoding.QEMU_EXTENDED_KEY_EVENT: "qemu_extended_key_events",
    Encoding.EXTENDED_MOUSE_BUTTONS: "extended_mouse_buttons",
}


def _learn_update(sender: Role, state: State, event: FramebufferUpdate) -> State:
    assert state.size is not None  # ServerInit came first: updates are NORMAL-phase only
    changes: dict[str, object] = {
        _CONFIRMATIONS[r.encoding]: True for r in event.rectangles if r.encoding in _CONFIRMATIONS
    }
    size = reduce(advance_size, event.rectangles, state.size)
    if size != state.size:
        changes["size"] = size
    return attrs.evolve(state, **changes) if changes else state


_LEARN: dict[type[Event], Callable[[Role, State, Event], State]] = {
    ProtocolVersion: _learn_version,
    SecurityTypes: _learn_security_types,
    SecurityTypeChosen: _learn_security_type,
    ServerInit: _learn_server_init,
    SetPixelFormat: _learn_pixel_format,
    SetEncodings: _learn_encodings,
    FramebufferUpdate: _learn_update,
}


# --- Transition rules that depend on the event's content --------------------------------


def after_security_type(security_type: int, version: Version) -> Phase:
    """Where the chosen security type leads (7.2.1: None has no SecurityResult before 3.8)."""
    if security_type == SecurityType.NONE:
        return Phase.SECURITY_RESULT if version >= (3, 8) else Phase.CLIENT_INIT
    if security_type == SecurityType.VNC_AUTH:
        return Phase.VNC_AUTH_CHALLENGE
    if security_type in HANDLERS:
        return Phase.SECURITY_HANDLER
    raise IllegalTransition(f"security type {security_type} is not implemented")


def _after_security_types(event: SecurityTypes, state: State) -> Phase:
    assert state.version is not None
    if state.version >= (3, 7):
        return Phase.SECURITY_TYPE_CHOICE
    # 7.1.2, version 3.3: the server decides alone, there is no choice message.
    if len(event.types) != 1:
        raise IllegalTransition(f"RFB 3.3 carries exactly one security type, not {event.types}")
    return after_security_type(event.types[0], state.version)


def _after_choice(event: SecurityTypeChosen, state: State) -> Phase:
    assert state.version is not None
    if event.type not in state.security_types:
        raise IllegalTransition(
            f"security type {event.type} was not offered (offered: {state.security_types})"
        )
    return after_security_type(event.type, state.version)


def _after_result(event: SecurityResult, state: State) -> Phase:
    return Phase.CLIENT_INIT if event.ok else Phase.CLOSED


_Rule = Phase | Callable[[Event, State], Phase]

#: rfbproto 'Extended Clipboard Pseudo-Encoding': the same events both ways. Whether the
#: client advertised the extension is checked where it changes the layout (``_wire``).
_CLIPBOARD_MESSAGES: tuple[type[Event], ...] = (
    ClipboardCaps,
    ClipboardRequest,
    ClipboardPeek,
    ClipboardNotify,
    ClipboardProvide,
    ClipboardDropped,
)
CLIENT_MESSAGES: tuple[type[Event], ...] = (
    SetPixelFormat,
    SetEncodings,
    FramebufferUpdateRequest,
    KeyEvent,
    PointerEvent,
    ClientCutText,
    EnableContinuousUpdates,
    Fence,
    XvpMessage,
    SetDesktopSize,
    QemuExtendedKeyEvent,
    QemuAudio,
    *_CLIPBOARD_MESSAGES,
)
SERVER_MESSAGES: tuple[type[Event], ...] = (
    FramebufferUpdate,
    SetColourMapEntries,
    Bell,
    ServerCutText,
    EndOfContinuousUpdates,
    Fence,
    XvpMessage,
    *_CLIPBOARD_MESSAGES,
)

#: (sender, phase, event class) → the next phase, or a rule that picks it from the event.
#: ConnectionClosed is "sent" by whichever side closed the stream.
TRANSITIONS: dict[tuple[Role, Phase, type[Event]], _Rule] = {
    (Role.SERVER, Phase.SERVER_VERSION, ProtocolVersion): Phase.CLIENT_VERSION,
    (Role.CLIENT, Phase.CLIENT_VERSION, ProtocolVersion): Phase.SECURITY_TYPES,
    (Role.SERVER, Phase.SECURITY_TYPES, SecurityTypes): _after_security_types,
    (Role.SERVER, Phase.SECURITY_TYPES, HandshakeFailed): Phase.CLOSED,
    (Role.CLIENT, Phase.SECURITY_TYPE_CHOICE, SecurityTypeChosen): _after_choice,
    (Role.SERVER, Phase.VNC_AUTH_CHALLENGE, VncAuthChallenge): Phase.VNC_AUTH_RESPONSE,
    (Role.CLIENT, Phase.VNC_AUTH_RESPONSE, VncAuthResponse): Phase.SECURITY_RESULT,
    (Role.SERVER, Phase.SECURITY_RESULT, SecurityResult): _after_result,
    (Role.CLIENT, Phase.CLIENT_INIT, ClientInit): Phase.SERVER_INIT,
    (Role.SERVER, Phase.SERVER_INIT, ServerInit): Phase.NORMAL,
    **{(Role.CLIENT, Phase.NORMAL, cls): Phase.NORMAL for cls in CLIENT_MESSAGES},
    **{(Role.SERVER, Phase.NORMAL, cls): Phase.NORMAL for cls in SERVER_MESSAGES},
    **{
        (role, phase, ConnectionClosed): Phase.CLOSED
        for role in Role
        for phase in (Phase.NORMAL, Phase.CLOSED)
    },
}


def advance(sender: Role, state: State, event: Event) -> State:
    """The state after ``sender`` says ``event``; IllegalTransition if it may not."""
    rule = TRANSITIONS.get((sender, state.phase, type(event)))
    if rule is None:
        raise IllegalTransition(
            f"the {sender.value} may not send {type(event).__name__} during {state.phase.name}"
        )
    learn = _LEARN.get(type(event))
    if learn is not None:
        state = learn(sender, state, event)
    phase = rule if isinstance(rule, Phase) else rule(event, state)
    # Most messages keep the phase: no new state for them (one per message adds up).
    return state if phase is state.phase else attrs.evolve(state, phase=phase)
