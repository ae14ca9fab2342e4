"""Abuse after the handshake, and of the WebSocket transport: every bad message ends that
viewer's connection (or is dropped), never another viewer's updates or vncd's memory."""

from __future__ import annotations

import random
import socket
import struct
import time
import zlib

import pytest

from protocol import FramebufferUpdate, FramebufferUpdateRequest
from protocol.clipboard import ClipboardAction, ClipboardFormat
from protocol.encodings import Encoding

from .kit import RAW, Client, Served, closed_within, connect, send_quietly


def admitted(served: Served, encodings: tuple[int, ...] = (RAW,)) -> Client:
    client = Client(served.port)
    client.admitted(encodings)
    return client


def still_served(client: Client) -> None:
    """The connection still works: a full update request is answered."""
    client.send(FramebufferUpdateRequest(False, 0, 0, 16, 16))
    while not isinstance(client.next_event(), FramebufferUpdate):
        pass


def pixel_format(bpp: int, depth: int, true_colour: bool, shift: int) -> bytes:
    """rfbproto 7.4: bpp, depth, big-endian, true-colour, maxima and shifts, 3 pad bytes."""
    return struct.pack(">BBBBHHHBBBxxx", bpp, depth, 0, true_colour, 255, 255, 255, shift, 8, 0)


#: Messages that are wrong on their face: vncd closes the connection.
FATAL = {
    "SetEncodings with 65535 entries": struct.pack(">BxH", 2, 65535) + bytes(4 * 65535),
    "bpp 13": b"\0\0\0\0" + pixel_format(13, 12, True, 16),
    "bpp 0": b"\0\0\0\0" + pixel_format(0, 0, True, 16),
    "shift beyond bpp": b"\0\0\0\0" + pixel_format(32, 24, True, 200),
    "unknown type 99": bytes([99]) + bytes(64),
    "unknown type 200": bytes([200]) + bytes(64),
}


@pytest.mark.parametrize("message", FATAL.values(), ids=FATAL.keys())
def test_invalid_messages_close_only_that_viewer(served: Served, message: bytes) -> None:
    with served.watched():
        client = admitted(served)
        send_quietly(client.sock, message)
        assert closed_within(client.sock, 3)


def test_cut_text_claiming_4_gib_is_refused(served: Served) -> None:
    """ClientCutText's length says 4 GiB - 1 or 2 GiB (with no Extended Clipboard): that
    viewer is closed at once, and nothing is allocated or waited for."""
    with served.watched():
        for length in (0xFFFFFFFF, 0x80000000):
            client = admitted(served)
            send_quietly(client.sock, struct.pack(">BxxxI", 6, length) + bytes(1 << 20))
            assert closed_within(client.sock, 3)


def test_cut_text_just_under_2_gib_is_read_and_dropped(served: Served) -> None:
    """2 GiB - 1 is a legal length: read and dropped in bounded pieces while the others are
    served, and the viewer stays."""
    with served.watched():
        client = admitted(served)
        send_quietly(client.sock, struct.pack(">BxxxI", 6, 0x7FFFFFFF) + bytes(1 << 20))
        assert not closed_within(client.sock, 0.5)
        client.close()


def extended_provide_bomb(inflated: int) -> bytes:
    """An Extended Clipboard Provide (rfbproto "Extended Clipboard Pseudo-Encoding") whose
    zlib stream inflates to ``inflated`` bytes of text, in a ClientCutText."""
    items = struct.pack(">I", inflated) + bytes(inflated)
    body = struct.pack(">I", ClipboardAction.PROVIDE | ClipboardFormat.TEXT)
    body += zlib.compress(items, 9)
    return struct.pack(">Bxxxi", 6, -len(body)) + body


@pytest.mark.parametrize("announced", [True, False], ids=["announced", "unannounced"])
def test_an_extended_clipboard_zlib_bomb_is_dropped(served: Served, announced: bool) -> None:
    """64 MiB of text in ~64 KiB of zlib, streamed in small pieces: dropped (limit 64 KiB),
    or the viewer closed when it never announced the extension, without inflating it all and
    without delaying the other viewer."""
    encodings = (RAW, Encoding.EXTENDED_CLIPBOARD) if announced else (RAW,)
    bomb = extended_provide_bomb(64 << 20)
    with served.watched():
        client = admitted(served, encodings)
        for start in range(0, len(bomb), 4096):
            send_quietly(client.sock, bomb[start : start + 4096])
            time.sleep(0.002)
        if announced:
            still_served(client)  # dropped, the viewer stays
        else:
            assert closed_within(client.sock, 3)  # an extended message it never announced
        client.close()


def test_out_of_range_update_requests_are_harmless(served: Served) -> None:
    with served.watched():
        client = admitted(served)
        for box in ((60000, 60000, 65535, 65535), (0, 0, 65535, 65535), (319, 239, 0, 0)):
            client.send(FramebufferUpdateRequest(False, *box))
        still_served(client)
        client.close()


def test_random_bytes_after_server_init_close_that_viewer(served: Served) -> None:
    with served.watched():
        for seed in range(5):
            client = admitted(served)
            send_quietly(client.sock, random.Random(seed).randbytes(1 << 16))
            assert closed_within(client.sock, 3)


def test_disconnects_in_the_middle_of_updates(served: Served) -> None:
    """Viewers that ask for the whole screen and vanish (RST) after its first bytes."""
    with served.watched():
        for _ in range(20):
            client = admitted(served)
            client.send(FramebufferUpdateRequest(False, 0, 0, 320, 240))
            client.sock.recv(1000)
            client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()


def test_a_viewer_that_never_reads(served: Served) -> None:
    """Thousands of full update requests, and nothing read for 2 s: only that viewer waits."""
    with served.watched():
        client = admitted(served)
        request = client.conn.send(FramebufferUpdateRequest(False, 0, 0, 320, 240))
        client.sock.settimeout(0.1)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            try:
                client.sock.send(request * 5000)
                time.sleep(0.01)
            except TimeoutError:
                time.sleep(0.05)  # vncd stopped reading too: its outbox is full
        client.close()


def websocket(served: Served) -> socket.socket:
    """A WebSocket to vncd (RFC 6455 4.1), upgraded; the test writes the frames."""
    sock = connect(served.port)
    sock.sendall(
        b"GET /websockify HTTP/1.1\r\n"
        + f"Host: 127.0.0.1:{served.port}\r\n".encode()
        + b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Protocol: binary\r\n\r\n"
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(4096)
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock


#: RFC 6455 5.2 frames a server must refuse, and how soon vncd closes: at once, or (a frame
#: that announces more than it sends) at the handshake deadline (2 s) plus the close
#: handshake's (2 s, websocket.CLOSE_SECONDS).
BAD_FRAMES = {
    "unmasked": (b"\x82\x05hello", 1),
    "reserved opcode": (b"\x83\x80mask", 1),
    "reserved bits": (b"\xf2\x80mask", 1),
    "3 MiB, over max_message_size": (
        b"\x82\xff" + struct.pack(">Q", 3 << 20) + b"mask" + bytes(3 << 20),
        1,
    ),
    "length 2**62, never sent": (b"\x82\xff" + struct.pack(">Q", 1 << 62) + b"mask", 5),
}


@pytest.mark.parametrize(("frame", "seconds"), BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
def test_websocket_abuse_closes_that_connection(
    served: Served, frame: bytes, seconds: float
) -> None:
    with served.watched():
        sock = websocket(served)
        send_quietly(sock, frame)
        assert closed_within(sock, seconds)
