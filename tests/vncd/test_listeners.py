"""[[listen]] (vncd.listeners) over real sockets: TCP on IPv4 and IPv6 with a mode each, a
UNIX socket (the protocol client and vncdotool), sockets passed by systemd's own
`systemd-socket-activate`, the configuration's mistakes, and the systemd units."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import shlex
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import attrs
import numpy as np
import pytest
import trio
from PIL import Image

from tests.requirements import program_path, require_programs, unavailable
from vncd.config import ConfigError, ListenConfig, parse_config
from vncd.listeners import inherited_sockets, plan, take_inherited, unix_hint
from vncd.server import serve, where_to_connect
from vncd.transports import Transports, WebRoot, WebSocketSettings
from vncd.transports.dispatch import peer_host

from ._xvfb import private_xvfb, wait_for
from .certificates import make_certificate, tls_config
from .netharness import GREETING, HttpClient, receive_all, receive_exactly, rfb_handshake
from .test_readme_claims import has_ipv6_loopback
from .viewer import Viewer

REPOSITORY = Path(__file__).resolve().parents[2]
UNITS = REPOSITORY / "etc" / "systemd"
DEMO = '[source]\nkind = "demo"\ngeometry = "160x120"\n'
#: What vncd logs for each TCP socket, and for a socket systemd passed (vncd/server.py).
TCP_LINE = re.compile(r"listening on \S+ port ([0-9]+)")
SYSTEMD_LINE = re.compile(r'listening on systemd socket "([^"]*)" \((\S+) port ([0-9]+)\)')


@contextlib.asynccontextmanager
async def serving(text: str) -> AsyncIterator[list[trio.SocketListener]]:
    """vncd (in this process) serving the demo desktop with config ``text``; yields its
    listening sockets in the order of the [[listen]] entries."""
    config = parse_config(DEMO + text, "test.toml")
    async with trio.open_nursery() as nursery:
        yield await nursery.start(functools.partial(serve, config, handle_signals=False))
        nursery.cancel_scope.cancel()


def port_of(listener: trio.SocketListener) -> int:
    return listener.socket.getsockname()[1]


# --- TCP: several listeners, each with its own mode -------------------------------------------


async def test_ipv4_rfb_and_ipv6_http_only_listeners() -> None:
    """Two TCP listeners on one server, with modes of their own: 127.0.0.1 in "rfb" greets a
    viewer at once, ::1 in "http-only" serves the status pages and refuses RFB, raw (its
    bytes are an HTTP error) or over a WebSocket (not upgraded)."""
    if not has_ipv6_loopback():
        unavailable("this machine has no IPv6 loopback (::1)")
    unused = free_port()
    text = f'[server]\nport = {unused}\n[[listen]]\ntcp = "127.0.0.1:0"\nmode = "rfb"\n'
    text += '[[listen]]\ntcp = "[::1]:0"\nmode = "http-only"\n'
    async with serving(text) as (v4, v6):
        assert v4.socket.family == socket.AF_INET and v6.socket.family == socket.AF_INET6
        viewer = await rfb_handshake(await trio.open_tcp_stream("127.0.0.1", port_of(v4)))
        assert viewer.framebuffer is not None
        with pytest.raises(OSError):  # [[listen]] replaces [server]'s port
            await trio.open_tcp_stream("127.0.0.1", unused)

        http = HttpClient(await trio.open_tcp_stream("::1", port_of(v6)))
        response, _ = await http.request("GET", "/healthz")
        assert response.status_code == 200

        for speaks_first in (GREETING, b""):  # a viewer that sends its version early, or not
            raw = await trio.open_tcp_stream("::1", port_of(v6))
            await raw.send_all(speaks_first)
            assert await no_rfb_within(raw, 1.0)

        upgrade = HttpClient(await trio.open_tcp_stream("::1", port_of(v6)))
        headers = (
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        )
        response, _ = await upgrade.request("GET", "/websockify", headers)
        assert response.status_code == 404


async def no_rfb_within(stream: trio.SocketStream, seconds: float) -> bool:
    """Whether the server sent no RFB greeting on ``stream`` within ``seconds``."""
    with trio.move_on_after(seconds):
        return not (await stream.receive_some(100)).startswith(b"RFB")
    return True


async def test_listener_without_tls_refuses_tls(tmp_path: Path) -> None:
    """`tls = false` keeps [tls] off that listener (a TLS client is closed) while another
    listener of the same server speaks TLS."""
    pair = make_certificate(tmp_path)
    text = tls_config(pair)
    text += '[[listen]]\ntcp = "127.0.0.1:0"\n[[listen]]\ntcp = "127.0.0.1:0"\ntls = false\n'
    async with serving(text) as (with_tls, without_tls):
        for listener, answers in ((with_tls, True), (without_tls, False)):
            client = trio.SSLStream(
                await trio.open_tcp_stream("127.0.0.1", port_of(listener)),
                ssl.create_default_context(cafile=str(pair[0])),
                server_hostname="localhost",
            )
            with trio.fail_after(10):
                if answers:
                    await client.do_handshake()
                else:
                    with pytest.raises(trio.BrokenResourceError):
                        await client.do_handshake()


def test_where_to_connect_on_http_only_and_unix_listeners() -> None:
    """The "where to connect" log line names no VNC address on an "http-only" listener, and
    the path on a UNIX socket."""
    base = Transports("auto", 0.05, WebRoot(None), WebSocketSettings())  # type: ignore[arg-type]
    http_only = attrs.evolve(base, mode="http-only")
    assert where_to_connect("::1", 8080, http_only) == (
        "http://[::1]:8080/ serves the web page and status pages only (no VNC)"
    )
    assert unix_hint("/run/v.sock", base) == (
        "point a VNC viewer at the UNIX socket /run/v.sock (vncviewer /run/v.sock)"
    )
    assert unix_hint("/run/v.sock", http_only) == (
        "a reverse proxy can pass browsers to the UNIX socket /run/v.sock"
    )


# --- UNIX sockets -------------------------------------------------------------------------------


async def test_unix_socket_serves_a_viewer_with_its_mode(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`unix = PATH` makes a socket with `unix_mode`'s permissions that a viewer reaches, in
    [server]'s mode when the entry names none; its peer is logged as unix:uid=N,pid=P; the
    file is removed when vncd stops."""
    caplog.set_level(logging.INFO, "vncd")
    path = tmp_path / "vncd.sock"
    text = f'[server]\nmode = "rfb"\n[[listen]]\nunix = "{path}"\nunix_mode = "0640"\n'
    async with serving(text) as [listener]:
        assert stat.S_ISSOCK(path.stat().st_mode)
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        assert listener.socket.getsockname() == str(path)
        stream = await trio.open_unix_socket(str(path))
        viewer = await rfb_handshake(stream)
        assert viewer.server_init is not None and viewer.server_init.width == 160
        # The client's end names the server, which is this process too: the same user.
        assert peer_host(stream) == f"unix:uid={os.getuid()}"
    assert f"unix:uid={os.getuid()},pid={os.getpid()}: new connection" in caplog.messages
    assert f"listening on UNIX socket {path} (permissions 0640), mode rfb" in caplog.messages
    assert not path.exists()


