"""Arbitrary bytes at every phase, on both ends: only events or RemoteProtocolError, no hang,
and the same outcome whether the bytes arrive whole or one at a time."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import (
    Event,
    Phase,
    RemoteProtocolError,
)
from protocol.encodings import DECODERS
from protocol.security import SecurityType

from .messages import CLIENT_TYPES, SERVER_TYPES, Connection, drain, garbage

Outcome = tuple[list[Event], str | None]


@st.composite
def update_headers(draw: st.DrawFn) -> bytes:
    """The start of a FramebufferUpdate whose rectangles fit a 64 x 48 framebuffer and use
    encodings we can decode, so the decoders themselves get the garbage."""
    rectangles = draw(st.integers(1, 3))
    x, y = draw(st.integers(0, 8)), draw(st.integers(0, 8))
    width, height = draw(st.integers(0, 8)), draw(st.integers(0, 8))
    encoding = draw(st.sampled_from(sorted(DECODERS)))
    return struct.pack(">BxH HHHHi", 0, rectangles, x, y, width, height, encoding)


def run(conn: Connection, chunks: list[bytes]) -> Outcome:
    """Feed ``chunks`` and drain events after each; stop at the first RemoteProtocolError."""
    events: list[Event] = []
    budget = sum(len(chunk) for chunk in chunks) + 2  # every event consumes a byte (or EOF)
    try:
        for chunk in chunks:
            drain(conn, chunk, events, budget)
    except RemoteProtocolError as error:
        return events, str(error)
    return events, None


def check(make: Callable[[], Connection], data: bytes, eof: bool) -> None:
    ending = [b""] if eof else []
    whole = run(make(), [data, *ending] if data else ending)  # b"" alone would be EOF
    one_by_one = run(make(), [data[i : i + 1] for i in range(len(data))] + ending)
    assert whole == one_by_one


SERVER_CASES = [
    # (phase, version): a fresh server has not sent its version, so bytes just wait.
    (Phase.SERVER_VERSION, (3, 8)),
    (Phase.CLIENT_VERSION, (3, 8)),
    (Phase.SECURITY_TYPE_CHOICE, (3, 8)),
    (Phase.VNC_AUTH_RESPONSE, (3, 3)),
    (Phase.CLIENT_INIT, (3, 7)),
    (Phase.NORMAL, (3, 8)),
]
CLIENT_CASES = [
    (Phase.SERVER_VERSION, (3, 8)),
    (Phase.SECURITY_TYPES, (3, 3)),
    (Phase.SECURITY_TYPES, (3, 8)),
    (Phase.VNC_AUTH_CHALLENGE, (3, 8)),
    (Phase.SECURITY_RESULT, (3, 3)),
    (Phase.SECURITY_RESULT, (3, 8)),
    (Phase.SERVER_INIT, (3, 8)),
    (Phase.NORMAL, (3, 8)),
]


@pytest.mark.parametrize(("phase", "version"), SERVER_CASES)
@settings(max_examples=200, deadline=None)
@given(data=garbage(CLIENT_TYPES, st.just(b"RFB 003.008\n")), eof=st.booleans())
def test_server_survives_garbage(phase, version, data: bytes, eof: bool, pair) -> None:
    def make() -> Connection:
        server, _ = pair(offer=version, reply=version, security=SecurityType.VNC_AUTH, until=phase)
        return server

    check(make, data, eof)


@pytest.mark.parametrize(("phase", "version"), CLIENT_CASES)
@settings(max_examples=200, deadline=None)
@given(data=garbage(SERVER_TYPES, update_headers(), st.just(b"RFB 003.008\n")), eof=st.booleans())
def test_client_survives_garbage(phase, version, data: bytes, eof: bool, pair) -> None:
    def make() -> Connection:
        _, client = pair(offer=version, reply=version, security=SecurityType.VNC_AUTH, until=phase)
        return client

    check(make, data, eof)
