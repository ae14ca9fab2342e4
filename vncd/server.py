"""The root nursery: the source, the capture loop, the listeners and one task per viewer."""

from __future__ import annotations

import logging
import signal
import socket
import sys
from pathlib import Path

import trio
from Crypto.PublicKey import RSA

from .config import Config
from .frames import FrameBus
from .guard import Guard, GuardSettings
from .hub import Access, Hub
from .policy import ViewerPolicy
from .resize import DesktopResize
from .serverkey import load_or_create
from .session import Session
from .sources import open_source
from .transports import (
    DEFAULT_WEB_ROOT,
    Transports,
    WebRoot,
    WebSocketSettings,
    is_loopback,
    serve_connection,
)
from .transports.dispatch import peer_host
from .updates import offered_encodings
from .vencrypt import security_offer

log = logging.getLogger(__name__)

#: Connections the kernel may queue before vncd accepts them (listen(2)'s backlog): a burst
#: of viewers is queued rather than refused while the slots sort them out.
LISTEN_BACKLOG = 1024
#: How long the Trio thread may hold the GIL while the capture and encoder threads wait
#: (Python's default is 5 ms): a viewer flooding the reader with small messages keeps the
#: Trio thread busy, and each of a capture's many GIL hand-offs would cost that long.
SWITCH_INTERVAL = 0.0005


def describe_peer(stream: trio.abc.Stream) -> str:
    """host:port of the viewer, for log lines."""
    try:
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
    task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run vncd until cancelled, or until SIGTERM / SIGINT when ``handle_signals``.

    ``task_status.started`` receives the listeners, so callers (tests) learn the bound port.
    """
    sys.setswitchinterval(SWITCH_INTERVAL)
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
        rsa_key=await server_key(config) if password else None,
        security_types=security_types,
        vencrypt=vencrypt_setup,
    )
    async with open_source(config.source) as source, trio.open_nursery() as nursery:
        bus = FrameBus(source, config.capture.max_fps)
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
        )
        nursery.start_soon(bus.run)
        nursery.start_soon(hub.clipboard.run)
        nursery.start_soon(hub.cursor.run)
        nursery.start_soon(hub.notices.run, not config.server.name)
        if handle_signals:
            nursery.start_soon(_stop_on_signal, nursery.cancel_scope)
        listeners = await trio.open_tcp_listeners(
            config.server.port, host=config.server.host, backlog=LISTEN_BACKLOG
        )
        for listener in listeners:
            host, port, *_ = listener.socket.getsockname()
            log.info("listening on %s port %d (VNC display :%d)", host, port, port - 5900)
        log.info("%s", where_to_connect(config.server.host, port, transports))
        if config.security.types:
            log.info("offered to VNC viewers: %s", ", ".join(config.security.types))
        log.info(
            "serving %s (%dx%d), %s",
            hub.name,
            *source.size,
            "password required" if password else "no password",
        )

        async def handle_connection(stream: trio.SocketStream) -> None:
            peer = describe_peer(stream)
            slot = hub.guard.open_slot(peer_host(stream))
            if isinstance(slot, str):
                # Closed before a byte is read or sent: RFB has no way to say why before
                # the version exchange, and waiting for it is what a flood wants.
                log.info("%s: closed at once: %s", peer, slot)
                with trio.CancelScope(shield=True), trio.move_on_after(1):
                    await stream.aclose()
                return

            async def run_session(stream: trio.abc.Stream, peer: str) -> None:
                nonlocal slot
                if slot.guard is None:  # a browser's WebSocket: it waits in line again
                    slot = hub.guard.open_slot(peer_host(stream))
                    if isinstance(slot, str):
                        log.info("%s: WebSocket closed at once: %s", peer, slot)
                        return
                log.info("%s: new connection", peer)
                await Session(stream, hub, peer, slot).run()

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

        await nursery.start(trio.serve_listeners, handle_connection, listeners)
        task_status.started(listeners)


def guard_settings(config: Config) -> GuardSettings:
    """[limits]' admission keys as vncd.guard uses them."""
    limits = config.limits
    return GuardSettings(
        failures_before_backoff=limits.auth_failures,
        backoff=limits.auth_backoff_seconds,
        max_backoff=limits.auth_backoff_max_seconds,
        max_pending=limits.max_unauthenticated,
        max_pending_per_address=limits.max_unauthenticated_per_address,
    )


def viewer_policy(config: Config) -> ViewerPolicy:
    """[viewers] as the sessions use it: seconds, None for "never"."""
    viewers = config.viewers
    return ViewerPolicy(
        input=viewers.input,
        takeover_idle=viewers.takeover_idle_seconds or None,
        sharing=viewers.sharing,
        idle_timeout=viewers.idle_timeout_seconds or None,
        max_session=viewers.max_session_seconds or None,
        view_only=viewers.view_only,
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
    return f"{browser}, or {viewer}"


async def _stop_on_signal(cancel_scope: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("received %s, stopping", signal.Signals(signum).name)
            cancel_scope.cancel()
            return