async def test_unix_peers_of_one_user_share_the_per_address_limit(tmp_path: Path) -> None:
    """Viewers on a UNIX socket count as one address per user: with
    `max_unauthenticated_per_address = 1`, a second unauthenticated one of the same user is
    closed at once."""
    path = tmp_path / "vncd.sock"
    limits = "[limits]\nmax_unauthenticated_per_address = 1\n"
    async with serving(f'{limits}[[listen]]\nunix = "{path}"\n'):
        waiting = await trio.open_unix_socket(str(path))
        with trio.fail_after(5):
            assert await receive_exactly(waiting, len(GREETING)) == GREETING
        second = await trio.open_unix_socket(str(path))
        assert await receive_all(second) == b""


async def test_stale_unix_socket_is_replaced_a_live_one_never(tmp_path: Path) -> None:
    """A socket file left by a crashed run (nothing listens) is replaced; one a server
    listens on, or a file that is no socket, stops vncd with a message naming the entry."""
    path = tmp_path / "vncd.sock"
    with socket.socket(socket.AF_UNIX) as crashed:
        crashed.bind(str(path))  # closed without unlinking: a stale file
    async with serving(f'[[listen]]\nunix = "{path}"\n'):
        await rfb_handshake(await trio.open_unix_socket(str(path)))

    with socket.socket(socket.AF_UNIX) as live:
        live.bind(str(path))
        live.listen()
        with pytest.RaisesGroup(
            pytest.RaisesExc(ConfigError, match="another server listens"), flatten_subgroups=True
        ):
            async with serving(f'[[listen]]\nunix = "{path}"\n'):
                pass
        assert path.exists()
    path.unlink()

    path.write_text("not a socket")
    with pytest.RaisesGroup(
        pytest.RaisesExc(ConfigError, match=r'listen\[0\]\.unix = ".*": cannot listen there'),
        flatten_subgroups=True,
    ):
        async with serving(f'[[listen]]\nunix = "{path}"\n'):
            pass
    assert path.read_text() == "not a socket"


