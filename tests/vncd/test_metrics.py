"""/metrics and /readyz on a real `serve` over real sockets, with protocol viewers: what
the counters say while viewers connect, fail to authenticate and leave; readiness when the
capture hangs; and the README's list of metrics, held to the registry."""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import socket
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio_websocket
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from protocol import KeyEvent, SecurityResult
from protocol.encodings import Encoding
from vncd.config import ConfigError, parse_config
from vncd.metrics import METRICS
from vncd.server import serve
from vncd.sources import Source, open_source
from vncd.transports import WebSocketStream

from .certificates import make_certificate, tls_config
from .netharness import HttpClient, Running, running_vncd
from .sourcekit import source_config
from .test_cli import vncd
from .test_transport_tls import client_context, open_tls
from .viewer import Viewer

REPO = Path(__file__).resolve().parents[2]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def get(running: Running, path: str) -> tuple[int, bytes, bytes | None]:
    """(status, body, content type) of one GET on a connection of its own."""
    stream = await running.connect()
    async with stream:
        response, body = await HttpClient(stream).request("GET", path)
    content_type = next((v for k, v in response.headers if k == b"content-type"), None)
    return response.status_code, body, content_type


async def scrape(running: Running) -> Samples:
    status, body, content_type = await get(running, "/metrics")
    assert status == 200
    assert content_type == CONTENT_TYPE_LATEST.encode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 when the series is absent (a counter not yet counted)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def series(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: number for (sample, labels), number in samples.items() if sample == name}


@contextlib.asynccontextmanager
async def websocket_viewer(running: Running) -> AsyncIterator[Viewer]:
    async with trio_websocket.open_websocket(
        "127.0.0.1", running.port, "/websockify", use_ssl=False, subprotocols=["binary"]
    ) as connection:
        yield Viewer(WebSocketStream(connection))


async def change_and_update(*viewers: Viewer) -> None:
    """Type a key on the demo desktop, then wait until every viewer got the change."""
    await viewers[0].send(KeyEvent(True, ord("x")), KeyEvent(False, ord("x")))
    for viewer in viewers:
        await viewer.request(incremental=True)
        await viewer.next_update()


TWO_TYPES = '[server]\npassword = "secret"\n[security]\ntypes = ["VncAuth", "None"]\n'


async def test_counters_move_while_two_viewers_connect() -> None:
    async with running_vncd(TWO_TYPES) as running:
        before = await scrape(running)
        assert series(before, "vncd_viewers") == {}
        tcp = Viewer(await running.connect())
        with trio.fail_after(10):
            await tcp.handshake("secret", encodings=(Encoding.ZRLE,), security=2)
            await tcp.full_update()
            async with websocket_viewer(running) as browser:
                await browser.handshake(encodings=(Encoding.HEXTILE,), security=1)
                await browser.full_update()
                await change_and_update(tcp, browser)
                during = await scrape(running)
            await tcp.stream.aclose()
        assert series(during, "vncd_viewers") == {
            frozenset({("transport", "tcp"), ("security", "VncAuth")}): 1,
            frozenset({("transport", "websocket"), ("security", "None")}): 1,
        }
        for encoding in ("zrle", "hextile"):
            rectangles = value(during, "vncd_sent_rectangles_total", encoding=encoding)
            assert rectangles >= 2, encoding  # a whole picture and a change at least
            sent = value(during, "vncd_sent_rectangle_bytes_total", encoding=encoding)
            assert sent > 12 * rectangles, encoding
            encodes = value(during, "vncd_encode_duration_seconds_count", encoding=encoding)
            assert encodes >= 2, encoding
            assert value(during, "vncd_encode_duration_seconds_sum", encoding=encoding) > 0
        for name in ("vncd_frames_captured_total", "vncd_frames_changed_total"):
            assert value(during, name) >= value(before, name) + 2, name
        for histogram in ("vncd_capture_duration_seconds", "vncd_update_latency_seconds"):
            assert value(during, f"{histogram}_count") >= 2, histogram
            assert value(during, f"{histogram}_bucket", le="+Inf") == value(
                during, f"{histogram}_count"
            )
        assert value(during, "vncd_authentications_total", result="success") == 1  # None: unchecked
        assert value(during, "vncd_authentications_total", result="failure") == 0
        assert value(during, "vncd_pending_connections") == 0
        with trio.fail_after(10):
            while series(await scrape(running), "vncd_viewers"):
                await trio.sleep(0.05)  # both sessions end, and their series with them


