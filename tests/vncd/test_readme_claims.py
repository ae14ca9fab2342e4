"""Claims of the README that need a real `vncd run` to check: each test starts the command
as a user does (tests/interop/vncd_process.py) and talks to it over real sockets."""

from __future__ import annotations

import itertools
import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio

from protocol import PointerEvent
from tests.interop.vncd_process import VncdProcess, vncd_launcher
from tests.requirements import unavailable

from ._xvfb import wait_for
from .certificates import make_certificate, tls_config
from .netharness import GREETING, receive_exactly
from .viewer import Viewer

#: The [source] table of the servers here: the demo desktop, which needs nothing from the OS.
DEMO = '[source]\nkind = "demo"\ngeometry = "640x480"\n'


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[[str], VncdProcess]]:
    """``start(config)``: a running `vncd run` on 127.0.0.1 (config text after [server]'s
    host and port), stopped after the test."""
    with vncd_launcher(tmp_path) as launch:
        yield launch


async def viewer_of(port: int) -> Viewer:
    """A viewer that has finished the handshake (no password) with 127.0.0.1:port."""
    viewer = Viewer(await trio.open_tcp_stream("127.0.0.1", port))
    with trio.fail_after(10):
        await viewer.handshake()
    return viewer


# --- [server] name --------------------------------------------------------------------------------


async def test_server_name_reaches_viewers(start: Callable[[str], VncdProcess]) -> None:
    """`server.name` is the desktop name in ServerInit (UTF-8 on the wire); "" means the
    source's own name."""
    named = await trio.to_thread.run_sync(start, 'name = "Büro 7 ✓"\n' + DEMO)
    unnamed = await trio.to_thread.run_sync(start, DEMO)
    assert (await viewer_of(named.port)).server_init.name == "Büro 7 ✓"
    assert (await viewer_of(unnamed.port)).server_init.name == "vncd demo"


# --- [capture] max_fps ----------------------------------------------------------------------------

SECONDS = 2.0


async def updates_per_second(port: int) -> float:
    """Updates a viewer gets per second while the screen never stops changing: it keeps a
    request outstanding all the time, and a second viewer moves the pointer over the demo
    desktop every 5 ms (each move redraws its pointer readout)."""
    watcher, mover = await viewer_of(port), await viewer_of(port)
    await watcher.full_update()
    count = 0
    async with trio.open_nursery() as nursery:

        async def move() -> None:
            for step in itertools.count():
                await mover.send(PointerEvent(0, 100 + step % 200, 100))
                await trio.sleep(0.005)

        nursery.start_soon(move)
        with trio.move_on_after(SECONDS):
            while True:
                await watcher.request(incremental=True)
                await watcher.next_update()
                count += 1
        nursery.cancel_scope.cancel()
    return count / SECONDS


@pytest.mark.parametrize("max_fps", [5, 25])
async def test_max_fps_caps_the_update_rate(
    start: Callable[[str], VncdProcess], max_fps: int
) -> None:
    """`capture.max_fps` is the most frames per second a viewer sees, however fast the screen
    changes; and the rate follows the setting (at least half of it), so the cap is what
    limits: 5 gives at most 6 updates a second, 25 at least 12.5."""
    server = await trio.to_thread.run_sync(start, DEMO + f"[capture]\nmax_fps = {max_fps}\n")
    rate = await updates_per_second(server.port)
    assert max_fps / 2 <= rate <= max_fps + 1, f"{rate:.1f} updates/s with max_fps = {max_fps}"


# --- [server] host = "::" -------------------------------------------------------------------------


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


async def test_host_ipv6_any_serves_ipv6_only(tmp_path: Path) -> None:
    """`host = "::"` listens on every interface's IPv6 addresses, and only those (Trio sets
    IPV6_V6ONLY): a viewer reaches it at ::1, not at 127.0.0.1."""
    if not has_ipv6_loopback():
        unavailable("this machine has no IPv6 loopback (::1)")
    allowed = "[security]\nallow_unauthenticated_remote = true\n"
    server = VncdProcess(tmp_path / "vncd", DEMO + allowed, host="::")
    await trio.to_thread.run_sync(server.start)
    try:
        stream = await trio.open_tcp_stream("::1", server.port)
        async with stream:
            with trio.fail_after(5):
                assert await receive_exactly(stream, len(GREETING)) == GREETING
        with pytest.raises(OSError):
            await trio.open_tcp_stream("127.0.0.1", server.port)
    finally:
        await trio.to_thread.run_sync(server.stop)


# --- [tls]: TLS 1.2 or newer ----------------------------------------------------------------------


def handshake(port: int, certificate: Path, version: ssl.TLSVersion) -> str:
    """A TLS handshake with the server that offers ``version`` alone; its protocol name."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(certificate)
    context.minimum_version = context.maximum_version = version
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 keeps TLS 1.1 clients at level 0
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as tcp,
        context.wrap_socket(tcp, server_hostname="localhost") as tls,
    ):
        return tls.version()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_clients_older_than_1_2_are_refused(
    start: Callable[[str], VncdProcess], tmp_path: Path
) -> None:
    """The [tls] port speaks TLS 1.2 or newer: a TLS 1.1 client is refused by the server
    (its log says why), while the same client speaking 1.2 or 1.3 gets through."""
    certificate = make_certificate(tmp_path / "tls")
    server = start(tls_config(certificate) + DEMO)
    assert handshake(server.port, certificate[0], ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    assert handshake(server.port, certificate[0], ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    with pytest.raises(ssl.SSLError):  # the server hangs up on the ClientHello
        handshake(server.port, certificate[0], ssl.TLSVersion.TLSv1_1)
    wait_for(lambda: "unsupported protocol" in server.log_path.read_text(), "the refusal logged")
