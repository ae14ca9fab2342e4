"""The Extended Clipboard's parsing (``protocol.clipboard``): the flags word and what follows
it, as a client's or a server's cut text message with a negative length, or straight through
``body_size`` and ``unpack``. A Provide must never inflate past its budget, however its zlib
data lies about sizes (a bomb of a few KB claiming gigabytes)."""

from __future__ import annotations

import copy
import functools
import struct
import zlib
from collections.abc import Iterator

import atheris

from protocol import NEED_DATA, ClientConnection, Event, ServerConnection, SetEncodings
from protocol.clipboard import (
    ClipboardAction,
    ClipboardCaps,
    ClipboardFormat,
    ClipboardNotify,
    ClipboardPeek,
    ClipboardProvide,
    ClipboardRequest,
    body_size,
    pack,
    provide_text,
    provided_text,
    unpack,
)

from ._harness import options, target
from ._peer import LIMITS, converse
from .client import ENCODINGS, Client
from .server import Server

BUDGET = LIMITS["max_clipboard"]
_CUT_TEXT = struct.Struct(">B3xi")
CLIENT_CUT_TEXT, SERVER_CUT_TEXT = 6, 3


def _check(event: Event) -> None:
    """What a receiver relies on: a Provide holds at most the budget, and its text reads."""
    if isinstance(event, ClipboardProvide):
        assert sum(len(item) for _, item in event.data) <= BUDGET, "inflated past the budget"
        provided_text(event)


@functools.cache
def _negotiated() -> tuple[ServerConnection, ClientConnection]:
    """A server and a client in the normal phase, the Extended Clipboard negotiated."""
    server, client = Server((3, 8), (1,), 0), Client(0, [SetEncodings(ENCODINGS)])
    converse(server, client)
    return server.conn, client.conn


def _pair() -> tuple[ServerConnection, ClientConnection]:
    """A fresh copy of ``_negotiated`` (copying costs a third of a handshake)."""
    return copy.deepcopy(_negotiated())


@target
def test_one_input(fdp: atheris.FuzzedDataProvider) -> None:
    route = fdp.ConsumeIntInRange(0, 2)
    if route == 2:
        message = fdp.ConsumeBytes(fdp.remaining_bytes())
        flags = int.from_bytes(message[:4].rjust(4, b"\0"), "big")
        body = message[4:]
        expected = body_size(flags)
        if expected is None or expected == len(body):
            _check(unpack(flags, body, BUDGET))
        return
    server, client = _pair()
    receiver, message_type = (server, CLIENT_CUT_TEXT) if route == 0 else (client, SERVER_CUT_TEXT)
    step = fdp.ConsumeIntInRange(0, 255)
    # The stream: messages, each its length from the fuzzer (0: the rest), then its bytes.
    stream = bytearray()
    while fdp.remaining_bytes():
        part = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 255) * 16 or fdp.remaining_bytes())
        stream += _CUT_TEXT.pack(message_type, -len(part)) + part
    for start in range(0, len(stream), step or len(stream) or 1):
        receiver.receive_data(bytes(stream[start : start + (step or len(stream))]))
        while (event := receiver.next_event()) is not NEED_DATA:
            _check(event)


def seeds() -> Iterator[bytes]:
    """Every clipboard message as either side sends it, and zlib bombs (a Provide whose
    items announce and inflate to far more than the budget)."""
    events = [
        ClipboardCaps(
            {ClipboardFormat.TEXT: 1 << 20, ClipboardFormat.HTML: 0},
            ClipboardAction.REQUEST | ClipboardAction.PROVIDE,
        ),
        ClipboardRequest(ClipboardFormat.TEXT),
        ClipboardPeek(),
        ClipboardNotify(ClipboardFormat.TEXT | ClipboardFormat.RTF),
        provide_text("hello\nwörld"),
        ClipboardProvide(
            {
                ClipboardFormat.TEXT: b"a\0",
                ClipboardFormat.RTF: b"{\\rtf1}",
                ClipboardFormat.HTML: b"<b>x</b>",
            }
        ),
    ]
    messages = [pack(event) for event in events]
    bomb = zlib.compress(struct.pack(">I", 8 << 20) + bytes(8 << 20), 9)
    messages.append(struct.pack(">I", ClipboardAction.PROVIDE | ClipboardFormat.TEXT) + bomb)
    liar = zlib.compress(struct.pack(">I", 0xFFFFFFF0) + b"x" * 100)
    messages.append(struct.pack(">I", ClipboardAction.PROVIDE | ClipboardFormat.TEXT) + liar)
    for message in messages:
        yield message + options(2)
        for route in (0, 1):
            yield message + options(route, 0, 0)
            yield message + options(route, 7, 0)
