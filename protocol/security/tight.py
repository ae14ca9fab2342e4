"""The Tight security type (16, rfbproto 'Tight Security Type'), as TightVNC and noVNC speak it.

The exchange, in order: the server's U32 count of tunnel capabilities and the capabilities
(16 bytes each: S32 code, 4-byte vendor, 8-byte signature); when there are any, the client's
S32 choice. Then the server's U32 count of authentication capabilities and those; when there
are any, the client's S32 choice. The chosen authentication follows: none, VNC
authentication's challenge and response (7.2.2), or Unix login (U32 user length, U32
password length, both strings: the layout of VeNCrypt's Plain, hence ``PlainCredentials``).
No authentication list at all means none. The ``SecurityResult`` after it belongs to the RFB
connection again (for none, only from 3.8 on, as for security type None: pass
``like_none=authenticates_nothing`` to ``security_handled``), and so does the extended
ServerInit that Tight security brings (``InteractionCapabilities``).

``Tight`` is sans-IO, one class for both roles (like ``vencrypt.VeNCrypt``): ``send`` turns an
event into bytes, ``next_event`` parses the peer's; at ``DONE`` the bytes left
(``trailing_data()``) go back to the connection with ``security_handled``.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable, Generator, Iterable
from typing import Any

import attrs

from .._common import Role
from .._errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from .._events import Capability, VncAuthChallenge, VncAuthResponse
from ._exchange import Exchange
from ._registry import SecurityType, register_handler
from .vencrypt import PlainCredentials, pack_credentials, read_credentials

#: A bound on every capability list a peer sends (tunnels, authentications, each ServerInit
#: list): TightVNC's longest has a dozen entries.
MAX_CAPABILITIES = 256
_CAPABILITY = struct.Struct(">i4s8s")
_U32 = struct.Struct(">I")
_S32 = struct.Struct(">i")


class AuthType(enum.IntEnum):
    """The authentication codes inside Tight (independent of the security type numbers)."""

    NONE = 1
    VNC_AUTH = 2
    UNIX_LOGIN = 129


#: rfbproto's registered tunnel: none (the only one anybody implements).
NO_TUNNEL = Capability(0, b"TGHT", b"NOTUNNEL")
#: The registered signatures of the authentications this module runs.
AUTH_CAPABILITIES = {
    AuthType.NONE: Capability(1, b"STDV", b"NOAUTH__"),
    AuthType.VNC_AUTH: Capability(2, b"STDV", b"VNCAUTH_"),
    AuthType.UNIX_LOGIN: Capability(129, b"TGHT", b"ULGNAUTH"),
}


def _registered(code: int, vendor: bytes, signature: bytes) -> tuple[int, Capability]:
    return code, Capability(code, vendor, signature)


#: rfbproto's registered encoding signatures, by encoding number (a family of
#: pseudo-encodings, such as the quality levels, under its first number).
ENCODING_CAPABILITIES = dict(
    (
        _registered(0, b"STDV", b"RAW_____"),
        _registered(1, b"STDV", b"COPYRECT"),
        _registered(2, b"STDV", b"RRE_____"),
        _registered(4, b"STDV", b"CORRE___"),
        _registered(5, b"STDV", b"HEXTILE_"),
        _registered(6, b"TRDV", b"ZLIB____"),
        _registered(7, b"TGHT", b"TIGHT___"),
        _registered(8, b"TRDV", b"ZLIBHEX_"),
        _registered(-32, b"TGHT", b"JPEGQLVL"),
        _registered(-223, b"TGHT", b"NEWFBSIZ"),
        _registered(-224, b"TGHT", b"LASTRECT"),
        _registered(-232, b"TGHT", b"POINTPOS"),
        _registered(-239, b"TGHT", b"RCHCURSR"),
        _registered(-240, b"TGHT", b"X11CURSR"),
        _registered(-256, b"TGHT", b"COMPRLVL"),
        _registered(-512, b"TRBO", b"FINEQLVL"),
        _registered(-768, b"TRBO", b"SSAMPLVL"),
    )
)
#: rfbproto's registered message signatures (beyond the standard messages) that an RFB
#: server without file transfer can honour: (server messages, client messages).
MESSAGE_CAPABILITIES = {
    "continuous_updates": (
        Capability(150, b"TGHT", b"CUS_EOCU"),  # EndOfContinuousUpdates
        Capability(150, b"TGHT", b"CUC_ENCU"),  # EnableContinuousUpdates
    ),
}


@attrs.frozen
class TunnelCapabilities:
    """The server's tunnels, in its order of preference (none: no choice follows)."""

    tunnels: tuple[Capability, ...] = attrs.field(default=(), converter=tuple)


