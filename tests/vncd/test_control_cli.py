"""`vncd status|clients|disconnect|record|reload` and SIGHUP against a real `vncd run` in a
subprocess (tests/interop/vncd_process.py), over real sockets."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio

from protocol import SecurityResult, ServerInit
from tests.interop.vncd_process import VncdProcess, vncd_launcher

from ._xvfb import wait_for
from .test_cli import vncd
from .viewer import Viewer

Start = Callable[[str], VncdProcess]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    with vncd_launcher(tmp_path) as launch:
        yield launch


def settings(tmp_path: Path, password: str = "first") -> str:
    """The config after [server]'s host and port: a password, a small demo desktop, the
    RSA-AES key and the control socket in ``tmp_path``."""
    return (
        f'password = "{password}"\n'
        '[source]\nkind = "demo"\ngeometry = "160x120"\n'
        f'[security]\nrsa_key = "{tmp_path / "key.pem"}"\n'
        f'[control]\nsocket = "{tmp_path / "control.sock"}"\n'
    )


def edit(server: VncdProcess, old: str, new: str) -> None:
    """Change the running server's config file."""
    path = server.path.with_suffix(".toml")
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def config_of(server: VncdProcess) -> str:
    return str(server.path.with_suffix(".toml"))


async def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return await trio.to_thread.run_sync(lambda: vncd(*args))


async def log_says(server: VncdProcess, text: str) -> None:
    assert server.log_path is not None
    log = server.log_path
    await trio.to_thread.run_sync(wait_for, lambda: text in log.read_text(), repr(text))


async def connect(port: int, password: str) -> tuple[Viewer, SecurityResult | ServerInit]:
    viewer = Viewer(await trio.open_tcp_stream("127.0.0.1", port))
    with trio.fail_after(10):
        return viewer, await viewer.handshake(password, security=2)


async def test_sighup_changes_the_password_for_the_next_viewer(
    start: Start, tmp_path: Path
) -> None:
    server = await trio.to_thread.run_sync(start, settings(tmp_path, "first"))
    connected, init = await connect(server.port, "first")
    assert isinstance(init, ServerInit)
    edit(server, 'password = "first"', 'password = "second"')
    assert server.process is not None
    server.process.send_signal(signal.SIGHUP)
    # Only the password: the command line's --log-level debug still overrides the file's.
    await log_says(server, "INFO vncd.reload: reloaded the configuration: server.password\n")
    refused, result = await connect(server.port, "first")
    assert isinstance(result, SecurityResult) and not result.ok
    admitted, init = await connect(server.port, "second")
    assert isinstance(init, ServerInit)
    await connected.full_update()  # admitted before the reload: still served
    for viewer in (connected, refused, admitted):
        await viewer.stream.aclose()


async def test_reload_names_what_needs_a_restart(start: Start, tmp_path: Path) -> None:
    server = await trio.to_thread.run_sync(start, settings(tmp_path))
    edit(server, "port = 0\n", "port = 5999\n")
    edit(server, "[control]", "[viewers]\nidle_timeout_seconds = 60\n[control]")
    result = await cli("reload", "--config", config_of(server))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "reloaded: viewers.idle_timeout_seconds\nneeds a restart: server.port\n"
    )
    await log_says(server, "WARNING vncd.reload: changed, but only a restart applies: server.port")
    # The port stays as it is: vncd still listens where it started.
    viewer, init = await connect(server.port, "first")
    assert isinstance(init, ServerInit)
    await viewer.stream.aclose()
    # The same change is still pending at the next reload; the applied one is not news.
    result = await cli("reload", "--socket", str(tmp_path / "control.sock"))
    assert result.stdout == "reloaded: nothing changed\nneeds a restart: server.port\n"


async def test_a_bad_file_changes_nothing(start: Start, tmp_path: Path) -> None:
    server = await trio.to_thread.run_sync(start, settings(tmp_path, "first"))
    edit(server, 'password = "first"', 'password = "second"\nmax_connections = 0')
    problem = f"{config_of(server)}: server.max_connections = 0: must be an integer 1..1000"
    result = await cli("reload", "--socket", str(tmp_path / "control.sock"))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"vncd: error: reload failed, nothing changed: {problem}\n"
    # Found through that file, the socket is not reached: the file's mistake is the answer.
    result = await cli("reload", "--config", config_of(server))
    assert (result.returncode, result.stderr) == (2, f"vncd: error: {problem}\n")
    assert server.process is not None
    server.process.send_signal(signal.SIGHUP)  # the same by signal: logged, and vncd runs on
    await log_says(server, "ERROR vncd.reload: reload failed, nothing changed: ")
    viewer, init = await connect(server.port, "first")
    assert isinstance(init, ServerInit)
    await viewer.stream.aclose()


