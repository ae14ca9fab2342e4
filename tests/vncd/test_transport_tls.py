"""TLS on the RFB port: https://, wss:// and RFB over TLS with a self-signed certificate."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import pytest
import trio
import trio_websocket

from vncd.transports import WebSocketStream

from .certificates import make_certificate, tls_config
from .netharness import (
    GREETING,
    HttpClient,
    receive_all,
    receive_exactly,
    rfb_handshake,
    running_vncd,
)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return make_certificate(tmp_path / "tls")


def client_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certificate[0]))
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


async def open_tls(port: int, certificate: tuple[Path, Path]) -> trio.SSLStream:
    tcp = await trio.open_tcp_stream("127.0.0.1", port)
    stream = trio.SSLStream(tcp, client_context(certificate), server_hostname="localhost")
    await stream.do_handshake()
    return stream


async def test_https_get(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<title>secure</title>")
    text = tls_config(certificate) + f'[http]\nweb_root = "{web}"\n'
    async with running_vncd(text) as running:
        stream = await open_tls(running.port, certificate)
        assert stream.selected_alpn_protocol() == "http/1.1"
        assert stream.version() in ("TLSv1.2", "TLSv1.3")
        client = HttpClient(stream)
        response, body = await client.request("GET", "/")
        assert (response.status_code, body) == (200, b"<title>secure</title>")
        response, body = await client.request("GET", "/healthz")  # keep-alive inside TLS
        assert (response.status_code, body) == (200, b"ok\n")


async def test_wss_rfb_handshake(certificate: tuple[Path, Path]) -> None:
    async with (
        running_vncd(tls_config(certificate)) as running,
        trio_websocket.open_websocket(
            "127.0.0.1",
            running.port,
            "/websockify",
            use_ssl=client_context(certificate),
            subprotocols=["binary"],
        ) as connection,
    ):
        assert connection.subprotocol == "binary"
        await rfb_handshake(WebSocketStream(connection))


async def test_rfb_over_tls_for_a_client_that_waits(certificate: tuple[Path, Path]) -> None:
    async with running_vncd(tls_config(certificate)) as running:
        await rfb_handshake(await open_tls(running.port, certificate))


async def test_client_hello_without_tls_configured_is_closed(
    certificate: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "vncd")
    async with running_vncd() as running:
        with trio.fail_after(5), pytest.raises(trio.BrokenResourceError):
            await open_tls(running.port, certificate)
        assert any("no [tls] certificate is configured" in message for message in caplog.messages)
        await rfb_handshake(await running.connect())  # and the server carries on


async def test_failed_or_stalled_tls_handshakes_affect_no_one_else(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("vncd.transports.tls.HANDSHAKE_SECONDS", 0.5)
    async with running_vncd(tls_config(certificate)) as running:
        # A client that does not trust the certificate aborts the handshake...
        tcp = await trio.open_tcp_stream("127.0.0.1", running.port)
        untrusting = trio.SSLStream(tcp, ssl.create_default_context(), server_hostname="localhost")
        with pytest.raises(trio.BrokenResourceError):
            await untrusting.do_handshake()
        # ...one stops half-way through its ClientHello, and is dropped after the timeout...
        stalled = await running.connect()
        await stalled.send_all(b"\x16\x03\x01\x02\x00\x01")
        viewer = await running.connect()
        with trio.fail_after(5):
            assert await receive_exactly(viewer, len(GREETING)) == GREETING
        await rfb_handshake(await open_tls(running.port, certificate))
        assert await receive_all(stalled, timeout=3) == b""
