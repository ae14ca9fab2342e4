"""HTTP/1.1 on the RFB port (h11): the web client's static files, /healthz, the server's
status pages (/readyz, /metrics) and the door to WebSocket.

Everything one connection can make the server hold is bounded: a request head is at most
MAX_HEAD_BYTES and must arrive within REQUEST_SECONDS (which also ends idle keep-alive
connections), a connection serves at most MAX_REQUESTS requests, and request bodies are never
read (a request with one is answered and the connection closed).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import stat
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Protocol

import attrs
import h11
import trio

from .linger import linger
from .websocket import WebSocketSettings, handshake_bytes, is_upgrade, refusal
from .websocket import serve_websocket as _serve_websocket

log = logging.getLogger(__name__)

REQUEST_SECONDS = 10.0
MAX_HEAD_BYTES = 16 * 1024
MAX_REQUESTS = 100
RECEIVE_CHUNK = 16 * 1024
FILE_CHUNK = 64 * 1024
#: The only part of node_modules served: the page imports noVNC's ES modules from there.
NOVNC_PACKAGE = ("node_modules", "@novnc", "novnc")


def default_web_root() -> Path:
    """The web client's directory when `[http] web_root` is empty: the copy packaged with
    vncd (vncd/web/, which setup.py writes into sdists and wheels only) when there is one,
    else the checkout's web/. The packaged copy is looked for first because a checkout never
    has one, while the directory above an installed vncd is site-packages, where a `web`
    could be anything."""
    package = Path(__file__).resolve().parents[1]
    packaged = package / "web"
    return packaged if packaged.is_dir() else package.parent / "web"


#: Where the web client is served from unless `[http] web_root` says otherwise.
DEFAULT_WEB_ROOT = default_web_root()

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".wasm": "application/wasm",
    ".oga": "audio/ogg",
    ".mp3": "audio/mpeg",
}
BINARY_TYPE = "application/octet-stream"
#: Sent with every response: no MIME sniffing (a file is what its type says), no framing by
#: other sites (a page that controls a desktop must not be clickjacked), no Referer leaks.
SECURITY_HEADERS = (
    (b"X-Content-Type-Options", b"nosniff"),
    (b"X-Frame-Options", b"DENY"),
    (b"Referrer-Policy", b"no-referrer"),
)
ALLOWED_METHODS = (b"GET", b"HEAD")

NOT_INSTALLED_PAGE = b"""<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>vncd</title>
<h1>vncd</h1>
<p>This server has no web client installed: its web root has no <code>index.html</code>.
Install the web client into the repository's <code>web/</code> directory as README.md
("Browser access") describes, or point <code>[http] web_root</code> at one.</p>
<p>VNC viewers can connect to this same port.</p>
</html>
"""


@attrs.frozen
class StatusPage:
    """A page the server makes when asked (/metrics, /readyz), not a file."""

    status: int
    content_type: str
    body: bytes


class RunSession(Protocol):
    """Runs an RFB session over a stream; ``transport`` says what carries it, for the logs
    and /metrics: "tcp", "tls", "websocket" or "wss"."""

    def __call__(
        self, stream: trio.abc.Stream, peer: str, transport: str = "tcp"
    ) -> Awaitable[None]: ...


#: URL path → what makes its page; given by the server, so HTTP knows nothing of the hub.
StatusPages = Mapping[str, Callable[[], StatusPage]]


@attrs.frozen
class StaticFile:
    """A file found under the web root, with what its response headers need."""

    path: Path
    size: int
    etag: bytes
    content_type: str


def _servable(parts: tuple[str, ...] | list[str]) -> bool:
    """No hidden files or dot segments ("..", "."), no NULs, and nothing under node_modules
    but the noVNC package."""
    if any(part.startswith(".") or "\0" in part for part in parts):
        return False
    if parts and parts[0] == NOVNC_PACKAGE[0]:
        return tuple(parts[:3]) == NOVNC_PACKAGE and len(parts) > 3
    return True


@attrs.frozen
class WebRoot:
    """The directory the web client is served from; None when there is none."""

    root: Path | None

    @classmethod
    def at(cls, path: Path) -> WebRoot:
        return cls(path.resolve() if path.is_dir() else None)

    def find(self, url_path: str) -> StaticFile | None:
        """The file a URL path names, or None: the path is checked before and after
        symlinks are resolved, so neither ".." nor a symlink can lead out of the web root.
        Blocking (file system calls): run it in a thread."""
        if self.root is None:
            return None
        try:
            decoded = urllib.parse.unquote(url_path, errors="strict")
        except UnicodeDecodeError:
            return None
        segments = [part for part in decoded.split("/") if part]
        if not _servable(segments):
            return None
        try:
            path = self.root.joinpath(*segments).resolve(strict=True)
            if path.is_dir():
                path = (path / "index.html").resolve(strict=True)
            status = path.stat()
        except (OSError, RuntimeError, ValueError):
            return None
        if not path.is_relative_to(self.root) or not stat.S_ISREG(status.st_mode):
            return None
        if not _servable(path.relative_to(self.root).parts):
            return None
        return StaticFile(
            path=path,
            size=status.st_size,
            etag=f'"{status.st_size:x}-{status.st_mtime_ns:x}"'.encode(),
            content_type=CONTENT_TYPES.get(path.suffix.lower(), BINARY_TYPE),
        )


class HttpConnection:
    """One browser connection: requests in order, until it closes, idles or errs. Without
    ``web`` and ``run_rfb`` it serves the status pages alone ([metrics] listen)."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        web: WebRoot | None,
        websocket: WebSocketSettings,
        secure: bool,
        peer: str,
        run_rfb: RunSession | None,
        pages: StatusPages | None = None,
    ) -> None:
        self.stream = stream
        self.web = web
        self.websocket = websocket
        self.secure = secure
        self.peer = peer
        self.run_rfb = run_rfb
        self.pages = pages or {}
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)

    async def serve(self) -> None:
        """Serve requests until the connection should end; never raises for what the client
        does."""
        try:
            await self._serve_requests()
            if self.conn.their_state in (h11.SEND_BODY, h11.ERROR):
                await linger(self.stream)  # a bad request or an unread body
        except trio.TooSlowError:
            log.debug("%s: HTTP request timed out", self.peer)
        except (h11.LocalProtocolError, trio.BrokenResourceError, trio.ClosedResourceError) as e:
            log.debug("%s: HTTP connection ended: %s", self.peer, e)

    async def _serve_requests(self) -> None:
        try:
            for count in range(1, MAX_REQUESTS + 1):
                request = await self._next_request()
                if request is None:
                    return
                await self._answer(request, last=count == MAX_REQUESTS)
                if self.conn.our_state is not h11.DONE or self.conn.their_state is not h11.DONE:
                    return  # closing (or switched to WebSocket, and that is over)
                self.conn.start_next_cycle()
        except h11.RemoteProtocolError as error:
            await self._refuse_bad_request(error)

    async def _next_request(self) -> h11.Request | None:
        """The next request (its head), or None when the client closed between requests."""
        with trio.fail_after(REQUEST_SECONDS):
            while True:
                event = self.conn.next_event()
                if event is h11.NEED_DATA:
                    self.conn.receive_data(await self.stream.receive_some(RECEIVE_CHUNK))
                elif isinstance(event, h11.Request):
                    return event
                else:  # ConnectionClosed; nothing else can come between requests
                    return None

    async def _refuse_bad_request(self, error: h11.RemoteProtocolError) -> None:
        log.info("%s: bad HTTP request: %s", self.peer, error)
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            status = error.error_status_hint
            with contextlib.suppress(
                trio.BrokenResourceError, trio.ClosedResourceError, h11.LocalProtocolError
            ):
                await self._send_text(status, f"{status} {error}\n", close=True)

    async def _answer(self, request: h11.Request, *, last: bool) -> None:
        # Without a body the request ends right here; a body is never read, so close after.
        has_body = not isinstance(self.conn.next_event(), h11.EndOfMessage)
        close = last or has_body
        target = request.target.decode("ascii", "replace")
        if is_upgrade(request) and not has_body and self.run_rfb is not None:
            await self._upgrade(request)
            return
        if request.method not in ALLOWED_METHODS:
            await self._send_text(
                405, "405 Method Not Allowed\n", close=True, extra=((b"Allow", b"GET, HEAD"),)
            )
        else:
            path = urllib.parse.urlsplit(target).path
            await self._get(request, path, close=close)
        log.debug("%s: %s %s", self.peer, request.method.decode("ascii", "replace"), target)

    async def _get(self, request: h11.Request, path: str, *, close: bool) -> None:
        head = request.method == b"HEAD"
        if path == "/healthz":
            await self._send_text(200, "ok\n", close=close, head=head)
            return
        if (make_page := self.pages.get(path)) is not None:
            page = make_page()
            await self._send(page.status, page.content_type, page.body, close, head)
            return
        if self.web is None:
            await self._send_text(404, "404 Not Found\n", close=close, head=head)
            return
        found = await trio.to_thread.run_sync(self.web.find, path)
        if found is None and path in ("/", "/index.html"):  # no index.html: no web client
            await self._send(200, "text/html; charset=utf-8", NOT_INSTALLED_PAGE, close, head)
            return
        try:
            file = None if found is None else await trio.open_file(found.path, "rb")
        except OSError:  # unreadable, or gone since it was found
            file = None
        if found is None or file is None:
            await self._send_text(404, "404 Not Found\n", close=close, head=head)
            return
        async with file:
            if found.etag in _etags(request):
                await self._respond(304, [(b"ETag", found.etag)], close=close)
                await self._end()
                return
            headers = [
                (b"Content-Type", found.content_type.encode()),
                (b"Content-Length", str(found.size).encode()),
                (b"ETag", found.etag),
                (b"Cache-Control", b"no-cache"),  # revalidate each time (cheap: ETag → 304)
            ]
            await self._respond(200, headers, close=close)
            remaining = 0 if head else found.size
            while remaining:
                chunk = await file.read(min(FILE_CHUNK, remaining))
                if not chunk:
                    break  # the file shrank: h11 refuses to end the message, we close
                remaining -= len(chunk)
                await self._write(h11.Data(data=chunk))
            await self._end()

    async def _upgrade(self, request: h11.Request) -> None:
        assert self.run_rfb is not None  # only then is an upgrade taken
        refused = refusal(request, self.secure, self.websocket)
        if refused is not None:
            log.info("%s: WebSocket refused (%d): %s", self.peer, refused.status, refused.reason)
            await self._send_text(
                refused.status, f"{refused.reason}\n", close=True, extra=refused.headers
            )
            return
        assert self.conn.next_event() is h11.PAUSED  # h11 waits for our 101 (RFC 9110 7.8)
        trailing, _ = self.conn.trailing_data
        peer = f"{self.peer} (WebSocket{' over TLS' if self.secure else ''})"
        run_rfb = functools.partial(self.run_rfb, transport="wss" if self.secure else "websocket")
        await _serve_websocket(
            self.stream, handshake_bytes(request, trailing), self.websocket, peer, run_rfb
        )

    # --- responses ---------------------------------------------------------------------

    async def _respond(
        self, status: int, headers: list[tuple[bytes, bytes]], *, close: bool
    ) -> None:
        headers = [*headers, *SECURITY_HEADERS]
        if close:
            headers.append((b"Connection", b"close"))
        reason = HTTPStatus(status).phrase.encode()
        await self._write(h11.Response(status_code=status, headers=headers, reason=reason))

    async def _end(self) -> None:
        await self._write(h11.EndOfMessage())

    async def _write(self, event: h11.Response | h11.Data | h11.EndOfMessage) -> None:
        """Send one event; a client that does not read for REQUEST_SECONDS is dropped."""
        with trio.fail_after(REQUEST_SECONDS):
            await self.stream.send_all(self.conn.send(event))

    async def _send(
        self,
        status: int,
        content_type: str,
        body: bytes,
        close: bool,
        head: bool = False,
        extra: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        headers = [
            (b"Content-Type", content_type.encode()),
            (b"Content-Length", str(len(body)).encode()),
            (b"Cache-Control", b"no-store"),
            *extra,
        ]
        await self._respond(status, headers, close=close)
        if body and not head:
            await self._write(h11.Data(data=body))
        await self._end()

    async def _send_text(
        self,
        status: int,
        text: str,
        *,
        close: bool,
        head: bool = False,
        extra: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        await self._send(status, "text/plain; charset=utf-8", text.encode(), close, head, extra)


def _etags(request: h11.Request) -> set[bytes]:
    """The entity tags of If-None-Match (RFC 9110 13.1.2), weak ones compared as strong."""
    return {
        tag.strip().removeprefix(b"W/")
        for name, value in request.headers
        if name == b"if-none-match"
        for tag in value.split(b",")
    }


async def serve_status_pages(stream: trio.abc.Stream, peer: str, pages: StatusPages) -> None:
    """One connection to ``[metrics] listen``: /healthz and ``pages``, nothing else (no web
    client, no WebSocket, no RFB)."""
    await HttpConnection(stream, None, WebSocketSettings(), False, peer, None, pages).serve()