async def test_status_clients_and_disconnect(start: Start, tmp_path: Path) -> None:
    server = await trio.to_thread.run_sync(start, settings(tmp_path))
    config = config_of(server)
    result = await cli("status", "--config", config)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"vncd \S+, pid [0-9]+, up 0m 0[0-9]s", lines[0]), lines[0]
    assert lines[1:] == [
        'source: demo "vncd demo" 160x120',
        f"listening: 127.0.0.1:{server.port}",
        "viewers: 0",
        "recording: off (no recording.directory)",
        f"control socket: {tmp_path / 'control.sock'}",
    ]
    result = await cli("clients", "--config", config)
    assert (result.returncode, result.stdout) == (0, "no viewers\n")

    viewer, _ = await connect(server.port, "first")
    await viewer.full_update()
    host, port = viewer.stream.socket.getsockname()[:2]
    result = await cli("clients", "--config", config)
    header, row = result.stdout.splitlines()
    assert header.split() == [
        "ID", "PEER", "TRANSPORT", "SECURITY", "USER", "ACCESS", "SINCE", "SENT", "RECEIVED"
    ]  # fmt: skip
    number, peer, transport, security, user, access, since, sent, received = row.split()
    assert (peer, transport, security, user, access) == (
        f"{host}:{port}",
        "tcp",
        "VncAuth",
        "-",
        "full",
    )
    assert re.fullmatch(r"20[0-9-]+T[0-9:]+\+00:00", since)
    assert int(sent) > 0 and int(received) > 0
    result = await cli("clients", "--json", "--config", config)
    [client] = json.loads(result.stdout)["clients"]
    assert client["id"] == int(number) and client["peer"] == peer

    result = await cli("disconnect", number, "--config", config)
    assert (result.returncode, result.stdout) == (0, f"disconnected viewer {number} ({peer})\n")
    with trio.fail_after(5):
        while await viewer.stream.receive_some(65536):
            pass  # until vncd closes it
    result = await cli("disconnect", number, "--config", config)
    assert result.returncode == 1
    assert result.stderr == f"vncd: error: no viewer has id {number}\n"
    result = await cli("status", "--json", "--socket", str(tmp_path / "control.sock"))
    assert json.loads(result.stdout)["viewers"] == 0
    result = await cli("record", number, "start", "--config", config)
    assert (result.returncode, result.stderr) == (1, f"vncd: error: no viewer has id {number}\n")
    await trio.to_thread.run_sync(server.stop)
    assert not (tmp_path / "control.sock").exists()  # removed when vncd stops


async def test_record_through_the_command_line(start: Start, tmp_path: Path) -> None:
    server = await trio.to_thread.run_sync(
        start, settings(tmp_path) + f'[recording]\ndirectory = "{tmp_path}"\n'
    )
    viewer, _ = await connect(server.port, "first")
    await viewer.full_update()
    [client] = (await ask_json(tmp_path, "clients"))["clients"]
    number = str(client["id"])
    result = await cli("record", number, "start", "--config", config_of(server))
    assert (result.returncode, result.stdout) == (0, f"viewer {number}: recording on\n")
    for _ in range(10):  # the file opens with a whole picture that follows the start
        await viewer.full_update()
        if (await ask_json(tmp_path, "clients"))["clients"][0]["recording_file"]:
            break
    result = await cli("record", number, "stop", "--config", config_of(server))
    assert (result.returncode, result.stdout) == (0, f"viewer {number}: recording off\n")
    assert list(tmp_path.glob("*.fbs"))
    await viewer.stream.aclose()


async def ask_json(tmp_path: Path, command: str) -> dict:
    result = await cli(command, "--json", "--socket", str(tmp_path / "control.sock"))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def test_a_named_socket_that_cannot_be_made_stops_vncd_run(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("")
    config = tmp_path / "vncd.toml"
    config.write_text(
        f'[server]\nport = 0\n[source]\nkind = "demo"\n[control]\nsocket = "{taken}"\n'
    )
    result = await cli("run", str(config))
    assert result.returncode == 1
    assert result.stderr.endswith(
        f'vncd: error: control.socket = "{taken}": {taken} exists and is not a socket\n'
    )


async def test_not_running_is_one_line_and_exit_status_1(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    for command in (("status",), ("clients",), ("disconnect", "1"), ("reload",)):
        result = await cli(*command, "--socket", str(path))
        assert result.returncode == 1
        assert result.stdout == ""
        assert result.stderr == f"vncd: error: vncd is not running (nothing listens on {path})\n"
    # Without --config, etc/vncd.toml in the working directory names the socket, as for run.
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "vncd.toml").write_text('[control]\nsocket = "off"\n')
    result = await trio.to_thread.run_sync(lambda: vncd("status", cwd=tmp_path))
    assert result.returncode == 1
    assert result.stderr == (
        'vncd: error: the control socket is off ([control] socket = "off"); --socket names one\n'
    )
