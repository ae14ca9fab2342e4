"""The root nursery: the source, the capture loop, the listeners and one task per viewer."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import attrs
import trio
from Crypto.PublicKey import RSA

from .config import Config, ConfigError, host_and_port
from .control import Control, listener_name, serve_control
from .frames import FrameBus
from .guard import Guard
from .hub import Access, Hub
from .listeners import Bound, TcpEndpoint, plan, serve_endpoints, take_inherited, unix_hint
from .metrics import Meters, status_pages
from .recording import RecordingSettings
from .reload import Reloader, guard_settings, viewer_policy
from .resize import DesktopResize
from .serverkey import load_or_create
from .session import Session
from .sources import Source, open_source
from .transports import (
    DEFAULT_WEB_ROOT,
    StatusPages,
    Transports,
    WebRoot,
    WebSocketSettings,
    is_loopback,
    serve_connection,
    serve_status_pages,
)
from .transports.dispatch import peer_host, unix_credentials
from .updates import offered_encodings
from .users import UserBook
from .vencrypt import security_offer

log = logging.getLogger(__name__)

#: How long the Trio thread may hold the GIL while the capture and encoder threads wait
#: (Python's default is 5 ms): a viewer flooding the reader with small messages keeps the
#: Trio thread busy, and each of a capture's many GIL hand-offs would cost that long.
SWITCH_INTERVAL = 0.0005


def describe_peer(stream: trio.abc.Stream) -> str:
    """host:port of the viewer, for log lines (over a UNIX socket: its user and process)."""
    try:
        if stream.socket.family == socket.AF_UNIX:
            credentials = unix_credentials(stream.socket)
            return f"{peer_host(stream)},pid={credentials[0]}" if credentials else "unix"
        host, port, *_ = stream.socket.getpeername()
    except (AttributeError, OSError, ValueError):
        return "viewer"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def server_key(config: Config) -> RSA.RsaKey | None:
    """The RSA-AES key, made on first use (in a thread: 0.25 s here); a key that cannot be
    written leaves RSA-AES unoffered rather than the server down."""
    path = config.rsa_key_path()
    try:
        return await trio.to_thread.run_sync(load_or_create, path)
    except OSError as error:
        log.warning("RSA-AES not offered: cannot write its key %s: %s", path, error.strerror)
        return None


async def serve(
    config: Config,
    *,
    handle_signals: bool = True,
    source: Source | None = None,
    load: Callable[[], Config] | None = None,
    task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run vncd until cancelled, or until SIGTERM / SIGINT when ``handle_signals`` (which
    also makes SIGHUP reload the configuration).

    ``task_status.started`` receives the listeners, so callers (tests) learn the bound port.
    ``source``: serve this one (e.g. a recording, ``vncd replay``) instead of [source]'s.
    ``load``: reads ``config`` again, for a reload (vncd.reload); None: it cannot be reloaded.
    """
    sys.setswitchinterval(SWITCH_INTERVAL)
    endpoints = plan(config, take_inherited())
    password, view_only_password = config.resolved_passwords()
    transports = transports_from(config)
    security_types, vencrypt_setup = security_offer(config)
    access = Access(
        password=password,
        view_only_password=view_only_password,
        max_connections=config.server.max_connections,
        max_cut_text=config.limits.max_cut_text,
        max_encodings=config.limits.max_encodings,
        handshake_seconds=config.limits.handshake_seconds,
        rsa_key=await server_key(config) if password or config.security.users_file else None,
        security_types=security_types,
        vencrypt=vencrypt_setup,
        users=UserBook(config.security.users_file) if config.security.users_file else None,
    )
    opened = contextlib.nullcontext(source) if source is not None else open_source(config.source)
    async with opened as source, trio.open_nursery() as nursery:
        meters = Meters()
        bus = FrameBus(source, config.capture.max_fps, on_capture=meters.captured)
        hub = Hub(
            source=source,
            bus=bus,
            access=access,
            name=config.server.name or source.name,
            encodings=offered_encodings(config.encodings.h264),
            max_fps=config.capture.max_fps,
            lossless_refresh=config.encodings.lossless_refresh_ms / 1000 or None,
            viewers=viewer_policy(config),
            resize=DesktopResize(config.source.resize, config.source.max_size),
            guard=Guard(guard_settings(config)),
            recording=recording_settings(config),
            meters=meters,
        )
        reloader = Reloader(hub, load, config, passwords=(password, view_only_password))
        pages = status_pages(hub)
        transports = attrs.evolve(transports, pages=rfb_port_pages(pages, config))
        if config.metrics.listen:
            await nursery.start(serve_metrics, config.metrics.listen, pages)
        nursery.start_soon(bus.run)
        nursery.start_soon(hub.clipboard.run)
        nursery.start_soon(hub.cursor.run)
        nursery.start_soon(hub.notices.run, not config.server.name)
        if handle_signals:
            nursery.start_soon(_handle_signals, nursery.cancel_scope, reloader)

        async def handle_connection(transports: Transports, stream: trio.SocketStream) -> None:
            peer = describe_peer(stream)
            slot = hub.guard.open_slot(peer_host(stream))
            if isinstance(slot, str):
                # Closed before a byte is read or sent: RFB has no way to say why before
                # the version exchange, and waiting for it is what a flood wants.
                log.info("%s: closed at once: %s", peer, slot)
                with trio.CancelScope(shield=True), trio.move_on_after(1):
                    await stream.aclose()
                return

            async def run_session(
                stream: trio.abc.Stream, peer: str, transport: str = "tcp"
            ) -> None:
                nonlocal slot
                if slot.guard is None:  # a browser's WebSocket: it waits in line again
                    slot = hub.guard.open_slot(peer_host(stream))
                    if isinstance(slot, str):
                        log.info("%s: WebSocket closed at once: %s", peer, slot)
                        return
                log.info("%s: new connection", peer)
                await Session(stream, hub, peer, slot, transport).run()

            try:
                # A browser's HTTP connection leaves the line: pages load over several.
                await serve_connection(stream, transports, peer, run_session, slot.release)
            except* Exception:
                # serve_listeners would stop every listener: a bug met by one connection
                # must end only that connection.
                log.exception("%s: unexpected error", peer)
            finally:
                slot.release()
                with trio.CancelScope(shield=True), trio.move_on_after(1):
                    await stream.aclose()

        bound = await nursery.start(serve_endpoints, endpoints, transports, handle_connection)
        listeners = [listener for one in bound for listener in one.listeners]
        log_listening(bound)
        if config.security.types:
            log.info("offered to VNC viewers: %s", ", ".join(config.security.types))
        log.info(
            "serving %s (%dx%d), %s",
            hub.name,
            *source.size,
            "password required" if password else "no password",
        )
        names = tuple(listener_name(listener.socket.getsockname()) for listener in listeners)
        await nursery.start(
            serve_control, lambda path: Control(hub, reloader, names, path), config.control.socket
        )
        task_status.started(listeners)