async def test_wrong_passwords_count_and_block_the_address() -> None:
    async with running_vncd(server__password="secret", limits__auth_failures=2) as running:
        with trio.fail_after(10):
            await Viewer(await running.connect()).handshake("secret")
            for _ in range(2):
                result = await Viewer(await running.connect()).handshake("wrong")
                assert isinstance(result, SecurityResult) and not result.ok
            silent = await running.connect()  # holds a pending slot, says nothing
            samples = await scrape(running)
        assert value(samples, "vncd_authentications_total", result="success") == 1
        assert value(samples, "vncd_authentications_total", result="failure") == 2
        assert value(samples, "vncd_blocked_addresses") == 1
        assert value(samples, "vncd_pending_connections") == 1
        await silent.aclose()


async def test_queue_depth_per_viewer_and_deferred_updates() -> None:
    """A viewer that lists Fence but never answers one: its bytes stay unconfirmed (a series
    of its own, gone when it leaves), and a second whole picture, due at once, waits for the
    congestion window (the first was bigger than the initial 16 KiB window)."""
    async with running_vncd() as running:
        stream = await running.connect()
        viewer = Viewer(stream)
        with trio.fail_after(10):
            await viewer.handshake(encodings=(Encoding.RAW, Encoding.FENCE))
            await viewer.full_update()  # 160x120 raw: 76800 bytes
            await viewer.full_update()  # waits for the window (ANSWER_TIMEOUT: 1 s)
            samples = await scrape(running)
        host, port = stream.socket.getsockname()[:2]
        queued = value(samples, "vncd_viewer_queued_bytes", viewer=f"{host}:{port}")
        assert queued >= 2 * 160 * 120 * 4
        assert value(samples, "vncd_updates_deferred_total") >= 1
        await stream.aclose()
        with trio.fail_after(10):
            while series(await scrape(running), "vncd_viewer_queued_bytes"):
                await trio.sleep(0.05)


class StallingSource:
    """The demo desktop, polled (it tells no damage), whose captures can be held like those
    of a wedged X server."""

    reports_damage = False

    def __init__(self, source: Source) -> None:
        self._source = source
        self.flowing = threading.Event()
        self.flowing.set()

    def capture(self) -> Any:
        self.flowing.wait()
        return self._source.capture()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)


@contextlib.asynccontextmanager
async def serving(source: Any, text: str = "") -> AsyncIterator[Running]:
    overrides = {"server.host": "127.0.0.1", "server.port": 0}
    config = parse_config(text, "test.toml", overrides=overrides)
    async with trio.open_nursery() as nursery:
        start = functools.partial(serve, config, handle_signals=False, source=source)
        listeners = await nursery.start(start)
        yield Running(listeners[0].socket.getsockname()[1])
        nursery.cancel_scope.cancel()


@pytest.fixture
async def stalling() -> AsyncIterator[StallingSource]:
    async with open_source(source_config("demo")) as demo:
        yield StallingSource(demo)


