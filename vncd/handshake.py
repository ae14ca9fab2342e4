"""Admission of a viewer, rfbproto 7.1–7.3: version, security, ClientInit, ServerInit."""

from __future__ import annotations

import hmac
import math
import os
from typing import TYPE_CHECKING

import attrs
import trio

from protocol import (
    BGRX,
    ClientInit,
    HandshakeFailed,
    InteractionCapabilities,
    Phase,
    ProtocolVersion,
    SecurityResult,
    SecurityTypeChosen,
    SecurityTypes,
    ServerInit,
    VncAuthChallenge,
    VncAuthResponse,
)
from protocol.security import SecurityType
from protocol.security.vncauth import check_response

from . import rsaaes, tight, users, vencrypt
from .channel import Channel, Refused
from .guard import Guard
from .hub import Access, Hub
from .inner import Outcome
from .offer import TYPE_NAMES
from .policy import decide_sharing
from .transports import WebSocketStream

if TYPE_CHECKING:
    from .session import Session


@attrs.frozen
class Admission:
    """What the handshake decided about the viewer."""

    view_only: bool
    size: tuple[int, int]  # the framebuffer size announced in ServerInit
    #: The security type the viewer chose, by its [security] types name ("VeNCrypt" for
    #: any VeNCrypt subtype), and the user it logged in as ("" when none was named).
    security: str = ""
    user: str = ""


async def admit(channel: Channel, hub: Hub, session: Session) -> Admission:
    """Run the handshake up to ServerInit; raises Refused when the viewer is turned away.
    Once admitted, ``session`` is among ``hub.sessions``."""
    await channel.send(ProtocolVersion(3, 8))
    await channel.expect(ProtocolVersion)
    if len(hub.sessions) >= hub.access.max_connections:
        await channel.send(HandshakeFailed("too many connections"))
        raise Refused("too many connections")
    address = session.slot.address
    types = configured_types(channel, hub.access) or automatic_types(channel, hub.access)
    if not types:
        await channel.send(HandshakeFailed(NO_TYPE_FOR_3_3))
        raise Refused(NO_TYPE_FOR_3_3)
    if types != (SecurityType.NONE,) and (refusal := blocked(hub.guard, address)):
        await channel.send(HandshakeFailed(refusal))  # 7.1.2: no types, and the reason
        raise Refused(refusal)
    await channel.send(SecurityTypes(types))
    chosen = types[0]
    if channel.conn.version >= (3, 7):
        chosen = (await channel.expect(SecurityTypeChosen)).type
    view_only = hub.viewers.view_only
    user = ""
    if chosen in (SecurityType.VENCRYPT, SecurityType.TIGHT):
        run = vencrypt.run if chosen == SecurityType.VENCRYPT else tight.run
        outcome = await run(channel, hub.access)
        view_only = await settle(channel, hub.guard, address, outcome) or view_only
        user = outcome.user
    elif chosen in rsaaes.OFFER:
        outcome = await authenticate_rsa_aes(channel, hub.access, hub.guard, address, chosen)
        view_only, user = outcome.view_only or view_only, outcome.user
    elif chosen == SecurityType.VNC_AUTH:
        view_only = await authenticate(channel, hub.access, hub.guard, address) or view_only
    elif channel.conn.version >= (3, 8):
        await channel.send(SecurityResult(ok=True))
    session.slot.release()  # authenticated: no longer counted among the pending
    client_init = await channel.expect(ClientInit)
    session.exclusive = join(hub, session, client_init.shared)
    size = hub.source.size
    capabilities = InteractionCapabilities()  # rfbproto: only after Tight security
    if chosen == SecurityType.TIGHT:
        capabilities = tight.interaction_capabilities(hub.encodings)
    await channel.send(ServerInit(*size, BGRX, hub.name, capabilities))
    return Admission(view_only, size, security_name(chosen), user)


#: Security type number → its name in [security] types (VeNCrypt's subtypes have their own).
SECURITY_NAMES = {number: name for name, number in TYPE_NAMES.items()} | {
    SecurityType.VENCRYPT: "VeNCrypt"
}


def security_name(number: int) -> str:
    """A security type's name for the logs and /metrics (its number when it has none)."""
    return SECURITY_NAMES.get(number, str(number))


def join(hub: Hub, session: Session, asked_shared: bool) -> bool:
    """Apply [viewers] sharing to ClientInit's shared flag (rfbproto 7.3.1) and add the
    session to the hub; returns whether it holds the desktop alone. No await between the
    check and the join, so two viewers that both ask for exclusive access cannot both get
    it. RFB has no message for a refusal after the security result: the viewer is simply
    disconnected."""
    others = list(hub.sessions)
    decision = decide_sharing(
        hub.viewers.sharing,
        asked_shared,
        len(others),
        any(other.exclusive for other in others),
    )
    if decision.refusal:
        raise Refused(decision.refusal)
    if decision.close_others:
        for other in others:
            other.close("another viewer asked for exclusive access")
    hub.sessions.add(session)
    return decision.exclusive


def blocked(guard: Guard, address: str) -> str:
    """Why ``address`` may not try a password now ("" when it may)."""
    seconds = guard.blocked_for(address, trio.current_time())
    if not seconds:
        return ""
    return (
        f"too many failed authentications from {address or 'this address'}: "
        f"try again in {math.ceil(seconds)} s"
    )


