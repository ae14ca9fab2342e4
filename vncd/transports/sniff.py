"""Same-port detection: tell an RFB viewer, a browser (HTTP) and a TLS client apart.

A VNC viewer waits for the server to speak first (rfbproto 7.1.1), while a browser speaks
first: an HTTP request line, or a TLS ClientHello. So the first bytes decide, and silence for
the length of a short window means a VNC viewer. Some viewers (gtk-vnc) send their own
"RFB 003.008\\n" without waiting; any bytes that are neither HTTP nor TLS mean RFB too, and
are replayed to the session.
"""

from __future__ import annotations

import enum
import re

import attrs
import trio

#: The longest prefix worth waiting for: an HTTP method and its space ("OPTIONS ", "CONNECT ").
_METHOD_LENGTH = 16
_HTTP_REQUEST = re.compile(rb"([A-Z]{1,%d}) " % _METHOD_LENGTH)
_MAYBE_METHOD = re.compile(rb"[A-Z]{0,%d}" % _METHOD_LENGTH)
#: After the window, a last look this long at bytes that already arrived but were not seen
#: because the event loop was busy when the window closed.
LAST_LOOK_SECONDS = 0.001
RECEIVE_CHUNK = 4096


class Kind(enum.Enum):
    """What the first bytes say (or the silence)."""

    RFB = "rfb"  # bytes that are neither of the others (a viewer that speaks first)
    HTTP = "http"  # a request line: a method token and a space
    TLS = "tls"  # a TLS handshake record (ClientHello): content type 22, version 3.x
    SILENT = "silent"  # nothing arrived in the window: a VNC viewer waiting for the greeting
    CLOSED = "closed"  # the client closed the connection before deciding anything


@attrs.frozen
class Sniffed:
    """The verdict and the bytes read to reach it, which belong to whoever serves the rest."""

    kind: Kind
    data: bytes


def classify(data: bytes) -> Kind | None:
    """The kind of connection that starts with ``data``, or None if more bytes could tell."""
    if not data:
        return None
    if data[0] == 0x16:  # TLS record header (RFC 8446 5.1): 0x16, then legacy version 0x03 0x0?
        if len(data) == 1:
            return None
        return Kind.TLS if data[1] == 0x03 else Kind.RFB
    if request := _HTTP_REQUEST.match(data):
        # "RFB 003.008\n" looks like a method token too; it is a viewer's ProtocolVersion.
        return Kind.RFB if request[1] == b"RFB" else Kind.HTTP
    return None if _MAYBE_METHOD.fullmatch(data) else Kind.RFB


async def sniff(stream: trio.abc.ReceiveStream, seconds: float) -> Sniffed:
    """Read until the first bytes decide, or ``seconds`` pass (then: SILENT, or RFB when some
    undecided bytes came, e.g. "RF").

    Only cancellation-safe receives are interrupted: a TCP stream, or a TLS stream after its
    handshake.
    """
    data = bytearray()
    for deadline in (seconds, LAST_LOOK_SECONDS):
        with trio.move_on_after(deadline):
            while (kind := classify(data)) is None:
                chunk = await stream.receive_some(RECEIVE_CHUNK)
                if not chunk:
                    return Sniffed(Kind.CLOSED, bytes(data))
                data += chunk
            return Sniffed(kind, bytes(data))
    return Sniffed(Kind.RFB if data else Kind.SILENT, bytes(data))
