"""A VNC proxy that logs every RFB message, both ways: viewers connect to it, it connects to
the server.

    python docs/examples/rfb_proxy.py 5901 127.0.0.1 5900   # then: vncviewer 127.0.0.1::5901

Each message is parsed by ``protocol`` and sent on as the connection facing the other side
writes it: a ``ServerConnection`` faces the viewer and a ``ClientConnection`` the server, and
telling each what the other side said keeps both in step with the conversation. Encrypted
security types cannot be followed, so the proxy rewrites one message: the server's list of
security types, of which the viewer is offered only None and VNC authentication.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys

import attrs
import trio

from protocol import (
    NEED_DATA,
    ClientConnection,
    ConnectionClosed,
    Event,
    FramebufferUpdate,
    HandshakeFailed,
    ProtocolError,
    SecurityTypes,
    ServerConnection,
)
from protocol.encodings import Encoding
from protocol.security import SecurityType

log = logging.getLogger("rfb_proxy")

FOLLOWED = (SecurityType.NONE, SecurityType.VNC_AUTH)


@attrs.define
class Side:
    """One end of the proxy: its socket and the connection that parses what it says."""

    name: str
    stream: trio.SocketStream
    conn: ServerConnection | ClientConnection
    lock: trio.Lock = attrs.Factory(trio.Lock)  # both directions may write to it
    closed: bool = False


def rewrite(event: Event) -> Event:
    """What the viewer is told when the server says ``event``."""
    if isinstance(event, SecurityTypes):
        followed = tuple(t for t in event.types if t in FOLLOWED)
        if not followed:
            return HandshakeFailed(f"the proxy cannot follow security types {event.types}")
        return SecurityTypes(followed)
    return event


def encoding_name(number: int) -> str:
    try:
        return Encoding(number).name
    except ValueError:
        return str(number)  # a number protocol has no name for


def describe(event: Event) -> str:
    if isinstance(event, FramebufferUpdate):
        names = sorted({encoding_name(r.encoding) for r in event.rectangles})
        return f"FramebufferUpdate, {len(event.rectangles)} rectangles: {', '.join(names)}"
    if isinstance(event, SecurityTypes):
        return f"SecurityTypes {list(event.types)}"
    return type(event).__name__


async def forward(source: Side, sink: Side) -> bool:
    """Pass on every message ``source`` has completed; False once it has closed."""
    data = b""
    while not source.closed and (event := source.conn.next_event()) is not NEED_DATA:
        if isinstance(event, ConnectionClosed):
            log.info("%s closed the connection", source.name)
            source.closed = True
            break
        log.info("%s: %s", source.name, describe(event))
        if source.name == "server" and (changed := rewrite(event)) != event:
            log.info("  the viewer is told: %s", describe(changed))
            event = changed
        data += sink.conn.send(event)
    if data:
        async with sink.lock:
            await sink.stream.send_all(data)
        # Now that the sink has heard this, bytes it sent ahead of its turn may be parsed.
        await forward(sink, source)
    return not source.closed


async def pump(source: Side, sink: Side) -> None:
    """Read ``source`` and pass its messages on until it closes."""
    while True:
        source.conn.receive_data(await source.stream.receive_some())
        if not await forward(source, sink):
            return


async def relay(viewer_stream: trio.SocketStream, host: str, port: int) -> None:
    """One viewer, through its own connection to the server."""
    viewer = Side("viewer", viewer_stream, ServerConnection())
    async with viewer_stream, await trio.open_tcp_stream(host, port) as server_stream:
        server = Side("server", server_stream, ClientConnection())
        try:
            async with trio.open_nursery() as nursery:

                async def run(source: Side, sink: Side) -> None:
                    await pump(source, sink)
                    nursery.cancel_scope.cancel()  # one side left: so does the other

                nursery.start_soon(run, viewer, server)
                nursery.start_soon(run, server, viewer)
        except* ProtocolError as errors:
            log.info("protocol error: %s", errors.exceptions[0])
        except* (trio.BrokenResourceError, ConnectionError) as errors:
            log.info("connection lost: %s", errors.exceptions[0])


async def serve(listen_port: int, host: str, port: int) -> None:
    async def handle(viewer_stream: trio.SocketStream) -> None:
        await relay(viewer_stream, host, port)

    listeners = await trio.open_tcp_listeners(listen_port, host="127.0.0.1")
    log.info("listening on port %d", listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(handle, listeners)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("listen_port", type=int, help="viewers connect here (0: any free port)")
    parser.add_argument("host", help="the VNC server")
    parser.add_argument("port", type=int)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: stop
        trio.run(serve, args.listen_port, args.host, args.port)


if __name__ == "__main__":
    main()
