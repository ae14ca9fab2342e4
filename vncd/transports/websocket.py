"""RFB over WebSocket (RFC 6455), for browser viewers such as noVNC, through trio-websocket.

The HTTP code (``http.py``) parses the upgrade request and asks ``refusal()`` whether to
accept it; ``serve_websocket`` then replays the request to trio-websocket, which answers the
handshake and frames the connection, and runs an RFB session over a ``WebSocketStream``:
the session sees the same byte stream as over TCP.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import urllib.parse
from collections.abc import Awaitable, Callable

import attrs
import h11
import trio
import trio_websocket
from trio_websocket import ConnectionClosed, WebSocketConnection

from .linger import linger
from .prefixed import PrefixedStream

log = logging.getLogger(__name__)

#: noVNC and websockify name raw binary RFB this way; offered, it is chosen.
BINARY = "binary"
#: The client must complete the handshake within this time (the request is already parsed).
HANDSHAKE_SECONDS = 10.0
#: How long a close handshake may take before the connection is simply dropped.
CLOSE_SECONDS = 2.0
#: Complete messages received but not yet read by the session. With max_message_size this
#: bounds what one connection buffers: (queue + the message being assembled + the one being
#: read) × max_message_size. The session reads all the time, so 1 costs no throughput.
MESSAGE_QUEUE_SIZE = 1
#: Close codes that RFC 6455 7.4.1 forbids in a Close frame: they describe closes without one.
_NOT_SENDABLE = frozenset({1005, 1006, 1015})
_DEFAULT_PORTS = {"http": 80, "https": 443}

RunRfb = Callable[[trio.abc.Stream, str], Awaitable[None]]


@attrs.frozen
class WebSocketSettings:
    """The [websocket] settings."""

    allowed_origins: tuple[str, ...] = ()
    max_message_size: int = 2 << 20
    ping_interval: float = 30.0  # seconds between pings; 0 = no pings
    #: The server listens on a loopback address: a browser's Host must name it too.
    loopback_only: bool = False


@attrs.frozen
class Refusal:
    """Why an upgrade request is refused: the HTTP status, a reason and any extra headers."""

    status: int
    reason: str
    headers: tuple[tuple[bytes, bytes], ...] = ()


# --- Origins -------------------------------------------------------------------------------


def parse_origin(text: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an origin such as "https://example.com:8443" (RFC 6454 7)."""
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (
        parts is None
        or parts.scheme not in _DEFAULT_PORTS
        or not parts.hostname
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ValueError(f"not an origin like https://example.com or http://host:8080: {text!r}")
    return parts.scheme, parts.hostname, port or _DEFAULT_PORTS[parts.scheme]


def is_loopback(host: str) -> bool:
    """Whether a host name or address names this machine's loopback interface."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_and_port(host: str, secure: bool) -> tuple[str, int] | None:
    """A Host header's host and port; a missing port is the default of the connection's scheme."""
    try:
        parts = urllib.parse.urlsplit(f"//{host}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname, port or _DEFAULT_PORTS["https" if secure else "http"]


def origin_allowed(
    origin: str | None, host: str | None, secure: bool, allowed: tuple[str, ...]
) -> bool:
    """The Origin policy: no Origin (not a browser) is allowed; a browser's page must come
    from this server (the Origin's host and port equal the Host header's), or from an origin
    that ``allowed`` lists ("*" allows any). A browser sends Origin with every WebSocket
    request, so this stops other web sites from driving the desktop through their visitors."""
    if origin is None or "*" in allowed:
        return True
    try:
        scheme, origin_host, origin_port = parse_origin(origin)
    except ValueError:
        return False
    if host is not None and _host_and_port(host, secure) == (origin_host, origin_port):
        return True
    return any(parse_origin(entry) == (scheme, origin_host, origin_port) for entry in allowed)


# --- The upgrade request -----------------------------------------------------------------


def _header(request: h11.Request, name: bytes) -> bytes | None:
    values = [value for key, value in request.headers if key == name]
    return b", ".join(values) if values else None


def _tokens(value: bytes | None) -> list[str]:
    """The items of a comma-separated header (RFC 9110 5.6.1), lower-cased."""
    if value is None:
        return []
    return [item.strip().lower() for item in value.decode("latin-1").split(",") if item.strip()]


def is_upgrade(request: h11.Request) -> bool:
    """Whether the request asks to switch to WebSocket (RFC 6455 4.2.1)."""
    return "websocket" in _tokens(_header(request, b"upgrade"))


def refusal(request: h11.Request, secure: bool, settings: WebSocketSettings) -> Refusal | None:
    """Why this upgrade request cannot be accepted, or None. These are the checks that
    trio-websocket's handshake would otherwise fail on, plus the Origin policy."""
    if request.method != b"GET" or request.http_version != b"1.1":
        return Refusal(400, "a WebSocket handshake is an HTTP/1.1 GET")
    if "upgrade" not in _tokens(_header(request, b"connection")):
        return Refusal(400, "missing Connection: Upgrade")
    if _header(request, b"sec-websocket-version") != b"13":
        return Refusal(426, "unsupported WebSocket version", ((b"Sec-WebSocket-Version", b"13"),))
    if not _header(request, b"sec-websocket-key"):
        return Refusal(400, "missing Sec-WebSocket-Key")
    offered = _tokens(_header(request, b"sec-websocket-protocol"))
    if offered and BINARY not in offered:
        return Refusal(400, f"subprotocols {', '.join(offered)} offered; vncd speaks {BINARY}")
    origin = _header(request, b"origin")
    host = _header(request, b"host")
    if host is None or not host.isascii():  # h11 lets other bytes through; wsproto chokes
        return Refusal(400, "a WebSocket handshake needs an ASCII Host header")
    if not origin_allowed(
        origin.decode("latin-1") if origin is not None else None,
        host.decode("ascii"),
        secure,
        settings.allowed_origins,
    ):
        return Refusal(403, f"origin {origin.decode('latin-1')} is not allowed")
    # DNS rebinding: a web site can point its own name at 127.0.0.1 and so look same-origin
    # to a server on the loopback. A browser that reaches the loopback names it, unless it
    # comes through a proxy, whose public origin then has to be in allowed_origins.
    if origin is not None and settings.loopback_only and not settings.allowed_origins:
        named = _host_and_port(host.decode("ascii"), secure)
        if named is None or not is_loopback(named[0]):
            return Refusal(403, "this server listens on the loopback, but Host names another")
    return None


# --- The stream a session reads and writes -------------------------------------------------


class WebSocketStream(trio.abc.Stream):
    """A byte stream over a WebSocket connection (server or client side).

    ``send_all`` sends one binary message; ``receive_some`` returns the bytes of received
    binary messages, keeping what does not fit for the next call; a text message closes the
    connection (1003, RFC 6455 7.4.1); the WebSocket's close is the end of the stream.
    """

    def __init__(self, connection: WebSocketConnection) -> None:
        self.connection = connection
        self._pending = memoryview(b"")

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        try:
            await self.connection.send_message(bytes(data))
        except ConnectionClosed as closed:
            raise trio.BrokenResourceError(f"WebSocket closed ({closed.reason})") from None

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if max_bytes is not None and max_bytes < 1:
            raise ValueError("max_bytes must be >= 1")
        while not self._pending:
            try:
                message = await self.connection.get_message()
            except ConnectionClosed:
                return b""
            if isinstance(message, str):
                await self.close(1003, "binary messages only")
                raise trio.BrokenResourceError("the peer sent a text message")
            self._pending = memoryview(message)
        size = len(self._pending) if max_bytes is None else max_bytes
        chunk, self._pending = self._pending[:size], self._pending[size:]
        return bytes(chunk)

    async def close(self, code: int, reason: str | None = None) -> None:
        """Close with ``code``; a peer that does not answer within CLOSE_SECONDS is dropped."""
        with trio.move_on_after(CLOSE_SECONDS):
            await self.connection.aclose(code, reason)

    async def aclose(self) -> None:
        await self.close(1000)


class _Wire(PrefixedStream):
    """The bytes under trio-websocket: the replayed handshake request, then the socket.

    Two things trio-websocket 0.12 leaves out are done by ``finish``, once it is gone. When
    wsproto rejects a frame (an unmasked client frame, a bad opcode, invalid UTF-8) it drops
    the connection without the Close frame that RFC 6455 7.1.7 asks for: ``finish`` sends
    it. And a close that reports a failure gets a lingering read before the socket closes, so
    that the peer can read why. trio-websocket's own close of the socket is only noted here
    (the stream then reads as ended); the socket's owner closes it after ``finish``.
    """

    def __init__(self, stream: trio.abc.Stream, prefix: bytes) -> None:
        super().__init__(stream, prefix)
        self.connection: WebSocketConnection | None = None
        self.sent_close: int | None = None  # the status code of the Close frame we sent
        self._closed = False

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._closed:
            await trio.lowlevel.checkpoint()
            return b""
        return await super().receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise trio.ClosedResourceError
        # trio-websocket writes one frame per call. A server frame is unmasked: 0x88 is FIN +
        # opcode 8 (Close), then the payload length, then the status code (RFC 6455 5.2, 5.5.1).
        if bytes(data[:1]) == b"\x88":
            self.sent_close = int.from_bytes(data[2:4], "big") if len(data) >= 4 else 1005
        await super().send_all(data)

    async def aclose(self) -> None:
        self._closed = True

    async def finish(self) -> None:
        """Send the Close frame trio-websocket left out, then linger after a failure."""
        closed = self.connection.closed if self.connection is not None else None
        if closed is not None and self.sent_close is None and closed.code not in _NOT_SENDABLE:
            with trio.move_on_after(CLOSE_SECONDS):
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await self.stream.send_all(_close_frame(closed.code, closed.reason or ""))
                    self.sent_close = closed.code
        if self.sent_close not in (None, 1000, 1001):
            await linger(self.stream)


def _close_frame(code: int, reason: str) -> bytes:
    """An unmasked server Close frame (RFC 6455 5.5.1): status code, then a UTF-8 reason; a
    control frame's payload is at most 125 bytes."""
    payload = code.to_bytes(2, "big") + reason.encode()[:123]
    return bytes((0x88, len(payload))) + payload


# --- Serving -------------------------------------------------------------------------------


def handshake_bytes(request: h11.Request, trailing: bytes) -> bytes:
    """The upgrade request as it came (re-serialised by h11), then whatever followed it: what
    trio-websocket must read to do the handshake itself."""
    return h11.Connection(h11.CLIENT).send(request) + trailing


async def serve_websocket(
    stream: trio.abc.Stream,
    handshake: bytes,
    settings: WebSocketSettings,
    peer: str,
    run_rfb: RunRfb,
) -> None:
    """Accept the WebSocket whose (already checked) request ``handshake`` holds, then run
    ``run_rfb`` over it, with keepalive pings, until the session ends."""
    wire = _Wire(stream, handshake)
    async with trio.open_nursery() as nursery:
        try:
            with trio.fail_after(HANDSHAKE_SECONDS):
                request = await trio_websocket.wrap_server_stream(
                    nursery,
                    wire,
                    message_queue_size=MESSAGE_QUEUE_SIZE,
                    max_message_size=settings.max_message_size,
                )
                chosen = BINARY if BINARY in request.proposed_subprotocols else None
                connection = await request.accept(subprotocol=chosen)
        except (trio.TooSlowError, ConnectionClosed) as error:
            log.info("%s: WebSocket handshake failed: %s", peer, type(error).__name__)
            nursery.cancel_scope.cancel()
            return
        wire.connection = connection
        if settings.ping_interval:
            nursery.start_soon(_keep_alive, connection, settings.ping_interval, peer)
        try:
            await run_rfb(WebSocketStream(connection), peer)
        finally:
            nursery.cancel_scope.cancel()
    await wire.finish()


async def _keep_alive(connection: WebSocketConnection, interval: float, peer: str) -> None:
    """Ping every ``interval`` seconds; a peer that has not answered by the next ping is gone
    (a browser tab on a dead network), so close its connection and free the session."""
    try:
        while True:
            await trio.sleep(interval)
            with trio.move_on_after(interval) as waiting:
                await connection.ping()
            if waiting.cancelled_caught:
                log.info("%s: no answer to a WebSocket ping in %g s, closing", peer, interval)
                with trio.move_on_after(CLOSE_SECONDS):
                    await connection.aclose(1011, "no pong")
                return
    except ConnectionClosed:
        return
