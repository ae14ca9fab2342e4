"""Same-port detection over real sockets: native viewers (silent or early), modes, timing."""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path

import pytest
import trio

from protocol import (
    ClientInit,
    ProtocolVersion,
    SecurityResult,
    SecurityTypeChosen,
    SecurityTypes,
    ServerInit,
)
from vncd.server import where_to_connect
from vncd.transports import Transports, WebRoot, WebSocketSettings
from vncd.transports.dispatch import BROWSER_DETECT_SECONDS

from .netharness import GREETING, Running, receive_all, receive_exactly, rfb_handshake, running_vncd
from .viewer import Viewer


async def time_to_greeting(running: Running) -> float:
    """Seconds from the TCP connection to the server's ProtocolVersion."""
    started = time.perf_counter()
    stream = await running.connect()
    async with stream:
        with trio.fail_after(5):
            assert await receive_exactly(stream, len(GREETING)) == GREETING
        return time.perf_counter() - started


# --- Native viewers ----------------------------------------------------------------------


async def test_silent_viewer_gets_the_greeting_after_the_window() -> None:
    async with running_vncd(server__detect_ms=300) as running:
        assert await time_to_greeting(running) >= 0.29
        await rfb_handshake(await running.connect())


async def test_viewer_that_speaks_first_is_served_with_its_bytes_replayed() -> None:
    # gtk-vnc (some versions) sends its ProtocolVersion without waiting for the server's.
    async with running_vncd(server__detect_ms=1000) as running:
        stream = await running.connect()
        await stream.send_all(b"RFB 003.008\n")
        started = time.perf_counter()
        viewer = Viewer(stream)
        with trio.fail_after(5):
            assert isinstance(await viewer.next_event(), ProtocolVersion)
            assert time.perf_counter() - started < 0.5  # decided by the bytes, not the window
            viewer.conn.send(ProtocolVersion(3, 8))  # already sent, above
            assert (await viewer.next_event()) == SecurityTypes((1,))
            await viewer.send(SecurityTypeChosen(1))
            assert (await viewer.next_event()) == SecurityResult(ok=True)
            await viewer.send(ClientInit(shared=True))
            assert isinstance(await viewer.next_event(), ServerInit)


async def test_viewer_that_sends_a_partial_version_first_gets_rfb() -> None:
    # "RFB" could still become an HTTP method; the window decides, the bytes are replayed.
    async with running_vncd(server__detect_ms=100) as running:
        stream = await running.connect()
        await stream.send_all(b"RFB")
        with trio.fail_after(5):
            assert await receive_exactly(stream, len(GREETING)) == GREETING
            await stream.send_all(b" 003.008\n")
            assert await receive_exactly(stream, 2) == b"\x01\x01"  # one security type: None


async def test_garbage_goes_to_rfb_and_closes_only_that_connection() -> None:
    async with running_vncd() as running:
        bad = await running.connect()
        await bad.send_all(b"\x00\x01 this is not RFB\r\n")
        data = await receive_all(bad)
        assert data == GREETING  # the session read the garbage as a version and hung up
        await rfb_handshake(await running.connect())


async def test_rfb_mode_greets_at_once() -> None:
    async with running_vncd(server__mode="rfb", server__detect_ms=1000) as running:
        assert await time_to_greeting(running) < 0.5
        await rfb_handshake(await running.connect())


async def time_to_http_answer(running: Running) -> float:
    """Seconds from the TCP connection to the first bytes of the answer to a browser's GET."""
    started = time.perf_counter()
    stream = await running.connect()
    async with stream:
        await stream.send_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        with trio.fail_after(5):
            assert await receive_exactly(stream, 13) == b"HTTP/1.1 200 "
        return time.perf_counter() - started


