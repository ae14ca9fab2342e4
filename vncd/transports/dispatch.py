"""Route each accepted connection: RFB, HTTP (and WebSocket) or TLS around either."""

from __future__ import annotations

import logging
import socket
import ssl
import struct
from collections.abc import Callable

import attrs
import trio

from .http import REQUEST_SECONDS, HttpConnection, RunSession, StatusPages, WebRoot
from .prefixed import PrefixedStream
from .sniff import Kind, Sniffed, sniff
from .tls import start_tls
from .websocket import WebSocketSettings

log = logging.getLogger(__name__)

MODES = ("auto", "rfb", "websocket", "http-only")
#: The modes that serve browsers only: every connection is HTTP.
_BROWSER_MODES = ("websocket", "http-only")

#: A host that fetched a page from us this recently is running a browser...
BROWSER_MEMORY_SECONDS = 60.0
#: ...so its silent connections get this long before they are greeted as VNC viewers: a busy
#: browser opens sockets ahead of need (preconnects) and may write its request on them much
#: later than ``detect_ms``.
BROWSER_DETECT_SECONDS = 1.0
#: Hosts remembered at most (the oldest is forgotten first), so memory stays bounded.
BROWSER_HOSTS = 1024


@attrs.define
class RecentBrowsers:
    """The hosts that made HTTP requests lately, and when."""

    _seen: dict[str, float] = attrs.Factory(dict)

    def saw(self, host: str, now: float) -> None:
        self._seen.pop(host, None)
        self._seen[host] = now  # dicts keep insertion order: the oldest come first
        while len(self._seen) > BROWSER_HOSTS:
            del self._seen[next(iter(self._seen))]

    def recent(self, host: str, now: float) -> bool:
        seen = self._seen.get(host)
        return seen is not None and now - seen < BROWSER_MEMORY_SECONDS


@attrs.frozen
class Transports:
    """How a listener serves its connections.

    ``mode``: "auto" detects RFB, HTTP/WebSocket and TLS on the same port; "rfb" greets at
    once (plain RFB, no detection); "websocket" serves browsers only (HTTP and WebSocket,
    TLS when configured) and never greets first; "http-only" serves the web page and the
    status pages like "websocket", but no RFB at all (a WebSocket is not taken).
    """

    mode: str
    detect_seconds: float
    web: WebRoot
    websocket: WebSocketSettings
    tls: ssl.SSLContext | None = None
    browsers: RecentBrowsers = attrs.Factory(RecentBrowsers)
    #: Pages the HTTP side makes besides the web client's files (/readyz, /metrics).
    pages: StatusPages = attrs.Factory(dict)

    @property
    def scheme(self) -> str:
        """The browser URL's scheme."""
        return "https" if self.tls is not None else "http"


async def serve_connection(
    stream: trio.abc.Stream,
    transports: Transports,
    peer: str,
    run_rfb: RunSession,
    on_web: Callable[[], None] = lambda: None,
) -> None:
    """Serve one accepted connection with whatever its first bytes ask for; ``run_rfb`` runs
    an RFB session over a stream, ``on_web`` is called once it turns out to be a browser's
    HTTP connection (its requests may come and go for a while, and most of them are not
    RFB). Returns when the connection is done; closes what it wrapped (the caller closes
    ``stream``)."""
    if transports.mode == "rfb":
        await run_rfb(stream, peer)
        return
    # Browsers speak first: in "websocket" mode there is no viewer to greet, so wait for a
    # request as long as HTTP would.
    host = peer_host(stream)
    if transports.mode in _BROWSER_MODES:
        window = REQUEST_SECONDS
    elif transports.browsers.recent(host, trio.current_time()):
        window = max(transports.detect_seconds, BROWSER_DETECT_SECONDS)
    else:
        window = transports.detect_seconds
    sniffed = await sniff(stream, window)
    if sniffed.kind is Kind.HTTP or sniffed.kind is Kind.TLS:
        transports.browsers.saw(host, trio.current_time())
    if sniffed.kind is Kind.TLS:
        if transports.tls is None:
            log.info(
                "%s: TLS client, but no [tls] certificate is configured (or this listener has "
                "tls = false): closing",
                peer,
            )
            return
        tls = await start_tls(PrefixedStream(stream, sniffed.data), transports.tls, peer)
        if tls is None:
            return
        try:
            sniffed = await sniff(tls, window)
            await _serve_detected(tls, sniffed, transports, peer, True, run_rfb, on_web)
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await tls.aclose()  # close_notify, when the peer still listens
    else:
        await _serve_detected(stream, sniffed, transports, peer, False, run_rfb, on_web)


def peer_host(stream: trio.abc.Stream) -> str:
    """The address the connection comes from ("" when the stream has no socket). A UNIX
    socket's peer has none: it counts as ``unix:uid=N``, its user (SO_PEERCRED), so the
    per-address limits apply per local user (``unix`` where the kernel does not say)."""
    try:
        if stream.socket.family == socket.AF_UNIX:
            credentials = unix_credentials(stream.socket)
            return f"unix:uid={credentials[1]}" if credentials else "unix"
        return str(stream.socket.getpeername()[0])
    except (AttributeError, OSError, IndexError):
        return ""


def unix_credentials(sock: trio.socket.SocketType) -> tuple[int, int] | None:
    """(pid, uid) of a UNIX socket's peer, None where SO_PEERCRED is missing (not Linux)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, option, 12))
    return pid, uid


async def _serve_detected(
    stream: trio.abc.Stream,
    sniffed: Sniffed,
    transports: Transports,
    peer: str,
    secure: bool,
    run_rfb: RunSession,
    on_web: Callable[[], None],
) -> None:
    """Serve a (possibly decrypted) stream whose first bytes were ``sniffed``; they are
    replayed to whoever serves it."""
    kind, replayed = sniffed.kind, PrefixedStream(stream, sniffed.data)
    if kind is Kind.CLOSED:
        log.debug("%s: closed before sending anything", peer)
    elif kind is Kind.HTTP or (transports.mode in _BROWSER_MODES and kind is not Kind.SILENT):
        # In the browser modes anything is HTTP, and h11 answers garbage with 400.
        on_web()
        run_websocket = None if transports.mode == "http-only" else run_rfb
        web = HttpConnection(
            replayed,
            transports.web,
            transports.websocket,
            secure,
            peer,
            run_websocket,
            transports.pages,
        )
        await web.serve()
    elif transports.mode in _BROWSER_MODES:
        log.debug("%s: no request within %g s: closing", peer, REQUEST_SECONDS)
    else:
        if secure:
            await run_rfb(replayed, f"{peer} (TLS)", transport="tls")
        else:
            await run_rfb(replayed, peer)