def test_vncdotool_captures_over_the_unix_socket(tmp_path: Path) -> None:
    """vncdotool (`vncdo -s PATH`) speaks UNIX sockets: its capture over one is the desktop,
    the same picture as a capture over TCP just before or just after it (the demo desktop's
    clock may tick in between)."""
    vncdo = program_path("vncdo")
    path = tmp_path / "vncd.sock"
    config = f'[[listen]]\nunix = "{path}"\n[[listen]]\ntcp = "127.0.0.1:0"\n'
    shots = []
    with running_vncd(tmp_path, DEMO + config) as log:
        tcp = f"127.0.0.1::{int(TCP_LINE.search(log.read_text())[1])}"
        for index, server in enumerate((tcp, str(path), tcp)):
            shot = tmp_path / f"{index}.png"
            subprocess.run([vncdo, "-s", server, "capture", str(shot)], check=True, timeout=60)
            shots.append(np.asarray(Image.open(shot).convert("RGB")))
    before, over_unix, after = shots
    assert over_unix.shape == (120, 160, 3)
    assert np.array_equal(over_unix, before) or np.array_equal(over_unix, after)
    assert not path.exists()


def test_tigervnc_viewer_shows_the_desktop_over_the_unix_socket(tmp_path: Path) -> None:
    """TigerVNC's viewer, given the socket's path, shows the desktop: the same picture as
    vncdotool's capture over TCP (but for the demo's ticking clock)."""
    require_programs("xtigervncviewer", "xwininfo", "xwd")
    from tests.interop.tigervnc import tigervnc_viewer

    path = tmp_path / "vncd.sock"
    config = f'[[listen]]\nunix = "{path}"\n[[listen]]\ntcp = "127.0.0.1:0"\n'
    with running_vncd(tmp_path, DEMO + config) as log:
        port = int(TCP_LINE.search(log.read_text())[1])
        shot = tmp_path / "tcp.png"
        subprocess.run(
            [program_path("vncdo"), "-s", f"127.0.0.1::{port}", "capture", str(shot)],
            check=True,
            timeout=60,
        )
        over_tcp = np.asarray(Image.open(shot).convert("RGB"))
        with tigervnc_viewer(str(path), (160, 120), "-PreferredEncoding=Raw") as viewer:
            shown = viewer.wait_for(lambda picture: (picture != over_tcp).any(axis=2).mean() < 0.01)
    assert shown is not None and (shown != over_tcp).any(axis=2).mean() < 0.01


# --- systemd socket activation -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_vncd(
    tmp_path: Path,
    config: str,
    *,
    activate: tuple[str, ...] = (),
    ready: re.Pattern[str] = TCP_LINE,
) -> Iterator[Path]:
    """`python -m vncd run` (behind `systemd-socket-activate ACTIVATE...` when given) with
    ``config``; yields its log once a line matches ``ready`` (socket activation starts vncd
    at the first connection: the caller connects first). SIGTERM must stop it cleanly."""
    config_path = tmp_path / "vncd.toml"
    config_path.write_text(config)
    log = tmp_path / f"vncd-{time.monotonic_ns()}.log"
    command = [sys.executable, "-m", "vncd", "run", str(config_path), "--log-level", "debug"]
    with log.open("w") as output:
        process = subprocess.Popen([*activate, *command], stdout=output, stderr=subprocess.STDOUT)
    try:
        if not activate:
            wait_for(
                lambda: ready.search(log.read_text()) or process.poll() is not None, "vncd", 30
            )
            assert process.poll() is None, log.read_text()
        yield log
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0, log.read_text()
    finally:
        process.kill()
        process.wait()


def activation(port: int, name: str = "vnc", host: str = "127.0.0.1") -> tuple[str, ...]:
    require_programs("systemd-socket-activate")
    return ("systemd-socket-activate", "-l", f"{host}:{port}", f"--fdname={name}")


async def first_viewer(port: int) -> Viewer:
    """The connection that makes systemd-socket-activate start vncd: it waits in the
    socket's queue until vncd serves it."""
    with trio.fail_after(30):
        while True:
            try:
                stream = await trio.open_tcp_stream("127.0.0.1", port)
                break
            except OSError:  # systemd-socket-activate is not listening yet
                await trio.sleep(0.05)
        viewer = Viewer(stream)
        await viewer.handshake()
        await viewer.full_update()
    return viewer