_S32_VALUE = attrs.validators.and_(
    attrs.validators.instance_of(int), attrs.validators.ge(-(1 << 31)), attrs.validators.lt(1 << 31)
)


@attrs.frozen
class TunnelChosen:
    code: int = attrs.field(validator=_S32_VALUE)


@attrs.frozen
class AuthCapabilities:
    """The server's authentications, in its order of preference (none: no authentication)."""

    auths: tuple[Capability, ...] = attrs.field(default=(), converter=tuple)


@attrs.frozen
class AuthChosen:
    code: int = attrs.field(validator=_S32_VALUE)


TightEvent = (
    TunnelCapabilities
    | TunnelChosen
    | AuthCapabilities
    | AuthChosen
    | VncAuthChallenge
    | VncAuthResponse
    | PlainCredentials
)


class Phase(enum.Enum):
    """Whose turn it is in the exchange (one table for both sides, as in ``_state``)."""

    TUNNELS = enum.auto()
    TUNNEL_CHOICE = enum.auto()
    AUTHS = enum.auto()
    AUTH_CHOICE = enum.auto()
    VNC_CHALLENGE = enum.auto()
    VNC_RESPONSE = enum.auto()
    LOGIN = enum.auto()
    #: Finished: the RFB connection's SecurityResult (or, for none before 3.8, ClientInit).
    DONE = enum.auto()
    #: A protocol error: nothing more.
    CLOSED = enum.auto()


def _after_tunnels(event: TunnelCapabilities) -> Phase:
    return Phase.TUNNEL_CHOICE if event.tunnels else Phase.AUTHS


def _after_auths(event: AuthCapabilities) -> Phase:
    return Phase.AUTH_CHOICE if event.auths else Phase.DONE


_AFTER_AUTH = {
    AuthType.NONE: Phase.DONE,
    AuthType.VNC_AUTH: Phase.VNC_CHALLENGE,
    AuthType.UNIX_LOGIN: Phase.LOGIN,
}

#: (sender, phase, event class) → who speaks next; some rules look at the event.
_TRANSITIONS: dict[tuple[Role, Phase, type], Phase | Callable[[Any], Phase]] = {
    (Role.SERVER, Phase.TUNNELS, TunnelCapabilities): _after_tunnels,
    (Role.CLIENT, Phase.TUNNEL_CHOICE, TunnelChosen): Phase.AUTHS,
    (Role.SERVER, Phase.AUTHS, AuthCapabilities): _after_auths,
    (Role.CLIENT, Phase.AUTH_CHOICE, AuthChosen): lambda event: _AFTER_AUTH[event.code],
    (Role.SERVER, Phase.VNC_CHALLENGE, VncAuthChallenge): Phase.VNC_RESPONSE,
    (Role.CLIENT, Phase.VNC_RESPONSE, VncAuthResponse): Phase.DONE,
    (Role.CLIENT, Phase.LOGIN, PlainCredentials): Phase.DONE,
}


def pack_capabilities(capabilities: Iterable[Capability]) -> bytes:
    return b"".join(_CAPABILITY.pack(c.code, c.vendor, c.signature) for c in capabilities)


def read_capabilities(count: int, what: str) -> Generator[int, bytes, tuple[Capability, ...]]:
    """``count`` capabilities (the count checked against ``MAX_CAPABILITIES`` first)."""
    if count > MAX_CAPABILITIES:
        raise RemoteProtocolError(f"{count} Tight {what} capabilities (at most {MAX_CAPABILITIES})")
    if not count:
        return ()
    data = yield _CAPABILITY.size * count
    return tuple(Capability(*fields) for fields in _CAPABILITY.iter_unpack(data))


_Reader = Generator[int, bytes, TightEvent]


