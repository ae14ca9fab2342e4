"""The transports' parts on their own: classification, sniffing, replay, origins."""

from __future__ import annotations

import h11
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from vncd.transports import (
    Kind,
    PrefixedStream,
    Sniffed,
    classify,
    is_loopback,
    origin_allowed,
    parse_origin,
    sniff,
)
from vncd.transports.websocket import WebSocketSettings, refusal


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", None),
        (b"\x16", None),
        (b"\x16\x03\x01\x02\x00", Kind.TLS),  # a ClientHello record
        (b"\x16\x00", Kind.RFB),
        (b"G", None),
        (b"GET", None),
        (b"GET / HTTP/1.1\r\n", Kind.HTTP),
        (b"OPTIONS * HTTP/1.1", Kind.HTTP),
        (b"PRI * HTTP/2.0", Kind.HTTP),
        (b"RFB", None),
        (b"RFB 003.008\n", Kind.RFB),  # a viewer that speaks first
        (b"RFB 003.003\n", Kind.RFB),
        (b"get / HTTP/1.1", Kind.RFB),  # methods are case-sensitive
        (b"\x00\x00", Kind.RFB),
        (b"A" * 17, Kind.RFB),  # longer than any method
        (b"GET\t/", Kind.RFB),
    ],
)
def test_classify(data: bytes, kind: Kind | None) -> None:
    assert classify(data) is kind


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40), st.integers(0, 40))
def test_a_decision_never_changes_with_more_bytes(data: bytes, cut: int) -> None:
    decided = classify(data[:cut])
    if decided is not None:
        assert classify(data) is decided


async def test_sniff_reads_until_the_bytes_decide(autojump_clock: trio.abc.Clock) -> None:
    client, server = trio.testing.memory_stream_pair()

    async def browser() -> None:
        await client.send_all(b"GE")
        await trio.sleep(0.01)
        await client.send_all(b"T / HTTP/1.1\r\n")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(browser)
        assert await sniff(server, 0.05) == Sniffed(Kind.HTTP, b"GET / HTTP/1.1\r\n")


async def test_sniff_silence_and_undecided_bytes(autojump_clock: trio.abc.Clock) -> None:
    client, server = trio.testing.memory_stream_pair()
    started = trio.current_time()
    assert await sniff(server, 0.05) == Sniffed(Kind.SILENT, b"")
    assert trio.current_time() - started == pytest.approx(0.051)  # the window + the last look
    await client.send_all(b"RF")
    assert await sniff(server, 0.05) == Sniffed(Kind.RFB, b"RF")
    await client.aclose()
    assert await sniff(server, 0.05) == Sniffed(Kind.CLOSED, b"")


async def test_sniff_takes_a_last_look_after_the_window() -> None:
    # Bytes that arrived while the event loop was busy past the deadline still count.
    client, server = trio.testing.memory_stream_pair()
    await client.send_all(b"GET / HTTP/1.1\r\n")
    assert (await sniff(server, 0)).kind is Kind.HTTP


async def test_prefixed_stream_replays_then_reads_on() -> None:
    client, server = trio.testing.memory_stream_pair()
    stream = PrefixedStream(server, b"abcdef")
    assert await stream.receive_some(4) == b"abcd"
    assert await stream.receive_some() == b"ef"
    await client.send_all(b"more")
    assert await stream.receive_some() == b"more"
    await stream.send_all(b"out")
    assert await client.receive_some() == b"out"
    with pytest.raises(ValueError):
        await stream.receive_some(0)
    await stream.aclose()
    assert await client.receive_some() == b""


@pytest.mark.parametrize(
    ("origin", "host", "secure", "allowed", "ok"),
    [
        (None, "h:5900", False, (), True),
        ("http://h:5900", "h:5900", False, (), True),
        ("http://H:5900", "h:5900", False, (), True),
        ("http://h", "h", False, (), True),  # default ports: 80 and 80
        ("http://h:80", "h", False, (), True),
        ("https://h", "h", True, (), True),  # 443 and 443
        ("https://h", "h", False, (), False),  # 443, but a plain connection's Host means 80
        ("http://[::1]:5900", "[::1]:5900", False, (), True),
        ("http://h:5901", "h:5900", False, (), False),
        ("http://other:5900", "h:5900", False, (), False),
        ("http://h:5900", None, False, (), False),
        ("null", "h:5900", False, (), False),
        ("null", "h:5900", False, ("*",), True),
        ("https://portal.example", "h:5900", False, ("https://portal.example:443",), True),
        ("http://portal.example", "h:5900", False, ("https://portal.example",), False),
    ],
)
def test_origin_allowed(
    origin: str | None, host: str | None, secure: bool, allowed: tuple[str, ...], ok: bool
) -> None:
    assert origin_allowed(origin, host, secure, allowed) is ok


def test_parse_origin() -> None:
    assert parse_origin("https://Example.com") == ("https", "example.com", 443)
    assert parse_origin("http://[::1]:8080") == ("http", "::1", 8080)
    for bad in ("example.com", "ws://h", "https://h/path", "https://u@h", "https://h:99999", ""):
        with pytest.raises(ValueError, match="not an origin"):
            parse_origin(bad)


def test_is_loopback() -> None:
    assert all(map(is_loopback, ("localhost", "127.0.0.1", "127.1.2.3", "::1")))
    assert not any(map(is_loopback, ("0.0.0.0", "::", "example.com", "10.0.0.1", "")))


UPGRADE = {
    b"host": b"127.0.0.1:5900",
    b"upgrade": b"websocket",
    b"connection": b"keep-alive, Upgrade",
    b"sec-websocket-version": b"13",
    b"sec-websocket-key": b"dGhlIHNhbXBsZSBub25jZQ==",
}


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({}, None),
        ({b"sec-websocket-protocol": b"base64, binary"}, None),
        ({b"sec-websocket-protocol": b"base64"}, 400),
        ({b"connection": b"keep-alive"}, 400),
        ({b"sec-websocket-version": b"8"}, 426),
        ({b"sec-websocket-key": None}, 400),
        ({b"host": b"caf\xe9:5900"}, 400),
        ({b"origin": b"http://127.0.0.1:5900"}, None),
        ({b"origin": b"http://127.0.0.1:5901"}, 403),
        ({b"host": b"rebound.example:5900", b"origin": b"http://rebound.example:5900"}, 403),
    ],
)
def test_upgrade_refusals(changes: dict[bytes, bytes | None], status: int | None) -> None:
    headers = {**UPGRADE, **changes}
    request = h11.Request(
        method="GET",
        target="/websockify",
        headers=[(name, value) for name, value in headers.items() if value is not None],
    )
    refused = refusal(request, False, WebSocketSettings(loopback_only=True))
    assert (refused.status if refused else None) == status
