"""Admission of a viewer, rfbproto 7.1–7.3: version, security, ClientInit, ServerInit."""

from __future__ import annotations

import os

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


@attrs.frozen
class Admission:
    """What the handshake decided about the viewer."""

    view_only: bool
    shared: bool
    size: tuple[int, int]  # the framebuffer size announced in ServerInit


async def admit(channel: Channel, hub: Hub) -> Admission:
    """Run the handshake up to ServerInit; raises Refused when the viewer is turned away."""
    await channel.send(ProtocolVersion(3, 8))
    await channel.expect(ProtocolVersion)
    if len(hub.sessions) >= hub.access.max_connections:
        await channel.send(HandshakeFailed("too many connections"))
        raise Refused("too many connections")
    security = SecurityType.VNC_AUTH if hub.access.password else SecurityType.NONE
    await channel.send(SecurityTypes((security,)))
    if channel.conn.version >= (3, 7):
        await channel.expect(SecurityTypeChosen)
    view_only = False
    if security == SecurityType.VNC_AUTH:
        view_only = await authenticate(channel, hub.access)
    elif channel.conn.version >= (3, 8):
        await channel.send(SecurityResult(ok=True))
    client_init = await channel.expect(ClientInit)
    size = hub.source.size
    await channel.send(ServerInit(*size, BGRX, hub.name))
    return Admission(view_only=view_only, shared=client_init.shared, size=size)


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