@pytest.mark.parametrize(
    "listen", ["", '[[listen]]\nsystemd = "vnc"\n', '[[listen]]\nsystemd = "*"\nmode = "rfb"\n']
)
async def test_socket_activation_serves_a_viewer(tmp_path: Path, listen: str) -> None:
    """Under `systemd-socket-activate -l 127.0.0.1:PORT --fdname=vnc`, vncd serves the
    socket it was passed: with no [[listen]] (and then not [server]'s port), by its name,
    or with "*"; it logs it by name, and its children do not see LISTEN_* variables."""
    port, unused = free_port(), free_port()
    config = f"[server]\nport = {unused}\n{DEMO}{listen}"
    with running_vncd(tmp_path, config, activate=activation(port)) as log:
        viewer = await first_viewer(port)
        assert viewer.server_init is not None and viewer.server_init.width == 160
        found = SYSTEMD_LINE.search(log.read_text())
        assert found is not None and found.groups() == ("vnc", "127.0.0.1", str(port))
        with pytest.raises(OSError):
            await trio.open_tcp_stream("127.0.0.1", unused)


async def test_activated_vncd_children_do_not_see_the_variables(tmp_path: Path) -> None:
    """The session that a private Xvfb source starts does not inherit LISTEN_PID, LISTEN_FDS
    or LISTEN_FDNAMES (nor would it find the sockets)."""
    require_programs("Xvfb")
    port, seen = free_port(), tmp_path / "environment"
    xvfb = '[source]\nkind = "xvfb"\ngeometry = "160x120"\nresize = "none"\n'
    xvfb += f"command = \"sh -c 'env > {seen}; sleep 600'\"\n"
    with running_vncd(tmp_path, xvfb, activate=activation(port)):
        await first_viewer(port)
        wait_for(lambda: seen.exists() and seen.read_text(), "the session's environment")
    assert "DISPLAY=" in seen.read_text()
    assert "LISTEN_" not in seen.read_text()


async def test_socket_activation_beside_a_tcp_listener(tmp_path: Path) -> None:
    """A passed socket and a TCP address of vncd's own, served by one vncd."""
    port = free_port()
    config = DEMO + '[[listen]]\nsystemd = "vnc"\n[[listen]]\ntcp = "127.0.0.1:0"\nmode = "rfb"\n'
    with running_vncd(tmp_path, config, activate=activation(port)) as log:
        await first_viewer(port)
        own = int(TCP_LINE.search(log.read_text())[1])
        stream = await trio.open_tcp_stream("127.0.0.1", own)
        with trio.fail_after(5):
            assert await receive_exactly(stream, len(GREETING)) == GREETING


def test_activation_variables_are_for_one_process_and_taken_once() -> None:
    """LISTEN_PID must name this process (a child that inherited the variables takes no
    sockets); taking them removes the variables."""
    pid = str(os.getpid())
    environ = {"LISTEN_PID": pid, "LISTEN_FDS": "2", "LISTEN_FDNAMES": "vnc:web"}
    assert [(one.fd, one.name) for one in inherited_sockets(environ)] == [(3, "vnc"), (4, "web")]
    assert inherited_sockets({**environ, "LISTEN_PID": "1"}) == ()
    unnamed = {**environ, "LISTEN_FDNAMES": ""}
    assert [one.name for one in inherited_sockets(unnamed)] == ["unknown", "unknown"]
    passed_to_another = {"LISTEN_PID": "1", "LISTEN_FDS": "1", "LISTEN_FDNAMES": "vnc"}
    assert take_inherited(passed_to_another) == ()
    assert passed_to_another == {}


# --- Mistakes: one line each, exit status 2 ----------------------------------------------------

BAD_LISTEN_VALUES = [
    ("tcp", '"5901"', 'must be "HOST:PORT"'),
    ("tcp", '"[::1]:65536"', 'must be "HOST:PORT"'),
    ("unix", '"vncd.sock"', "must be an absolute path of at most 107 bytes"),
    ("unix", '"/' + "x" * 107 + '"', "must be an absolute path of at most 107 bytes"),
    ("unix_mode", '"0999"', 'must be an octal file mode, e.g. "0660"'),
    ("unix_mode", "660", "must be an octal file mode"),
    ("systemd", '"a:b"', "must be a socket name systemd passed"),
    ("mode", '"vnc"', 'must be one of "", "auto", "rfb", "websocket", "http-only"'),
    ("tls", '"yes"', "must be true or false"),
]


