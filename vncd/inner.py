"""Running a sans-IO security handler over a viewer's channel (VeNCrypt, Tight): its events
from the viewer, VNC authentication inside it, and the outcome the handshake then settles."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, TypeVar

import attrs

from protocol import NEED_DATA, VncAuthChallenge, VncAuthResponse
from protocol.security import Exchange
from protocol.security.vencrypt import PlainCredentials
from protocol.security.vncauth import check_response

from . import users
from .channel import RECEIVE_CHUNK, Channel, Refused

if TYPE_CHECKING:
    from .hub import Access

E = TypeVar("E")


@attrs.frozen
class Outcome:
    """How the inner authentication went."""

    ok: bool
    view_only: bool = False
    #: Credentials were checked (None checks nothing): a failure counts for the back-off.
    checked: bool = True
    user: str = ""


async def vnc_auth(channel: Channel, handler: Exchange, access: Access) -> Outcome:
    """VNC authentication inside a handler (VeNCrypt's *Vnc subtypes, Tight)."""
    challenge = os.urandom(16)
    await channel.write(handler.send(VncAuthChallenge(challenge)))
    response = (await expect(channel, handler, VncAuthResponse)).response
    if check_response(challenge, response, access.password):
        return Outcome(ok=True)
    if access.view_only_password and check_response(challenge, response, access.view_only_password):
        return Outcome(ok=True, view_only=True)
    return Outcome(ok=False)


async def log_in(channel: Channel, handler: Exchange, access: Access) -> Outcome:
    """A user name and password inside a handler (VeNCrypt's *Plain subtypes, Tight's
    login), checked against the users file."""
    credentials = await expect(channel, handler, PlainCredentials)
    verdict = await users.verify(access.users, credentials.username, credentials.password)
    return Outcome(ok=verdict.ok, view_only=verdict.view_only, user=credentials.username)


async def expect(channel: Channel, handler: Exchange, kind: type[E]) -> E:
    """The handler's next event from the viewer, which must be a ``kind``."""
    name = type(handler).__name__
    while (event := handler.next_event()) is NEED_DATA:
        data = await channel.stream.receive_some(RECEIVE_CHUNK)
        if not data:
            raise Refused(f"the viewer closed the connection during {name} {handler.phase.name}")
        handler.receive_data(data)
    if not isinstance(event, kind):
        raise Refused(f"expected {kind.__name__} in {name}, got {type(event).__name__}")
    return event
