"""RFB over WebSocket on the RFB port: trio-websocket's client, and hand-built frames over a
raw socket for what a well-behaved client never sends."""

from __future__ import annotations

import base64
import logging
import os
import struct

import h11
import pytest
import trio
import trio_websocket

from protocol import KeyEvent
from vncd.transports import WebSocketStream

from .netharness import GREETING, Running, rfb_handshake, running_vncd


def websocket(running: Running, *, origin: str | None = None, subprotocols=("binary",)):
    headers = [(b"Origin", origin.encode())] if origin is not None else []
    return trio_websocket.open_websocket(
        "127.0.0.1",
        running.port,
        "/websockify",
        use_ssl=False,
        subprotocols=list(subprotocols),
        extra_headers=headers,
    )


def frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bool = True) -> bytes:
    """A client frame (RFC 6455 5.2), masked unless told otherwise."""
    head = bytes([(0x80 if fin else 0) | opcode])
    length = len(payload)
    masked = 0x80 if mask else 0
    if length < 126:
        head += bytes([masked | length])
    elif length < 1 << 16:
        head += bytes([masked | 126]) + struct.pack("!H", length)
    else:
        head += bytes([masked | 127]) + struct.pack("!Q", length)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(byte ^ key[i % 4] for i, byte in enumerate(payload))


async def upgrade(
    running: Running, host: str = "127.0.0.1", origin: str | None = None
) -> tuple[trio.SocketStream, h11.Connection, h11.InformationalResponse | h11.Response]:
    """Send an upgrade request naming ``host`` (and ``origin``); the server's answer."""
    stream = await running.connect()
    conn = h11.Connection(h11.CLIENT)
    headers = [
        ("Host", f"{host}:{running.port}"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", base64.b64encode(os.urandom(16)).decode()),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Protocol", "binary"),
    ]
    if origin is not None:
        headers.append(("Origin", origin))
    request = h11.Request(method="GET", target="/websockify", headers=headers)
    await stream.send_all(conn.send(request) + conn.send(h11.EndOfMessage()))
    with trio.fail_after(5):
        while (event := conn.next_event()) is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
    assert isinstance(event, h11.InformationalResponse | h11.Response), event
    return stream, conn, event


class RawWebSocket:
    """A WebSocket client that writes frames by hand and reads the server's frames."""

    def __init__(self, stream: trio.SocketStream, buffered: bytes) -> None:
        self.stream = stream
        self.buffer = bytearray(buffered)

    @classmethod
    async def open(cls, running: Running) -> RawWebSocket:
        stream, conn, response = await upgrade(running)
        assert response.status_code == 101
        return cls(stream, conn.trailing_data[0])

    async def _read(self, size: int) -> bytes:
        while len(self.buffer) < size:
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                raise EOFError
            self.buffer += chunk
        data, self.buffer = bytes(self.buffer[:size]), self.buffer[size:]
        return data

    async def read_frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the server's next frame; server frames are never masked."""
        with trio.fail_after(5):
            first, second = await self._read(2)
            assert first & 0x80 and not second & 0x80  # FIN (vncd does not fragment), unmasked
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await self._read(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await self._read(8))
            return first & 0x0F, await self._read(length)

    async def read_close(self) -> int:
        """The status code of the server's Close frame, which must be followed by EOF."""
        opcode, payload = await self.read_frame()
        assert opcode == 8, (opcode, payload)
        with trio.fail_after(5):
            while await self.stream.receive_some(65536):
                pass
        return struct.unpack("!H", payload[:2])[0]

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def rfb_handshake(self) -> None:
        """The RFB handshake (no password), one binary message per client message."""
        assert await self.read_frame() == (2, GREETING)
        await self.send(frame(2, GREETING))
        assert await self.read_frame() == (2, b"\x01\x01")  # security types: None
        await self.send(frame(2, b"\x01"))
        assert await self.read_frame() == (2, b"\x00\x00\x00\x00")  # SecurityResult: OK
        await self.send(frame(2, b"\x01"))  # ClientInit, shared
        opcode, server_init = await self.read_frame()
        assert opcode == 2
        assert struct.unpack("!HH", server_init[:4]) == (160, 120)


@pytest.mark.parametrize(
    ("host", "origin", "status"),
    [
        ("localhost", "http://localhost:{port}", 101),
        ("[::1]", "http://[::1]:{port}", 101),
        # DNS rebinding: a site whose name now points at 127.0.0.1 looks same-origin...
        ("evil.example", "http://evil.example:{port}", 403),
        ("evil.example", None, 101),  # ...but only browsers can be made to do that
    ],
)
async def test_a_loopback_server_wants_a_loopback_host(
    host: str, origin: str | None, status: int
) -> None:
    async with running_vncd() as running:
        origin = origin.format(port=running.port) if origin is not None else None
        _, _, response = await upgrade(running, host, origin)
        assert response.status_code == status


# --- trio-websocket's client ---------------------------------------------------------------


async def test_rfb_over_websocket_with_binary_subprotocol() -> None:
    async with running_vncd() as running, websocket(running) as connection:
        assert connection.subprotocol == "binary"
        viewer = await rfb_handshake(WebSocketStream(connection))
        await viewer.full_update()


async def test_client_without_subprotocols_is_served_too() -> None:
    async with running_vncd() as running, websocket(running, subprotocols=()) as connection:
        assert connection.subprotocol is None
        await rfb_handshake(WebSocketStream(connection))


async def test_only_the_binary_subprotocol_is_spoken() -> None:
    async with running_vncd() as running:
        with pytest.raises(trio_websocket.ConnectionRejected) as rejected:
            async with websocket(running, subprotocols=("base64",)):
                pass
        assert rejected.value.status_code == 400