async def refuse_if_blocked(channel: Channel, guard: Guard, address: str) -> None:
    """A secret that arrives while its address is blocked (other connections from it failed
    meanwhile) is refused unchecked."""
    if refusal := blocked(guard, address):
        await channel.send(SecurityResult(ok=False, reason=refusal))  # 7.1.3 (3.8: reason)
        raise Refused(refusal)


async def conclude(channel: Channel, guard: Guard, address: str, ok: bool, who: str = "") -> None:
    """The SecurityResult of a checked secret; a wrong one counts towards the address's
    back-off (``who``, e.g. the user name, goes to the log only)."""
    if not ok:
        reason = "authentication failed"
        if block := guard.failed(address, trio.current_time()):
            reason += f"; too many failures: this address must wait {math.ceil(block)} s"
        await channel.send(SecurityResult(ok=False, reason=reason))
        raise Refused(f"{reason} ({who})" if who else reason)
    guard.succeeded(address)
    await channel.send(SecurityResult(ok=True))


async def authenticate(channel: Channel, access: Access, guard: Guard, address: str) -> bool:
    """VNC authentication (7.2.2): the full password, or the view-only one; returns whether
    the session is view-only."""
    challenge = os.urandom(16)
    await channel.send(VncAuthChallenge(challenge))
    response = (await channel.expect(VncAuthResponse)).response
    await refuse_if_blocked(channel, guard, address)
    full = check_response(challenge, response, access.password)
    view = not full and bool(access.view_only_password)
    view = view and check_response(challenge, response, access.view_only_password)
    await conclude(channel, guard, address, full or view)
    return view


#: Why a 3.3 viewer, which cannot choose, is turned away when only named users may log in.
NO_TYPE_FOR_3_3 = "this server needs a user name, which RFB 3.3 viewers cannot send"


def automatic_types(channel: Channel, access: Access) -> tuple[int, ...]:
    """The offer when ``[security] types`` is empty: VNC authentication with a password,
    and RSA-AES beside it when there is a server key and the viewer speaks 3.8 (3.3 carries
    one type; 3.7's SecurityResult has no reason); None only when there is no secret at
    all. noVNC takes the first type in the list that it knows, so a browser (WebSocket)
    gets RSA-AES first; a native viewer sees VNC authentication first."""
    vnc_auth = (SecurityType.VNC_AUTH,) if access.password else ()
    speaks_3_8 = channel.conn.version is not None and channel.conn.version >= (3, 8)
    rsa_aes = rsaaes.OFFER if access.rsa_key is not None and speaks_3_8 else ()
    if not (access.password or access.users):
        return (SecurityType.NONE,)
    if isinstance(channel.stream, WebSocketStream):
        return (*rsa_aes, *vnc_auth)
    return (*vnc_auth, *rsa_aes)


async def authenticate_rsa_aes(
    channel: Channel, access: Access, guard: Guard, address: str, security_type: int
) -> Outcome:
    """RSA-AES (vncd.rsaaes): a user name and password checked against the users file when
    there is one, else the password alone against the VNC passwords, whole (not cut to VNC
    authentication's 8 characters). Returns whether the session is view-only, and the user."""
    assert access.rsa_key is not None
    credentials = await rsaaes.run(
        channel, access.rsa_key, security_type, by_name=bool(access.users)
    )
    await refuse_if_blocked(channel, guard, address)
    if access.users:
        verdict = await users.verify(access.users, credentials.username, credentials.password)
        who = f"user {credentials.username!r}"
        await conclude(channel, guard, address, verdict.ok, who)
        return Outcome(ok=True, view_only=verdict.view_only, user=credentials.username)
    typed = credentials.password.encode()
    full = hmac.compare_digest(typed, access.password.encode())
    view = not full and bool(access.view_only_password)
    view = view and hmac.compare_digest(typed, access.view_only_password.encode())
    await conclude(channel, guard, address, full or view)
    return Outcome(ok=True, view_only=view)


def configured_types(channel: Channel, access: Access) -> tuple[int, ...]:
    """``[security] types`` for a viewer that may choose (3.7+); () = the automatic offer.
    RSA-AES only with a server key.
    Not VeNCrypt on a WebSocket: a browser is inside TLS already, and noVNC, which takes the
    first type it knows, would pick VeNCrypt and fail on its X509/TLS subtypes."""
    if channel.conn.version is None or channel.conn.version < (3, 7):
        return ()
    types = access.security_types
    if access.rsa_key is None:  # it could not be loaded or written (logged at start)
        types = tuple(kind for kind in types if kind not in rsaaes.OFFER)
    if isinstance(channel.stream, WebSocketStream):
        return tuple(kind for kind in types if kind != SecurityType.VENCRYPT)
    return types


async def settle(channel: Channel, guard: Guard, address: str, outcome: Outcome) -> bool:
    """After VeNCrypt (vncd.vencrypt: TLS on the stream, then the inner check) or Tight
    (vncd.tight): the SecurityResult and back-off as for VNC authentication. Returns whether
    the session is view-only."""
    if outcome.checked:
        await refuse_if_blocked(channel, guard, address)
    if outcome.checked or not outcome.ok:
        who = f"user {outcome.user!r}" if outcome.user else ""
        await conclude(channel, guard, address, outcome.ok, who)
    elif channel.conn.phase is Phase.SECURITY_RESULT:  # not after Tight's none before 3.8
        await channel.send(SecurityResult(ok=True))  # nothing was checked (TLSNone, X509None)
    return outcome.view_only