@pytest.mark.parametrize(("key", "value", "allowed"), BAD_LISTEN_VALUES)
def test_bad_listen_value_names_entry_key_and_value(key: str, value: str, allowed: str) -> None:
    text = f'[[listen]]\ntcp = "127.0.0.1:5901"\n[[listen]]\n{key} = {value}\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "test.toml")
    [problem] = caught.value.problems
    assert problem.startswith(f"test.toml: listen[1].{key} = {value}: ")
    assert allowed in problem


def test_every_listen_key_has_a_bad_value_test() -> None:
    assert {field.name for field in attrs.fields(ListenConfig)} == {
        key for key, _, _ in BAD_LISTEN_VALUES
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[listen]\ntcp = 1\n", "listen = {tcp = 1}: must be an array of tables"),
        (
            '[[listen]]\nmode = "rfb"\n',
            "listen[0]: set exactly one of tcp, unix or systemd (it sets none)",
        ),
        (
            '[[listen]]\ntcp = "127.0.0.1:1"\nunix = "/tmp/a"\n',
            "listen[0]: set exactly one of tcp, unix or systemd (it sets tcp and unix)",
        ),
        (
            '[[listen]]\nunix = "/no/such/dir/vncd.sock"\n',
            'listen[0].unix = "/no/such/dir/vncd.sock": its directory does not exist',
        ),
        (
            '[[listen]]\ntcp = "[::1]:5901"\n[[listen]]\ntcp = "[::1]:5901"\n',
            'listen[1].tcp = "[::1]:5901": listen[0] names it already',
        ),
        (
            '[[listen]]\nsystemd = "*"\n[[listen]]\nsystemd = "vnc"\n',
            'listen[1].systemd = "vnc": listen[0] takes it already',
        ),
        (
            '[[listen]]\ntcp = "0.0.0.0:5901"\n',
            'listen[0].tcp = "0.0.0.0:5901" with no password: anyone who can reach this port',
        ),
        ("[[listen]]\nport = 1\n", "listen[0].port: unknown key (known keys in [listen]: tcp,"),
    ],
)
def test_listen_mistakes(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "test.toml")
    assert [line for line in caught.value.problems if problem in line], caught.value.problems


def test_systemd_name_not_passed() -> None:
    """A [[listen]] systemd name that systemd did not pass is named, with what was passed."""
    config = parse_config('[[listen]]\nsystemd = "vnc"\n', "test.toml")
    with pytest.raises(ConfigError) as caught:
        plan(config, ())
    assert caught.value.problems == (
        'listen[0].systemd = "vnc": systemd passed no such socket (vncd was not started by '
        "socket activation: no LISTEN_FDS for it)",
    )


