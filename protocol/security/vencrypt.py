"""VeNCrypt (security type 19, rfbproto 7.2.8): TLS inside RFB, then an inner authentication.

The exchange, in order: the server's version (U8 major, U8 minor: 0.2), the client's; the
server's U8 status (0 = accepted, 0xFF = refused) with a U8 count and U32 subtypes; the
client's U32 choice. A TLS subtype then gets the server's U8 1 ("start TLS") and both sides
run a TLS handshake on the stream; the inner authentication follows inside TLS: none, VNC
authentication (7.2.2) or Plain (U32 username length, U32 password length, both strings).
The ``SecurityResult`` after it belongs to the RFB connection again.

``VeNCrypt`` is sans-IO, one class for both roles (like the connections): ``send`` turns an
event into bytes, ``next_event`` parses the peer's. After ``StartTLS`` it pauses
(``phase is TLS``): the caller takes ``trailing_data()`` (bytes already received that belong
to the TLS stream), runs the TLS handshake, and calls ``tls_started()``. At ``DONE``, the
bytes left (``trailing_data()``) go back to the RFB connection with ``security_handled``.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable, Generator
from typing import Any

import attrs

from .._common import Role
from .._errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from .._events import VncAuthChallenge, VncAuthResponse
from ._exchange import Exchange
from ._registry import SecurityType, register_handler

VERSION = (0, 2)
#: Plain's strings: a bound so a peer cannot make us buffer gigabytes on its say-so.
MAX_CREDENTIAL = 1024
_STATUS_OK = 0
_STATUS_REFUSED = 0xFF
_START_TLS = 1
_U32 = struct.Struct(">I")
_CREDENTIAL_LENGTHS = struct.Struct(">II")


class Subtype(enum.IntEnum):
    """VeNCrypt subtypes (rfbproto 7.2.8; TigerVNC's names)."""

    PLAIN = 256
    TLS_NONE = 257
    TLS_VNC = 258
    TLS_PLAIN = 259
    X509_NONE = 260
    X509_VNC = 261
    X509_PLAIN = 262


#: Subtypes whose TLS is anonymous (no certificate: anonymous ECDH, TLS 1.2).
ANONYMOUS_TLS = frozenset({Subtype.TLS_NONE, Subtype.TLS_VNC, Subtype.TLS_PLAIN})
#: Subtypes whose TLS carries the server's X.509 certificate.
X509_TLS = frozenset({Subtype.X509_NONE, Subtype.X509_VNC, Subtype.X509_PLAIN})
#: The inner authentication of each subtype.
VNC_INNER = frozenset({Subtype.TLS_VNC, Subtype.X509_VNC})
PLAIN_INNER = frozenset({Subtype.PLAIN, Subtype.TLS_PLAIN, Subtype.X509_PLAIN})


_U8_VALUE = attrs.validators.and_(
    attrs.validators.instance_of(int), attrs.validators.ge(0), attrs.validators.le(0xFF)
)
_U32_VALUE = attrs.validators.and_(
    attrs.validators.instance_of(int), attrs.validators.ge(0), attrs.validators.le(0xFFFFFFFF)
)


@attrs.frozen
class VeNCryptVersion:
    """Each side's version; the client's is the highest it speaks up to the server's."""

    major: int = attrs.field(validator=_U8_VALUE)
    minor: int = attrs.field(validator=_U8_VALUE)


@attrs.frozen
class Subtypes:
    """The server accepts the client's version and offers these subtypes, in its order."""

    subtypes: tuple[int, ...] = attrs.field(
        converter=tuple, validator=attrs.validators.deep_iterable(_U32_VALUE)
    )


@attrs.frozen
class VersionRefused:
    """The server does not speak the client's version (status 0xFF); it then closes."""


@attrs.frozen
class SubtypeChosen:
    subtype: int = attrs.field(validator=_U32_VALUE)


@attrs.frozen
class StartTLS:
    """The server's go-ahead: the TLS handshake starts right after this byte."""


@attrs.frozen
class PlainCredentials:
    """Plain's username and password, in clear (inside TLS unless the subtype is Plain)."""

    username: str
    password: str = attrs.field(repr=False)


VeNCryptEvent = (
    VeNCryptVersion
    | Subtypes
    | VersionRefused
    | SubtypeChosen
    | StartTLS
    | VncAuthChallenge
    | VncAuthResponse
    | PlainCredentials
)


class Phase(enum.Enum):
    """Whose turn it is in the exchange (one table for both sides, as in ``_state``)."""

    SERVER_VERSION = enum.auto()
    CLIENT_VERSION = enum.auto()
    SUBTYPES = enum.auto()
    CHOICE = enum.auto()
    START_TLS = enum.auto()
    #: Paused: the caller runs the TLS handshake, then calls ``tls_started``.
    TLS = enum.auto()
    VNC_CHALLENGE = enum.auto()
    VNC_RESPONSE = enum.auto()
    PLAIN_CREDENTIALS = enum.auto()
    #: Finished: the RFB connection's SecurityResult comes next.
    DONE = enum.auto()
    #: The server refused the client's version, or a protocol error: nothing more.
    CLOSED = enum.auto()


def _inner(subtype: int) -> Phase:
    if subtype in VNC_INNER:
        return Phase.VNC_CHALLENGE
    if subtype in PLAIN_INNER:
        return Phase.PLAIN_CREDENTIALS
    return Phase.DONE


def _after_choice(event: SubtypeChosen) -> Phase:
    return Phase.START_TLS if event.subtype in ANONYMOUS_TLS | X509_TLS else _inner(event.subtype)


#: (sender, phase, event class) → who speaks next; the CHOICE rule looks at the subtype.
_TRANSITIONS: dict[tuple[Role, Phase, type], Phase | Callable[[Any], Phase]] = {
    (Role.SERVER, Phase.SERVER_VERSION, VeNCryptVersion): Phase.CLIENT_VERSION,
    (Role.CLIENT, Phase.CLIENT_VERSION, VeNCryptVersion): Phase.SUBTYPES,
    (Role.SERVER, Phase.SUBTYPES, Subtypes): Phase.CHOICE,
    (Role.SERVER, Phase.SUBTYPES, VersionRefused): Phase.CLOSED,
    (Role.CLIENT, Phase.CHOICE, SubtypeChosen): _after_choice,
    (Role.SERVER, Phase.START_TLS, StartTLS): Phase.TLS,
    (Role.SERVER, Phase.VNC_CHALLENGE, VncAuthChallenge): Phase.VNC_RESPONSE,
    (Role.CLIENT, Phase.VNC_RESPONSE, VncAuthResponse): Phase.DONE,
    (Role.CLIENT, Phase.PLAIN_CREDENTIALS, PlainCredentials): Phase.DONE,
}

_Reader = Generator[int, bytes, VeNCryptEvent]


def _read_version() -> _Reader:
    major, minor = yield 2
    return VeNCryptVersion(major, minor)


def _read_subtypes() -> _Reader:
    (status,) = yield 1
    if status != _STATUS_OK:
        return VersionRefused()
    (count,) = yield 1
    if count == 0:
        raise RemoteProtocolError("the server offers no VeNCrypt subtypes")
    data = yield 4 * count
    return Subtypes(struct.unpack(f">{count}I", data))


def _read_choice() -> _Reader:
    (subtype,) = _U32.unpack((yield 4))
    return SubtypeChosen(subtype)


def _read_start_tls() -> _Reader:
    (ack,) = yield 1
    if ack != _START_TLS:
        raise RemoteProtocolError(f"the server could not start TLS (VeNCrypt ack {ack})")
    return StartTLS()


def _read_string(length: int, what: str) -> Generator[int, bytes, str]:
    if length > MAX_CREDENTIAL:
        raise RemoteProtocolError(f"{what} of {length} bytes (at most {MAX_CREDENTIAL})")
    data = (yield length) if length else b""
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise RemoteProtocolError(f"{what} is not UTF-8") from None


def read_credentials(kind: str = "Plain") -> Generator[int, bytes, PlainCredentials]:
    """Plain's message, which Tight's Unix login shares (``kind`` names it in errors)."""
    user_length, password_length = _CREDENTIAL_LENGTHS.unpack((yield 8))
    username = yield from _read_string(user_length, f"{kind} username")
    password = yield from _read_string(password_length, f"{kind} password")
    return PlainCredentials(username, password)


def pack_credentials(credentials: PlainCredentials) -> bytes:
    user, secret = credentials.username.encode(), credentials.password.encode()
    return _CREDENTIAL_LENGTHS.pack(len(user), len(secret)) + user + secret


def _read_challenge() -> _Reader:
    return VncAuthChallenge((yield 16))


def _read_response() -> _Reader:
    return VncAuthResponse((yield 16))


#: What the peer may send in each phase, per side reading it.
_READERS: dict[tuple[Role, Phase], Callable[[], _Reader]] = {
    (Role.SERVER, Phase.CLIENT_VERSION): _read_version,
    (Role.SERVER, Phase.CHOICE): _read_choice,
    (Role.SERVER, Phase.VNC_RESPONSE): _read_response,
    (Role.SERVER, Phase.PLAIN_CREDENTIALS): read_credentials,
    (Role.CLIENT, Phase.SERVER_VERSION): _read_version,
    (Role.CLIENT, Phase.SUBTYPES): _read_subtypes,
    (Role.CLIENT, Phase.START_TLS): _read_start_tls,
    (Role.CLIENT, Phase.VNC_CHALLENGE): _read_challenge,
}


def _write(event: VeNCryptEvent) -> bytes:
    match event:
        case VeNCryptVersion(major, minor):
            return bytes((major, minor))
        case Subtypes(subtypes):
            return bytes((_STATUS_OK, len(subtypes))) + struct.pack(f">{len(subtypes)}I", *subtypes)
        case VersionRefused():
            return bytes((_STATUS_REFUSED,))
        case SubtypeChosen(subtype):
            return _U32.pack(subtype)
        case StartTLS():
            return bytes((_START_TLS,))
        case VncAuthChallenge(challenge):
            return challenge
        case VncAuthResponse(response):
            return response
        case PlainCredentials():
            return pack_credentials(event)
    raise LocalProtocolError(f"{type(event).__name__} is not a VeNCrypt message")


@register_handler(SecurityType.VENCRYPT)
class VeNCrypt(Exchange):
    """One side of a VeNCrypt exchange. The server checks the client's version and choice
    against what it sent; the client checks the choice against the server's offer."""

    NAME = "VeNCrypt"
    READERS = _READERS
    CLOSED = Phase.CLOSED
    #: TLS bytes follow in TLS, RFB in DONE.
    TRAILING = frozenset({Phase.TLS, Phase.DONE})

    def __init__(self, side: Role) -> None:
        super().__init__(side, Phase.SERVER_VERSION)
        self.subtypes: tuple[int, ...] = ()
        self.subtype: int | None = None
        #: The client's version; only 0.2 gets the subtypes (else VersionRefused).
        self.client_version: tuple[int, int] | None = None

    def tls_started(self) -> None:
        """The TLS handshake is done: the inner authentication follows, inside TLS."""
        if self.phase is not Phase.TLS:
            raise LocalProtocolError(f"tls_started() during {self.phase.name}")
        assert self.subtype is not None
        self.phase = _inner(self.subtype)

    def _write(self, event: VeNCryptEvent) -> bytes:
        return _write(event)

    def _check(self, sender: Role, event: VeNCryptEvent, error: type[ProtocolError]) -> None:
        rule = _TRANSITIONS.get((sender, self.phase, type(event)))
        if rule is None:
            raise error(
                f"the {sender.value} may not send {type(event).__name__} during "
                f"VeNCrypt {self.phase.name}"
            )
        match event:
            case VeNCryptVersion(major, minor) if sender is Role.SERVER and (
                (major, minor) < VERSION
            ):
                raise error(f"the server speaks VeNCrypt {major}.{minor}, older than 0.2")
            case VeNCryptVersion(major, minor) if sender is Role.CLIENT:
                self.client_version = (major, minor)
            case Subtypes(subtypes):
                if self.client_version != VERSION:
                    raise error("subtypes offered to a client that does not speak VeNCrypt 0.2")
                if not 1 <= len(subtypes) <= 255:
                    raise error(f"between 1 and 255 VeNCrypt subtypes, not {len(subtypes)}")
                self.subtypes = subtypes
            case SubtypeChosen(subtype):
                if subtype not in self.subtypes:
                    raise error(f"VeNCrypt subtype {subtype} was not offered {self.subtypes}")
                if subtype not in _KNOWN_SUBTYPES:
                    raise error(f"VeNCrypt subtype {subtype} is not implemented")
                self.subtype = subtype
        self.phase = rule if isinstance(rule, Phase) else rule(event)


_KNOWN_SUBTYPES = frozenset(Subtype)