async def test_detection_delays_viewers_by_detect_ms_and_browsers_not_at_all() -> None:
    """The README's figures: with detection (mode "auto", detect_ms = 50 by default) a VNC
    viewer's greeting comes 50 ms later than without it (mode "rfb"); a browser's request is
    answered at once, however long the window. Medians of 10 connections each."""
    greetings: dict[str, list[float]] = {}
    for mode in ("rfb", "auto"):
        async with running_vncd(server__mode=mode) as running:
            await time_to_greeting(running)  # warm up
            greetings[mode] = [await time_to_greeting(running) for _ in range(10)]
    rfb, auto = (statistics.median(greetings[mode]) * 1000 for mode in ("rfb", "auto"))
    assert rfb < 20, f"mode rfb: greeted after {rfb:.1f} ms, not at once"
    assert min(greetings["auto"]) >= 0.050, "a silent client was greeted inside the window"
    assert auto - rfb < 50 + 30, f"detection added {auto - rfb:.1f} ms, not about 50 ms"
    async with running_vncd(server__detect_ms=1000) as running:
        await time_to_http_answer(running)  # warm up
        http = statistics.median([await time_to_http_answer(running) for _ in range(10)])
    assert http < 0.2, f"a browser waited {http * 1000:.0f} ms of the 1000 ms window"


async def test_a_host_running_a_browser_gets_a_longer_window() -> None:
    """A browser opens sockets ahead of need and may write on them long after detect_ms:
    once a host has fetched a page, its silent connections wait BROWSER_DETECT_SECONDS
    before they are greeted, so a late request is still served as HTTP."""
    async with running_vncd() as running:
        assert await time_to_greeting(running) < BROWSER_DETECT_SECONDS / 2
        await time_to_http_answer(running)  # this host now runs a browser
        late = await running.connect()
        async with late:
            await trio.sleep(0.3)  # silent for six windows
            await late.send_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            with trio.fail_after(5):
                assert (await late.receive_some(4096)).startswith(b"HTTP/1.1 200")
        assert await time_to_greeting(running) >= BROWSER_DETECT_SECONDS


# --- Browser-only mode, silent clients --------------------------------------------------


async def test_websocket_mode_never_greets_and_closes_silent_clients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("vncd.transports.dispatch.REQUEST_SECONDS", 0.3)
    async with running_vncd(server__mode="websocket") as running:
        stream = await running.connect()
        started = time.perf_counter()
        assert await receive_all(stream) == b""  # no greeting, closed after the timeout
        assert 0.29 <= time.perf_counter() - started < 3
        http = await running.connect()
        await http.send_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert (await receive_all(http)).startswith(b"HTTP/1.1 200 ")


async def test_client_that_closes_at_once_is_forgotten(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, "vncd")
    async with running_vncd() as running:
        stream = await running.connect()
        await stream.aclose()
        with trio.fail_after(5):
            while not any("closed before sending" in r.getMessage() for r in caplog.records):
                await trio.sleep(0.01)
        await rfb_handshake(await running.connect())


# --- What vncd run prints -------------------------------------------------------------------


async def test_serve_logs_where_to_connect(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "vncd.server")
    async with running_vncd() as running:
        port = running.port
    assert (
        f"open http://127.0.0.1:{port}/ in a browser, or point a VNC viewer at "
        f"127.0.0.1::{port}" in caplog.messages
    )


def test_where_to_connect_follows_mode_and_tls(tmp_path: Path) -> None:
    def transports(mode: str, tls: object = None) -> Transports:
        return Transports(mode, 0.05, WebRoot(None), WebSocketSettings(), tls)  # type: ignore[arg-type]

    assert where_to_connect("::1", 5900, transports("websocket")) == (
        "open http://[::1]:5900/ in a browser"
    )
    assert where_to_connect("127.0.0.1", 5901, transports("rfb")) == (
        "point a VNC viewer at 127.0.0.1::5901"
    )
    assert where_to_connect("127.0.0.1", 5900, transports("auto", tls=object())).startswith(
        "open https://127.0.0.1:5900/ in a browser, or"
    )
    assert "0.0.0.0" not in where_to_connect("0.0.0.0", 5900, transports("auto"))