@pytest.mark.parametrize(
    ("allowed", "origin", "accepted"),
    [
        ("[]", None, True),  # not a browser
        ("[]", "http://127.0.0.1:{port}", True),  # the page this server serves
        ("[]", "https://127.0.0.1:{port}", True),  # ...over TLS, on the same port
        ("[]", "http://evil.example", False),
        ("[]", "http://127.0.0.1:1", False),  # another port of the same host
        ("[]", "null", False),  # a sandboxed or file:// page
        ('["https://portal.example"]', "https://portal.example", True),
        ('["https://portal.example"]', "https://portal.example:443", True),
        ('["https://portal.example"]', "http://portal.example", False),
        ('["https://portal.example"]', "http://127.0.0.1:{port}", True),
        ('["*"]', "http://evil.example", True),
    ],
)
async def test_origin_policy(
    allowed: str, origin: str | None, accepted: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "vncd")
    async with running_vncd(f"[websocket]\nallowed_origins = {allowed}\n") as running:
        origin = origin.format(port=running.port) if origin is not None else None
        if accepted:
            async with websocket(running, origin=origin) as connection:
                await rfb_handshake(WebSocketStream(connection))
            return
        with pytest.raises(trio_websocket.ConnectionRejected) as rejected:
            async with websocket(running, origin=origin):
                pass
        assert rejected.value.status_code == 403
        assert not any(record.name == "vncd.session" for record in caplog.records)  # no session
        assert any("is not allowed" in message for message in caplog.messages)


async def test_oversized_message_closes_the_connection() -> None:
    async with running_vncd("[websocket]\nmax_message_size = 1024\n") as running:
        async with websocket(running) as connection:
            assert await connection.get_message() == GREETING
            await connection.send_message(b"x" * 2000)
            with trio.fail_after(5), pytest.raises(trio_websocket.ConnectionClosed) as closed:
                await connection.get_message()
            assert closed.value.reason.code == 1009
        async with websocket(running) as connection:  # the next client is served
            await rfb_handshake(WebSocketStream(connection))


async def test_text_message_closes_with_1003() -> None:
    async with running_vncd() as running, websocket(running) as connection:
        assert await connection.get_message() == GREETING
        await connection.send_message("RFB 003.008\n")
        with trio.fail_after(5), pytest.raises(trio_websocket.ConnectionClosed) as closed:
            await connection.get_message()
        assert closed.value.reason.code == 1003


async def test_unanswered_pings_close_the_connection(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, "vncd")
    monkeypatch.setattr("vncd.transports.websocket.CLOSE_SECONDS", 0.2)
    async with running_vncd("[websocket]\nping_interval = 1\n") as running:
        client = await RawWebSocket.open(running)
        await client.rfb_handshake()
        opcode, payload = await client.read_frame()
        assert opcode == 9  # a ping after a second: answered, so the connection stays
        await client.send(frame(10, payload))
        opcode, _ = await client.read_frame()
        assert opcode == 9  # the next one goes unanswered
        assert await client.read_close() == 1011
        assert any("no answer to a WebSocket ping" in message for message in caplog.messages)


# --- Hand-built frames ---------------------------------------------------------------------


async def test_fragmented_messages_and_interleaved_pings() -> None:
    async with running_vncd() as running:
        client = await RawWebSocket.open(running)
        assert await client.read_frame() == (2, GREETING)
        # The version reply in three fragments (RFC 6455 5.4), a ping between two of them.
        await client.send(frame(2, b"RFB 00", fin=False))
        await client.send(frame(0, b"3.0", fin=False) + frame(9, b"hello"))
        assert await client.read_frame() == (10, b"hello")  # control frames interleave
        await client.send(frame(0, b"08\n"))
        assert await client.read_frame() == (2, b"\x01\x01")
        await client.send(frame(2, b"\x01"))
        assert await client.read_frame() == (2, b"\x00\x00\x00\x00")


async def test_empty_messages_are_skipped() -> None:
    async with running_vncd() as running:
        client = await RawWebSocket.open(running)
        assert await client.read_frame() == (2, GREETING)
        await client.send(
            frame(2, b"") + frame(2, GREETING[:4]) + frame(2, b"") + frame(2, GREETING[4:])
        )
        assert await client.read_frame() == (2, b"\x01\x01")


async def test_unmasked_client_frame_is_closed_with_1002() -> None:
    async with running_vncd() as running:
        client = await RawWebSocket.open(running)
        assert await client.read_frame() == (2, GREETING)
        await client.send(frame(2, GREETING, mask=False))
        assert await client.read_close() == 1002


async def test_oversized_frame_is_closed_before_it_arrives() -> None:
    async with running_vncd("[websocket]\nmax_message_size = 1024\n") as running:
        client = await RawWebSocket.open(running)
        assert await client.read_frame() == (2, GREETING)
        header = frame(2, b"x" * 70000)[:14]  # announces 70000 bytes; 4 KiB of them follow
        await client.send(header + b"x" * 4096)
        assert await client.read_close() == 1009


async def test_client_closing_mid_frame_ends_only_its_session(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "vncd")
    async with running_vncd() as running:
        other = await rfb_handshake(await running.connect())
        client = await RawWebSocket.open(running)
        await client.rfb_handshake()
        await client.send(frame(2, b"\x03" + b"\x00" * 9)[:8])  # half a request, then gone
        await client.stream.aclose()
        with trio.fail_after(5):
            ends = ("(WebSocket): viewer disconnected", "(WebSocket): connection lost")
            while not any(end in message for message in caplog.messages for end in ends):
                await trio.sleep(0.01)
        # The other viewer carries on: it types into the demo desktop and sees the change.
        await other.send(KeyEvent(True, ord("a")), KeyEvent(False, ord("a")))
        await other.request(incremental=True)
        update = await other.next_update()
        assert update.rectangles
