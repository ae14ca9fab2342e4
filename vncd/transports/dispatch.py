"""Route each accepted connection: RFB, HTTP (and WebSocket) or TLS around either."""

from __future__ import annotations

import logging
import ssl

import attrs
import trio

from .http import REQUEST_SECONDS, HttpConnection, WebRoot
from .prefixed import PrefixedStream
from .sniff import Kind, Sniffed, sniff
from .tls import start_tls
from .websocket import RunRfb, WebSocketSettings

log = logging.getLogger(__name__)

MODES = ("auto", "rfb", "websocket")


@attrs.frozen
class Transports:
    """How a listener serves its connections.

    ``mode``: "auto" detects RFB, HTTP/WebSocket and TLS on the same port; "rfb" greets at
    once (plain RFB, no detection); "websocket" serves browsers only (HTTP and WebSocket,
    TLS when configured) and never greets first.
    """

    mode: str
    detect_seconds: float
    web: WebRoot
    websocket: WebSocketSettings
    tls: ssl.SSLContext | None = None

    @property
    def scheme(self) -> str:
        """The browser URL's scheme."""
        return "https" if self.tls is not None else "http"


async def serve_connection(
    stream: trio.abc.Stream, transports: Transports, peer: str, run_rfb: RunRfb
) -> None:
    """Serve one accepted connection with whatever its first bytes ask for; ``run_rfb`` runs
    an RFB session over a stream. Returns when the connection is done; closes what it
    wrapped (the caller closes ``stream``)."""
    if transports.mode == "rfb":
        await run_rfb(stream, peer)
        return
    # Browsers speak first: in "websocket" mode there is no viewer to greet, so wait for a
    # request as long as HTTP would.
    window = transports.detect_seconds if transports.mode == "auto" else REQUEST_SECONDS
    sniffed = await sniff(stream, window)
    if sniffed.kind is Kind.TLS:
        if transports.tls is None:
            log.info("%s: TLS client, but no [tls] certificate is configured: closing", peer)
            return
        tls = await start_tls(PrefixedStream(stream, sniffed.data), transports.tls, peer)
        if tls is None:
            return
        try:
            sniffed = await sniff(tls, window)
            await _serve_detected(tls, sniffed, transports, peer, True, run_rfb)
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await tls.aclose()  # close_notify, when the peer still listens
    else:
        await _serve_detected(stream, sniffed, transports, peer, False, run_rfb)


async def _serve_detected(
    stream: trio.abc.Stream,
    sniffed: Sniffed,
    transports: Transports,
    peer: str,
    secure: bool,
    run_rfb: RunRfb,
) -> None:
    """Serve a (possibly decrypted) stream whose first bytes were ``sniffed``; they are
    replayed to whoever serves it."""
    kind, replayed = sniffed.kind, PrefixedStream(stream, sniffed.data)
    if kind is Kind.CLOSED:
        log.debug("%s: closed before sending anything", peer)
    elif kind is Kind.HTTP or (transports.mode == "websocket" and kind is not Kind.SILENT):
        # In "websocket" mode anything is HTTP, and h11 answers garbage with 400.
        web = HttpConnection(replayed, transports.web, transports.websocket, secure, peer, run_rfb)
        await web.serve()
    elif transports.mode == "websocket":
        log.debug("%s: no request within %g s: closing", peer, REQUEST_SECONDS)
    else:
        await run_rfb(replayed, f"{peer} (TLS)" if secure else peer)