def vncd_command(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vncd", *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_run_stops_with_status_2_on_a_listen_mistake(tmp_path: Path) -> None:
    config = tmp_path / "vncd.toml"
    config.write_text('[[listen]]\nunix = "relative.sock"\n')
    result = vncd_command("run", str(config))
    assert result.returncode == 2
    assert result.stderr == (
        f'vncd: error: {config}: listen[0].unix = "relative.sock": must be an absolute path of '
        'at most 107 bytes (a UNIX socket) or ""\n'
    )


def test_check_prints_the_listen_tables(tmp_path: Path) -> None:
    """`vncd check` shows each [[listen]] entry with every key."""
    config = tmp_path / "vncd.toml"
    config.write_text('[[listen]]\ntcp = "[::1]:5901"\n[[listen]]\nsystemd = "vnc"\n')
    result = vncd_command("check", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(
        '[[listen]]\ntcp = "[::1]:5901"\nunix = ""\nunix_mode = "0660"\nsystemd = ""\n'
        'mode = ""\ntls = true\n\n[[listen]]\ntcp = ""\nunix = ""\nunix_mode = "0660"\n'
        'systemd = "vnc"\nmode = ""\ntls = true\n'
    )


@pytest.mark.parametrize(
    ("host", "name", "listen", "error"),
    [
        (
            "127.0.0.1",
            "web",
            '[[listen]]\nsystemd = "vnc"\n',
            'listen[0].systemd = "vnc": systemd passed no such socket (it passed "web")',
        ),
        (
            "0.0.0.0",
            "vnc",
            "",
            'systemd socket "vnc" (0.0.0.0 port {port}) with no password: anyone who can reach '
            "this port could control the desktop, so vncd refuses to start",
        ),
    ],
)
async def test_activation_mistake_stops_with_status_2(
    tmp_path: Path, host: str, name: str, listen: str, error: str
) -> None:
    """systemd passed "web" where the config wants "vnc", or a socket on every address with
    no password: one line, exit status 2."""
    port = free_port()
    config = tmp_path / "vncd.toml"
    config.write_text(DEMO + listen)
    command = [*activation(port, name, host), sys.executable, "-m", "vncd", "run", str(config)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        with contextlib.suppress(OSError, trio.BrokenResourceError):
            await first_viewer_attempt(port)
        assert process.wait(30) == 2
        assert process.stderr is not None
        assert f"vncd: error: {error.format(port=port)}" in process.stderr.read()
    finally:
        process.kill()
        process.wait()


async def first_viewer_attempt(port: int) -> None:
    """Connect (which starts the activated command) and wait for the connection to end."""
    with trio.fail_after(30):
        while True:
            try:
                stream = await trio.open_tcp_stream("127.0.0.1", port)
                break
            except OSError:
                await trio.sleep(0.05)
        await receive_all(stream, 30)


# --- The systemd units -------------------------------------------------------------------------


def installed_units(directory: Path) -> None:
    """The units copied into ``directory`` with vncd at this checkout's venv (systemd-analyze
    checks that the command exists)."""
    vncd = Path(sys.executable).with_name("vncd")
    for unit in UNITS.iterdir():
        text = unit.read_text().replace("/opt/vncd/bin/vncd", str(vncd))
        (directory / unit.name).write_text(text)


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """`systemd-analyze verify` accepts the units (no warning either) and finds ExecStart's
    command; the service wants the socket and starts after it."""
    require_programs("systemd-analyze")
    assert sorted(unit.name for unit in UNITS.iterdir()) == [
        "vncd.service",
        "vncd.socket",
        "vncd@.service",
    ]
    installed_units(tmp_path)
    result = subprocess.run(
        ["systemd-analyze", "verify", "vncd.socket", "vncd.service", "vncd@0.service"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (0, "")
    service = (UNITS / "vncd.service").read_text()
    assert "\nRequires=vncd.socket\n" in service and "\nAfter=vncd.socket" in service
    assert "\nListenStream=5900\n" in (UNITS / "vncd.socket").read_text()


def test_service_command_checks_with_vncd(tmp_path: Path) -> None:
    """vncd.service's ExecStart, with `check` for `run` and a config here, is a valid
    `vncd check` (its program and arguments exist)."""
    [line] = re.findall(r"^ExecStart=(.*)$", (UNITS / "vncd.service").read_text(), re.M)
    program, command, config = shlex.split(line)
    assert (program, command, config) == ("/opt/vncd/bin/vncd", "run", "/etc/vncd/vncd.toml")
    (tmp_path / "vncd.toml").write_text(DEMO)
    vncd = str(Path(sys.executable).with_name("vncd"))
    result = subprocess.run([vncd, "check", str(tmp_path / "vncd.toml")], capture_output=True)
    assert result.returncode == 0, result.stderr


async def test_display_template_serves_display_n_on_port_5900_plus_n(tmp_path: Path) -> None:
    """vncd@N's ExecStart (its shell computes the port) serves X display :N on 5900 + N."""
    [line] = re.findall(r"^ExecStart=(.*)$", (UNITS / "vncd@.service").read_text(), re.M)
    [environment] = re.findall(r"^Environment=(.*)$", (UNITS / "vncd@.service").read_text(), re.M)
    with private_xvfb(320, 200) as display:
        number = display.lstrip(":")
        port = 5900 + int(number)
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as vncd binds
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                pytest.skip(f"port {port} (display {display}) is taken here")
        config = tmp_path / "vncd.toml"
        config.write_text("")
        vncd = str(Path(sys.executable).with_name("vncd"))
        command = (
            line.replace("%i", number)
            .replace("/opt/vncd/bin/vncd", vncd)
            .replace("/etc/vncd/vncd.toml", str(config))
        )
        variables = dict(pair.split("=", 1) for pair in environment.split())
        env = {
            **os.environ,
            **{key: value.replace("%i", number) for key, value in variables.items()},
        }
        env = {key: value for key, value in env.items() if "%" not in value}
        process = subprocess.Popen(shlex.split(command), env=env, stderr=subprocess.PIPE, text=True)
        try:
            viewer = await first_viewer(port)
            assert viewer.server_init is not None
            assert (viewer.server_init.width, viewer.server_init.height) == (320, 200)
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(15) == 0