def _read_tunnels() -> _Reader:
    (count,) = _U32.unpack((yield 4))
    return TunnelCapabilities((yield from read_capabilities(count, "tunnel")))


def _read_auths() -> _Reader:
    (count,) = _U32.unpack((yield 4))
    return AuthCapabilities((yield from read_capabilities(count, "authentication")))


def _read_tunnel_choice() -> _Reader:
    return TunnelChosen(_S32.unpack((yield 4))[0])


def _read_auth_choice() -> _Reader:
    return AuthChosen(_S32.unpack((yield 4))[0])


def _read_challenge() -> _Reader:
    return VncAuthChallenge((yield 16))


def _read_response() -> _Reader:
    return VncAuthResponse((yield 16))


def _read_login() -> _Reader:
    return (yield from read_credentials("Unix login"))


#: What the peer may send in each phase, per side reading it.
_READERS: dict[tuple[Role, Phase], Callable[[], _Reader]] = {
    (Role.SERVER, Phase.TUNNEL_CHOICE): _read_tunnel_choice,
    (Role.SERVER, Phase.AUTH_CHOICE): _read_auth_choice,
    (Role.SERVER, Phase.VNC_RESPONSE): _read_response,
    (Role.SERVER, Phase.LOGIN): _read_login,
    (Role.CLIENT, Phase.TUNNELS): _read_tunnels,
    (Role.CLIENT, Phase.AUTHS): _read_auths,
    (Role.CLIENT, Phase.VNC_CHALLENGE): _read_challenge,
}


def _write(event: TightEvent) -> bytes:
    match event:
        case TunnelCapabilities(tunnels):
            return _U32.pack(len(tunnels)) + pack_capabilities(tunnels)
        case AuthCapabilities(auths):
            return _U32.pack(len(auths)) + pack_capabilities(auths)
        case TunnelChosen(code) | AuthChosen(code):
            return _S32.pack(code)
        case VncAuthChallenge(challenge):
            return challenge
        case VncAuthResponse(response):
            return response
        case PlainCredentials():
            return pack_credentials(event)
    raise LocalProtocolError(f"{type(event).__name__} is not a Tight security message")


@register_handler(SecurityType.TIGHT)
class Tight(Exchange):
    """One side of a Tight security exchange. A choice must be among the offer and one that
    this module runs (an offer may list more: a client picks among what it knows)."""

    NAME = "Tight"
    READERS = _READERS
    CLOSED = Phase.CLOSED
    TRAILING = frozenset({Phase.DONE})

    def __init__(self, side: Role) -> None:
        super().__init__(side, Phase.TUNNELS)
        self.tunnels: tuple[Capability, ...] = ()
        self.auths: tuple[Capability, ...] = ()
        #: The authentication chosen; None while undecided, and when the list was empty.
        self.auth: AuthType | None = None

    @property
    def authenticates_nothing(self) -> bool:
        """Done without authentication (an empty list, or "none" chosen): the connection
        goes on as after security type None."""
        return self.phase is Phase.DONE and self.auth in (None, AuthType.NONE)

    def _write(self, event: TightEvent) -> bytes:
        return _write(event)

    def _check(self, sender: Role, event: TightEvent, error: type[ProtocolError]) -> None:
        rule = _TRANSITIONS.get((sender, self.phase, type(event)))
        if rule is None:
            raise error(
                f"the {sender.value} may not send {type(event).__name__} during "
                f"Tight {self.phase.name}"
            )
        match event:
            case TunnelCapabilities(tunnels):
                self.tunnels = tunnels
            case TunnelChosen(code):
                offered = [tunnel.code for tunnel in self.tunnels]
                if code not in offered:
                    raise error(f"Tight tunnel {code} was not offered {offered}")
                if code != NO_TUNNEL.code:
                    raise error(f"Tight tunnel {code} is not implemented (only no tunnel, 0)")
            case AuthCapabilities(auths):
                self.auths = auths
            case AuthChosen(code):
                offered = [auth.code for auth in self.auths]
                if code not in offered:
                    raise error(f"Tight authentication {code} was not offered {offered}")
                if code not in _AFTER_AUTH:
                    raise error(f"Tight authentication {code} is not implemented")
                self.auth = AuthType(code)
        self.phase = rule if isinstance(rule, Phase) else rule(event)
