"""The root nursery: the source, the capture loop, the listeners and one task per viewer."""

from __future__ import annotations

import logging
import signal

import trio

from .config import Config
from .frames import FrameBus
from .session import Access, Hub, Session
from .sources import open_source
from .updates import offered_encodings

log = logging.getLogger(__name__)


def describe_peer(stream: trio.abc.Stream) -> str:
    """host:port of the viewer, for log lines."""
    try:
        host, port, *_ = stream.socket.getpeername()
    except (AttributeError, OSError, ValueError):
        return "viewer"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def serve(
    config: Config,
    *,
    handle_signals: bool = True,
    task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run vncd until cancelled, or until SIGTERM / SIGINT when ``handle_signals``.

    ``task_status.started`` receives the listeners, so callers (tests) learn the bound port.
    """
    password, view_only_password = config.resolved_passwords()
    access = Access(
        password=password,
        view_only_password=view_only_password,
        max_connections=config.server.max_connections,
        max_cut_text=config.limits.max_cut_text,
        max_encodings=config.limits.max_encodings,
    )
    async with open_source(config.source) as source, trio.open_nursery() as nursery:
        bus = FrameBus(source, config.capture.max_fps)
        hub = Hub(
            source=source,
            bus=bus,
            access=access,
            name=config.server.name or source.name,
            encodings=offered_encodings(config.encodings.h264),
        )
        nursery.start_soon(bus.run)
        if handle_signals:
            nursery.start_soon(_stop_on_signal, nursery.cancel_scope)
        listeners = await trio.open_tcp_listeners(config.server.port, host=config.server.host)
        for listener in listeners:
            host, port, *_ = listener.socket.getsockname()
            log.info("listening on %s port %d (VNC display :%d)", host, port, port - 5900)
        log.info(
            "serving %s (%dx%d), %s",
            hub.name,
            *source.size,
            "password required" if password else "no password",
        )

        async def handle_viewer(stream: trio.abc.Stream) -> None:
            peer = describe_peer(stream)
            log.info("%s: new connection", peer)
            await Session(stream, hub, peer).run()

        await nursery.start(trio.serve_listeners, handle_viewer, listeners)
        task_status.started(listeners)


async def _stop_on_signal(cancel_scope: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("received %s, stopping", signal.Signals(signum).name)
            cancel_scope.cancel()
            return