def rfb_port_pages(pages: StatusPages, config: Config) -> StatusPages:
    """What the RFB port's HTTP side serves of ``pages``: /metrics only when enabled and
    not given an address of its own ([metrics])."""
    if config.metrics.enabled and not config.metrics.listen:
        return pages
    return {path: page for path, page in pages.items() if path != "/metrics"}


async def serve_metrics(
    address: str,
    pages: StatusPages,
    task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """[metrics] listen: the status pages alone on an address of their own."""
    host, port = host_and_port(address)
    try:
        listeners = await trio.open_tcp_listeners(port, host=host)
    except OSError as error:
        where = f"metrics.listen = {json.dumps(address)}"
        raise ConfigError([f"{where}: cannot listen there: {error.strerror}"]) from None
    for listener in listeners:
        bound, port, *_ = listener.socket.getsockname()
        log.info("metrics at http://%s:%d/metrics", f"[{bound}]" if ":" in bound else bound, port)

    async def handle(stream: trio.SocketStream) -> None:
        try:
            await serve_status_pages(stream, describe_peer(stream), pages)
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await stream.aclose()

    await trio.serve_listeners(handle, listeners, task_status=task_status)


def recording_settings(config: Config) -> RecordingSettings:
    """[recording] as the sessions use it."""
    settings = config.recording
    return RecordingSettings(
        directory=Path(settings.directory) if settings.directory else None,
        all_sessions=settings.sessions == "all",
        file_name=settings.file_name,
        max_buffer=settings.max_buffer,
    )


def transports_from(config: Config) -> Transports:
    """The listeners' transport settings from the configuration (reads the TLS files)."""
    web_root = Path(config.http.web_root) if config.http.web_root else DEFAULT_WEB_ROOT
    websocket = config.websocket
    return Transports(
        mode=config.server.mode,
        detect_seconds=config.server.detect_ms / 1000,
        web=WebRoot.at(web_root),
        websocket=WebSocketSettings(
            allowed_origins=websocket.allowed_origins,
            max_message_size=websocket.max_message_size,
            ping_interval=websocket.ping_interval,
            loopback_only=is_loopback(config.server.host),
        ),
        tls=config.tls_context(),
    )


def log_listening(bound: list[Bound]) -> None:
    """One line per listening socket ("listening on HOST port N" for TCP), and where to
    connect for each endpoint."""
    for one in bound:
        for listener in one.listeners:
            mode = one.transports.mode
            log.info("listening on %s, mode %s", one.endpoint.describe(listener), mode)
        address = one.listeners[-1].socket.getsockname()
        if isinstance(address, str):
            log.info("%s", unix_hint(address, one.transports))
        else:
            host = one.endpoint.host if isinstance(one.endpoint, TcpEndpoint) else address[0]
            log.info("%s", where_to_connect(host, address[1], one.transports))


def where_to_connect(host: str, port: int, transports: Transports) -> str:
    """The line that tells the user what to open: a URL for a browser, an address for a
    VNC viewer (`::` names a port, not a display), as the listener's mode allows."""
    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostname()
    url = f"{transports.scheme}://{f'[{host}]' if ':' in host else host}:{port}/"
    browser = f"open {url} in a browser"
    viewer = f"point a VNC viewer at {host}::{port}"
    if transports.mode == "rfb":
        return viewer
    if transports.mode == "websocket":
        return browser
    if transports.mode == "http-only":
        return f"{url} serves the web page and status pages only (no VNC)"
    return f"{browser}, or {viewer}"


async def _handle_signals(cancel_scope: trio.CancelScope, reloader: Reloader) -> None:
    """SIGTERM and SIGINT stop vncd; SIGHUP reloads the configuration, as `vncd reload`."""
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async for signum in signals:
            if signum == signal.SIGHUP:
                log.info("received SIGHUP, reloading the configuration")
                reloader.reload()
                continue
            log.info("received %s, stopping", signal.Signals(signum).name)
            cancel_scope.cancel()
            return
