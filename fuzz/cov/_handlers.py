"""Both sides of every registered security handler, answering as vncd and a viewer would, so
a target can run one against the fuzzer's bytes or both against each other.

Each driver has one shape: ``start()`` gives the first bytes the side sends, ``receive(data)``
takes the peer's bytes and returns the answer, ``done`` says the handler finished (then
``trailing()`` holds the RFB bytes that followed, and ``framing`` the session's encryption,
if any), ``closed`` that this side gave up (a refused version, nothing in common). TLS is the
identity here: the targets fuzz the handshakes around it, not the TLS library.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from Crypto.PublicKey import RSA

from protocol import NEED_DATA, Role, VncAuthChallenge, VncAuthResponse
from protocol.security import Exchange, SecurityType
from protocol.security.rsaaes import (
    AesEaxFraming,
    ClientHandshake,
    Credentials,
    RsaAesType,
    ServerHandshake,
    Subtype,
    encrypts_session,
)
from protocol.security.tight import (
    AUTH_CAPABILITIES,
    NO_TUNNEL,
    AuthCapabilities,
    AuthChosen,
    Tight,
    TightEvent,
    TunnelCapabilities,
    TunnelChosen,
)
from protocol.security.tight import Phase as TPhase
from protocol.security.vencrypt import (
    VERSION,
    PlainCredentials,
    StartTLS,
    SubtypeChosen,
    Subtypes,
    VeNCrypt,
    VeNCryptEvent,
    VeNCryptVersion,
    VersionRefused,
)
from protocol.security.vencrypt import Phase as VPhase
from protocol.security.vncauth import check_response, encrypt_challenge

USER = "anne"
PASSWORD = "pa55word"
CHALLENGE = bytes(range(16))
#: Every VeNCrypt subtype, in the order a viewer prefers them.
VENCRYPT_SUBTYPES = (262, 261, 260, 259, 258, 257, 256)


def seeded(seed: int) -> Callable[[int], bytes]:
    """Repeatable randomness: the same input gives the same bytes on the wire."""
    return random.Random(seed).randbytes


#: Fixed small keys (the smallest a server accepts), made once per process.
SERVER_KEY = RSA.generate(1024, randfunc=seeded(1))
CLIENT_KEY = RSA.generate(1024, randfunc=seeded(2))


class ExchangeSide:
    """What the VeNCrypt and Tight sides share: their handler's events answered as they come,
    until the exchange is done or closed; a subclass answers each event."""

    def __init__(self, handler: Exchange) -> None:
        self.handler = handler
        self.done = False
        self.closed = False
        self.ok = False
        self.framing: AesEaxFraming | None = None

    def receive(self, data: bytes) -> bytes:
        self.handler.receive_data(data)
        out = bytearray()
        while not (self.done or self.closed):
            event = self.handler.next_event()
            if event is NEED_DATA:
                break
            out += self._answer(event)
        return bytes(out)

    def trailing(self) -> bytes:
        return self.handler.trailing_data()

    def _answer(self, event: Any) -> bytes:
        raise NotImplementedError


class VeNCryptSide(ExchangeSide):
    """Either side of VeNCrypt; the server offers ``subtypes``, the client takes the first of
    its ``subtypes`` that the server offers."""

    def __init__(self, side: Role, subtypes: tuple[int, ...]) -> None:
        super().__init__(VeNCrypt(side))
        self.subtypes = subtypes

    def start(self) -> bytes:
        if self.handler.side is Role.SERVER:
            return self.handler.send(VeNCryptVersion(*VERSION))
        return b""

    def _send(self, event: VeNCryptEvent) -> bytes:
        return self.handler.send(event)

    def _answer(self, event: VeNCryptEvent) -> bytes:
        handler = self.handler
        match event:
            case VeNCryptVersion() if handler.side is Role.SERVER:
                if handler.client_version != VERSION:
                    self.closed = True
                    return self._send(VersionRefused())
                return self._send(Subtypes(self.subtypes))
            case VeNCryptVersion():
                return self._send(VeNCryptVersion(*VERSION))
            case VersionRefused():
                self.closed = True
                return b""
            case Subtypes(offered):
                usable = [s for s in self.subtypes if s in offered]
                if not usable:
                    self.closed = True
                    return b""
                return self._send(SubtypeChosen(usable[0])) + self._next()
            case SubtypeChosen():
                out = self._send(StartTLS()) if handler.phase is VPhase.START_TLS else b""
                return out + self._next()
            case StartTLS():
                return self._next()
            case VncAuthChallenge(challenge):
                out = self._send(VncAuthResponse(encrypt_challenge(challenge, PASSWORD)))
                self.done = handler.phase is VPhase.DONE
                return out
            case VncAuthResponse(response):
                self.ok = check_response(CHALLENGE, response, PASSWORD)
            case PlainCredentials(username, password):
                self.ok = (username, password) == (USER, PASSWORD)
        self.done = handler.phase is VPhase.DONE
        return b""

    def _next(self) -> bytes:
        """After the choice (and TLS): what this side says next, if it speaks."""
        handler = self.handler
        if handler.phase is VPhase.TLS:
            tls_bytes = handler.trailing_data()
            handler.tls_started()
            handler.receive_data(tls_bytes)  # the identity "TLS": they are the inner bytes
        out = b""
        if handler.side is Role.SERVER and handler.phase is VPhase.VNC_CHALLENGE:
            out = self._send(VncAuthChallenge(CHALLENGE))
        elif handler.side is Role.CLIENT and handler.phase is VPhase.PLAIN_CREDENTIALS:
            out = self._send(PlainCredentials(USER, PASSWORD))
        self.done = handler.phase is VPhase.DONE
        self.ok = self.done and handler.side is Role.SERVER and handler.subtype in (257, 260)
        return out


class RsaAesSide:
    """Either side of an RSA-AES type; ``handshake`` is the handler object itself."""

    def __init__(self, handshake: ServerHandshake | ClientHandshake) -> None:
        self.handshake = handshake
        self.closed = False

    @classmethod
    def server(cls, number: int, subtype: Subtype, seed: int) -> RsaAesSide:
        return cls(ServerHandshake(number, SERVER_KEY, seeded(seed), subtype))

    @classmethod
    def client(cls, number: int, seed: int) -> RsaAesSide:
        return cls(ClientHandshake(number, CLIENT_KEY, seeded(seed), Credentials(USER, PASSWORD)))

    @property
    def done(self) -> bool:
        return self.handshake.done

    @property
    def ok(self) -> bool:
        credentials = self.handshake.credentials
        return credentials is not None and credentials.password == PASSWORD

    @property
    def framing(self) -> AesEaxFraming | None:
        return self.handshake.framing if encrypts_session(self.handshake.security_type) else None

    def start(self) -> bytes:
        return self.handshake.data_to_send()

    def receive(self, data: bytes) -> bytes:
        return self.handshake.receive_data(data)

    def trailing(self) -> bytes:
        return self.handshake.trailing_data


class TightSide(ExchangeSide):
    """Either side of the Tight security type. The server offers no tunnel or the "no
    tunnel" one, then some of the authentications (``choice`` picks both); the client
    takes the first offered that it knows, in an order ``choice`` rotates."""

    def __init__(self, side: Role, choice: int) -> None:
        super().__init__(Tight(side))
        self.tunnels = (NO_TUNNEL,) * (choice & 1)
        auths = list(AUTH_CAPABILITIES.values())
        start = choice >> 1 & 3
        self.auths = (auths[start:] + auths[:start])[: choice >> 3 & 3]

    @property
    def like_none(self) -> bool:
        return self.handler.authenticates_nothing

    def start(self) -> bytes:
        if self.handler.side is Role.CLIENT:
            return b""
        out = self.handler.send(TunnelCapabilities(self.tunnels))
        return out + self._next()

    def _answer(self, event: TightEvent) -> bytes:
        handler = self.handler
        match event:
            case TunnelCapabilities(tunnels) if tunnels:
                return handler.send(TunnelChosen(NO_TUNNEL.code)) + self._next()
            case AuthCapabilities(auths) if auths:
                known = [a.code for a in self.auths or AUTH_CAPABILITIES.values()]
                usable = [code for code in known if code in [a.code for a in auths]]
                if not usable:
                    self.closed = True
                    return b""
                return handler.send(AuthChosen(usable[0])) + self._next()
            case VncAuthChallenge(challenge):
                out = handler.send(VncAuthResponse(encrypt_challenge(challenge, PASSWORD)))
                return out + self._next()
            case VncAuthResponse(response):
                self.ok = check_response(CHALLENGE, response, PASSWORD)
            case PlainCredentials(username, password):
                self.ok = (username, password) == (USER, PASSWORD)
        return self._next()

    def _next(self) -> bytes:
        """What this side says now that the phase moved, if it speaks."""
        handler = self.handler
        out = b""
        if handler.side is Role.SERVER and handler.phase is TPhase.AUTHS:
            out = handler.send(AuthCapabilities(self.auths))
        if handler.side is Role.SERVER and handler.phase is TPhase.VNC_CHALLENGE:
            out += handler.send(VncAuthChallenge(CHALLENGE))
        elif handler.side is Role.CLIENT and handler.phase is TPhase.LOGIN:
            out += handler.send(PlainCredentials(USER, PASSWORD))
        self.done = handler.phase is TPhase.DONE
        if self.done and self.like_none:
            self.ok = True
        return out


Side = VeNCryptSide | RsaAesSide | TightSide

#: The handler-run security types these drivers cover; a registered one missing here fails
#: ``make_side`` loudly, so a new handler is not silently left unfuzzed.
RSA_AES = frozenset(RsaAesType)
HANDLED = (SecurityType.VENCRYPT, SecurityType.TIGHT, *RsaAesType)


def make_side(number: int, role: Role, choice: int, seed: int) -> Side:
    """One side of security type ``number``; ``choice`` varies what it offers or prefers."""
    if number == SecurityType.VENCRYPT:
        count = len(VENCRYPT_SUBTYPES)
        start = choice % count
        order = VENCRYPT_SUBTYPES[start:] + VENCRYPT_SUBTYPES[:start]
        return VeNCryptSide(role, order[: 1 + choice // count % count])
    if number == SecurityType.TIGHT:
        return TightSide(role, choice)
    if number in RSA_AES:
        if role is Role.SERVER:
            return RsaAesSide.server(number, Subtype(1 + choice % 2), seed)
        return RsaAesSide.client(number, seed)
    raise KeyError(f"no fuzz driver for security type {number}")
