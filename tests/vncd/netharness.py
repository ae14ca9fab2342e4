"""vncd serving on a real socket of 127.0.0.1, and the clients the transport tests talk to
it with: an RFB viewer, raw reads, and HTTP/1.1 (h11)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator
from typing import Any

import attrs
import h11
import trio

from vncd.config import parse_config
from vncd.server import serve

from .viewer import Viewer

#: The server's ProtocolVersion, its first bytes on an RFB connection (rfbproto 7.1.1).
GREETING = b"RFB 003.008\n"


@attrs.frozen
class Running:
    """Where a ``running_vncd`` listens; ``connect()`` opens a plain TCP connection to it."""

    port: int

    async def connect(self) -> trio.SocketStream:
        return await trio.open_tcp_stream("127.0.0.1", self.port)


@contextlib.asynccontextmanager
async def running_vncd(text: str = "", **settings: Any) -> AsyncIterator[Running]:
    """vncd serving a small demo desktop on a free port of 127.0.0.1; ``text`` is more TOML
    and ``settings`` more dotted keys (``server__mode="rfb"`` sets server.mode)."""
    overrides = {
        "server.host": "127.0.0.1",
        "server.port": 0,
        "source.kind": "demo",
        "source.geometry": "160x120",
        **{key.replace("__", "."): value for key, value in settings.items()},
    }
    config = parse_config(text, "test.toml", overrides=overrides)
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(functools.partial(serve, config, handle_signals=False))
        yield Running(listeners[0].socket.getsockname()[1])
        nursery.cancel_scope.cancel()


async def rfb_handshake(stream: trio.abc.Stream) -> Viewer:
    """A viewer that has finished the RFB handshake (no password) and got a full update."""
    viewer = Viewer(stream)
    with trio.fail_after(10):
        init = await viewer.handshake()
        assert (init.width, init.height) == (160, 120)
        await viewer.full_update()
    return viewer


async def receive_exactly(stream: trio.abc.ReceiveStream, size: int) -> bytes:
    """``size`` bytes, however the server splits them (fails on EOF before that)."""
    data = b""
    while len(data) < size:
        chunk = await stream.receive_some(size - len(data))
        assert chunk, f"EOF after {data!r}"
        data += chunk
    return data


async def receive_all(stream: trio.abc.ReceiveStream, timeout: float = 5) -> bytes:
    """Everything until the server closes the connection (fails if it does not)."""
    data = b""
    with trio.fail_after(timeout):
        while chunk := await stream.receive_some(65536):
            data += chunk
    return data


class HttpClient:
    """h11 on the client side: one request at a time over one (kept-alive) connection."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)

    async def request(
        self, method: str, target: str | bytes, headers: tuple[tuple[str, str], ...] = ()
    ) -> tuple[h11.Response, bytes]:
        if self.conn.our_state is h11.DONE:
            self.conn.start_next_cycle()
        request = h11.Request(method=method, target=target, headers=[("Host", "x"), *headers])
        await self.stream.send_all(self.conn.send(request) + self.conn.send(h11.EndOfMessage()))
        response, body = None, b""
        with trio.fail_after(5):
            while True:
                event = self.conn.next_event()
                if event is h11.NEED_DATA:
                    self.conn.receive_data(await self.stream.receive_some(65536))
                elif isinstance(event, h11.Response):
                    response = event
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    assert response is not None
                    return response, body
                else:
                    raise AssertionError(event)
