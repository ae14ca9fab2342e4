"""Abuse before authentication: bad versions, unoffered security types, password loops,
slowloris, floods and churn. vncd runs with a 2 s handshake deadline and a 1 s back-off
doubling to 2 s (conftest.CONFIG), 32 pending connections in total and 8 per address."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from protocol import HandshakeFailed, ProtocolVersion, SecurityResult, SecurityTypes
from tests.requirements import require_programs

from .kit import USER, USER_PASSWORD, Client, Served, closed_within, connect, send_quietly

GREETING = b"RFB 003.008\n"


@pytest.mark.parametrize(
    "version", [b"RFB 999.999\n", b"HELLO WORLD\n", b"RFB 003.00\x00\n", b"\xff" * 12]
)
def test_bad_version_strings_are_closed(served: Served, version: bytes) -> None:
    with served.watched():
        client = Client(served.port).greeted()
        client.sock.sendall(version)
        assert closed_within(client.sock, 3)


def test_an_unoffered_security_type_is_closed(served: Served) -> None:
    with served.watched():
        for chosen in (1, 19, 255):
            client = Client(served.port).greeted()
            client.send(ProtocolVersion(3, 8))
            assert isinstance(client.next_event(), SecurityTypes)
            client.sock.sendall(bytes([chosen]))
            assert closed_within(client.sock, 3)


def test_a_password_loop_is_throttled_and_the_user_gets_in_after_it(served: Served) -> None:
    """After 5 failures the address waits 1 s, doubling to 2 s (this server's settings): the
    refusal says so, and the right password works at most 2 s after the loop stops."""
    with served.watched():
        reasons = []
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            client = Client(served.port)
            result = client.authenticate("guess")
            reasons.append(result.reason)
            assert isinstance(result, HandshakeFailed | SecurityResult) and not getattr(
                result, "ok", False
            )
            client.close()
        stopped = time.monotonic()
        assert len(reasons) > 20
        assert sum(reason.startswith("authentication failed") for reason in reasons) <= 9
        assert any(
            reason.startswith("too many failed authentications from 127.0.0.1: try again in")
            for reason in reasons
        )
        while True:
            client = Client(served.port)
            result = client.authenticate()
            client.close()
            if isinstance(result, SecurityResult) and result.ok:
                break
            assert time.monotonic() - stopped < 3
            time.sleep(0.1)
        assert time.monotonic() - stopped <= 2.5


def test_a_named_login_loop_costs_others_nothing(served: Served) -> None:
    """Four connections at once guess anne's password by Tight's login: each guess costs
    the server a slow hash (0.1 s, in threads), yet the watcher sees no gap; the back-off
    holds by name as by password, and anne gets in after it."""
    stop = time.monotonic() + 3
    reasons: list[str] = []

    def guess() -> None:
        while time.monotonic() < stop:
            client = Client(served.port)
            result = client.log_in(USER, "guess")
            reasons.append(getattr(result, "reason", ""))
            client.close()

    with served.watched():
        threads = [threading.Thread(target=guess) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert any(reason.startswith("too many failed authentications") for reason in reasons)
        assert sum(reason == "authentication failed" for reason in reasons) <= 12
        deadline = time.monotonic() + 3
        while True:
            client = Client(served.port)
            result = client.log_in(USER, USER_PASSWORD)
            client.close()
            if isinstance(result, SecurityResult) and result.ok:
                break
            assert time.monotonic() < deadline, result
            time.sleep(0.1)


def test_slowloris_handshakes_are_dropped_at_the_deadline(served: Served) -> None:
    """Eight connections send their version a byte every 0.3 s: each is closed 2 s (the
    configured deadline) after the greeting, and none gets further."""
    with served.watched():
        clients = [Client(served.port).greeted() for _ in range(8)]
        started = time.monotonic()
        for byte in GREETING:
            if time.monotonic() - started > 3:
                break
            for client in clients:
                send_quietly(client.sock, bytes([byte]))
            time.sleep(0.3)
        assert all(closed_within(client.sock, 1) for client in clients)
        assert time.monotonic() - started < 4


def test_a_flood_beyond_the_pending_caps_is_closed_at_once(served: Served) -> None:
    """40 silent connections from five loopback addresses: 8 per address and 32 in all are
    greeted, the rest closed before a byte is sent. Once they go, a viewer gets in."""
    with served.watched():
        # 8 from 127.0.0.2 and a ninth, then 8 from each of 127.0.0.3 to 127.0.0.6.
        flood = [connect(served.port, f"127.0.0.{2 + i // 8}") for i in range(8)]
        flood.append(connect(served.port, "127.0.0.2"))
        flood += [connect(served.port, f"127.0.0.{2 + i // 8}") for i in range(8, 40)]
        greeted = closed = 0
        try:
            for sock in flood:
                sock.settimeout(2)
                try:
                    data = sock.recv(100)
                except TimeoutError:
                    data = None
                except ConnectionError:
                    data = b""
                greeted += bool(data)
                closed += data == b""
        finally:
            for sock in flood:
                sock.close()
        assert (greeted, closed) == (32, 9)
        log = served.log()
        assert "closed at once: 8 connections from this address are waiting" in log
        assert "closed at once: 32 connections are waiting to authenticate" in log
        time.sleep(0.2)
        client = Client(served.port)
        client.admitted()
        client.close()


def test_connection_churn_leaves_nothing_behind(served: Served) -> None:
    """300 connections opened and dropped at every stage of the handshake; then the caps
    are all free again: 8 more from one address are all greeted."""
    with served.watched():
        for i in range(300):
            sock = connect(served.port)
            if i % 3 == 1:
                sock.sendall(GREETING)
            elif i % 3 == 2:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
            sock.close()
        time.sleep(0.3)
        eight = [Client(served.port).greeted() for _ in range(8)]
        for client in eight:
            client.close()


def test_the_listen_backlog_is_at_least_128(served: Served) -> None:
    """A burst of connections is queued by the kernel, not refused (ss shows a listening
    socket's backlog as its Send-Q; the kernel caps it at net.core.somaxconn)."""
    require_programs("ss")
    listing = subprocess.run(
        ["ss", "-ltnH", f"sport = :{served.port}"], capture_output=True, text=True, check=True
    ).stdout
    [line] = listing.splitlines()
    backlog = int(line.split()[2])
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    assert backlog >= min(128, somaxconn) and backlog == min(1024, somaxconn)