async def test_readyz_fails_while_a_capture_hangs(
    stalling: StallingSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("vncd.metrics.READY_OVERDUE_SECONDS", 0.5)
    async with serving(stalling) as running:
        assert await get(running, "/readyz") == (200, b"ready\n", b"text/plain; charset=utf-8")
        viewer = Viewer(await running.connect())
        # Released whatever happens: the server cannot stop while a capture thread waits.
        with trio.fail_after(10), contextlib.ExitStack() as stack:
            stack.callback(stalling.flowing.set)
            await viewer.handshake()
            await viewer.full_update()
            assert (await get(running, "/readyz"))[0] == 200  # polled and capturing
            stalling.flowing.clear()
            await trio.sleep(0.8)
            status, body, _ = await get(running, "/readyz")
            assert status == 503
            assert re.fullmatch(rb"not ready: a capture has been owed for [0-9.]+ s\n", body)
            stalling.flowing.set()
            while (await get(running, "/readyz"))[0] != 200:
                await trio.sleep(0.05)
        await viewer.stream.aclose()


async def test_readyz_is_ready_with_no_viewers_and_metrics_can_be_turned_off() -> None:
    async with running_vncd(metrics__enabled=False) as running:
        assert (await get(running, "/readyz"))[:2] == (200, b"ready\n")
        assert (await get(running, "/metrics"))[0] == 404
        assert (await get(running, "/healthz"))[:2] == (200, b"ok\n")


def readme_metrics() -> list[tuple[str, str, tuple[str, ...], str]]:
    """The rows of README.md's table of metrics: (name, type, labels, meaning)."""
    rows = []
    for line in (REPO / "README.md").read_text().splitlines():
        if match := re.fullmatch(r"\| `(vncd_\w+)` \| (\w+) \| (.*?) \| (.+) \|", line):
            name, kind, labels, meaning = match.groups()
            rows.append((name, kind, tuple(re.findall(r"`(\w+)`", labels)), meaning))
    return rows


async def test_readme_lists_the_registry() -> None:
    """README.md's table is METRICS, and METRICS is what /metrics serves (every family)."""
    listed = [(info.name, info.kind, info.labels, info.help) for info in METRICS]
    assert readme_metrics() == listed
    async with running_vncd() as running:
        body = (await get(running, "/metrics"))[1]
    served = {
        family.name: family.type
        for family in text_string_to_metric_families(body.decode())
        if not family.name.endswith("_created")  # prometheus-client's creation times
    }
    assert served == {info.name.removesuffix("_total"): info.kind for info in METRICS}
    for info in METRICS:
        assert f"# HELP {info.name} {info.help}" in body.decode(), info.name


async def test_viewers_over_tls_and_wss_are_told_apart(tmp_path: Path) -> None:
    certificate = make_certificate(tmp_path)
    async with running_vncd(tls_config(certificate)) as running:
        with trio.fail_after(10):
            tls = Viewer(await open_tls(running.port, certificate))
            await tls.handshake()
            await tls.full_update()
            async with trio_websocket.open_websocket(
                "127.0.0.1",
                running.port,
                "/websockify",
                use_ssl=client_context(certificate),
                subprotocols=["binary"],
            ) as connection:
                wss = Viewer(WebSocketStream(connection))
                await wss.handshake()
                await wss.full_update()
                samples = await scrape(running)
    assert series(samples, "vncd_viewers") == {
        frozenset({("transport", "tls"), ("security", "None")}): 1,
        frozenset({("transport", "wss"), ("security", "None")}): 1,
    }


async def test_metrics_on_an_address_of_their_own(caplog: pytest.LogCaptureFixture) -> None:
    """`[metrics] listen`: the status pages there alone (no web client, no WebSocket), and no
    /metrics on the RFB port."""
    caplog.set_level(logging.INFO, logger="vncd.server")
    said = re.compile(r"metrics at http://127\.0\.0\.1:(\d+)/metrics")
    async with running_vncd(metrics__listen="127.0.0.1:0") as running:
        [port] = [int(m[1]) for r in caplog.records if (m := said.fullmatch(r.getMessage()))]
        apart = Running(port)
        assert value(await scrape(apart), "vncd_pending_connections") == 0
        assert (await get(apart, "/readyz"))[:2] == (200, b"ready\n")
        assert (await get(apart, "/healthz"))[:2] == (200, b"ok\n")
        assert (await get(apart, "/"))[0] == 404
        with pytest.raises(trio_websocket.HandshakeError):
            async with trio_websocket.open_websocket("127.0.0.1", port, "/", use_ssl=False):
                pass
        assert (await get(running, "/metrics"))[0] == 404
        assert (await get(running, "/readyz"))[0] == 200


def test_a_metrics_address_in_use_stops_the_server_saying_so(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        config = tmp_path / "vncd.toml"
        config.write_text(f'[metrics]\nlisten = "{address}"\n')
        result = vncd("run", str(config), "--source", "demo", "--port", "0")
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[-1] == (
        f'vncd: error: metrics.listen = "{address}": cannot listen there: Address already in use'
    )


def test_a_metrics_address_needs_metrics_enabled() -> None:
    text = '[metrics]\nenabled = false\nlisten = "127.0.0.1:9100"\n'
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "test.toml")
    assert raised.value.problems == (
        'test.toml: metrics.listen = "127.0.0.1:9100": needs metrics.enabled = true',
    )
