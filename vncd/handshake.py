"""Admission of a viewer, rfbproto 7.1–7.3: version, security, ClientInit, ServerInit."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import attrs

from protocol import (
    BGRX,
    ClientInit,
    HandshakeFailed,
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

from .channel import Channel, Refused
from .hub import Access, Hub
from .policy import decide_sharing

if TYPE_CHECKING:
    from .session import Session


@attrs.frozen
class Admission:
    """What the handshake decided about the viewer."""

    view_only: bool
    size: tuple[int, int]  # the framebuffer size announced in ServerInit


async def admit(channel: Channel, hub: Hub, session: Session) -> Admission:
    """Run the handshake up to ServerInit; raises Refused when the viewer is turned away.
    Once admitted, ``session`` is among ``hub.sessions``."""
    await channel.send(ProtocolVersion(3, 8))
    await channel.expect(ProtocolVersion)
    if len(hub.sessions) >= hub.access.max_connections:
        await channel.send(HandshakeFailed("too many connections"))
        raise Refused("too many connections")
    security = SecurityType.VNC_AUTH if hub.access.password else SecurityType.NONE
    await channel.send(SecurityTypes((security,)))
    if channel.conn.version >= (3, 7):
        await channel.expect(SecurityTypeChosen)
    view_only = hub.viewers.view_only
    if security == SecurityType.VNC_AUTH:
        view_only = await authenticate(channel, hub.access) or view_only
    elif channel.conn.version >= (3, 8):
        await channel.send(SecurityResult(ok=True))
    client_init = await channel.expect(ClientInit)
    session.exclusive = join(hub, session, client_init.shared)
    size = hub.source.size
    await channel.send(ServerInit(*size, BGRX, hub.name))
    return Admission(view_only=view_only, size=size)


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


async def authenticate(channel: Channel, access: Access) -> bool:
    """VNC authentication (7.2.2): the full password, or the view-only one; returns whether
    the session is view-only."""
    challenge = os.urandom(16)
    await channel.send(VncAuthChallenge(challenge))
    response = (await channel.expect(VncAuthResponse)).response
    if check_response(challenge, response, access.password):
        view_only = False
    elif access.view_only_password and check_response(
        challenge, response, access.view_only_password
    ):
        view_only = True
    else:
        await channel.send(SecurityResult(ok=False, reason="authentication failed"))
        raise Refused("authentication failed")
    await channel.send(SecurityResult(ok=True))
    return view_only
