"""Drive a ServerConnection and a ClientConnection against each other.

The helpers are handed out by session-scoped fixtures: plain functions, so Hypothesis tests
can use them (function-scoped fixtures would be shared across examples).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

import pytest

from protocol import (
    BGRX,
    NEED_DATA,
    ClientConnection,
    ClientInit,
    Event,
    Phase,
    ProtocolVersion,
    SecurityResult,
    SecurityTypeChosen,
    SecurityTypes,
    ServerConnection,
    ServerInit,
    VncAuthChallenge,
    VncAuthResponse,
)
from protocol.security import SecurityType
from protocol.security.vncauth import check_response, encrypt_challenge

from .messages import Connection

CHALLENGE = bytes(range(100, 116))
PASSWORD = "s3cret!"
SIZE = (64, 48)


def exchange(sender: Connection, receiver: Connection, event: Event) -> Event:
    """Send ``event`` and check the peer reads back exactly it, and nothing more."""
    receiver.receive_data(sender.send(event))
    received = receiver.next_event()
    assert received == event
    assert receiver.next_event() is NEED_DATA
    assert sender.phase is receiver.phase
    return received


def _script(
    server: ServerConnection,
    offer: tuple[int, int],
    reply: tuple[int, int],
    security: int,
    password: str,
) -> Iterator[tuple[bool, Event]]:
    """(server sends?, event) for each handshake step (rfbproto 7.1-7.3), lazily, so each
    step can depend on what the previous ones negotiated."""
    yield True, ProtocolVersion(*offer)
    yield False, ProtocolVersion(*reply)
    assert server.version is not None
    yield True, SecurityTypes((security,))
    if server.version >= (3, 7):
        yield False, SecurityTypeChosen(security)
    if security == SecurityType.VNC_AUTH:
        yield True, VncAuthChallenge(CHALLENGE)
        yield False, VncAuthResponse(encrypt_challenge(CHALLENGE, password))
        ok = check_response(CHALLENGE, encrypt_challenge(CHALLENGE, password), PASSWORD)
        # Before 3.8 a failure carries no reason on the wire (7.1.3).
        reason = "wrong password" if not ok and server.version >= (3, 8) else ""
        yield True, SecurityResult(ok, reason)
    elif server.version >= (3, 8):
        yield True, SecurityResult(ok=True)
    yield False, ClientInit(shared=True)
    yield True, ServerInit(*SIZE, BGRX, "test desktop")


def make_pair(
    *,
    offer: tuple[int, int] = (3, 8),
    reply: tuple[int, int] = (3, 8),
    security: int = SecurityType.NONE,
    password: str = PASSWORD,
    until: Phase = Phase.NORMAL,
    **limits: int,
) -> tuple[ServerConnection, ClientConnection]:
    """A server and a client taken through the handshake until ``until`` (or CLOSED)."""
    server, client = ServerConnection(**limits), ClientConnection(**limits)
    for from_server, event in _script(server, offer, reply, security, password):
        if server.phase in (until, Phase.CLOSED):
            break
        if from_server:
            exchange(server, client, event)
        else:
            exchange(client, server, event)
    return server, client


class MakePair(Protocol):
    def __call__(self, **options: object) -> tuple[ServerConnection, ClientConnection]: ...


@pytest.fixture(scope="session")
def pair() -> MakePair:
    return make_pair  # type: ignore[return-value]


@pytest.fixture(scope="session")
def send_and_receive() -> Callable[[Connection, Connection, Event], Event]:
    return exchange
