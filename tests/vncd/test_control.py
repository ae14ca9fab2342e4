"""The control socket (vncd.control) of a vncd serving on real sockets: listing and
disconnecting viewers, recording one, bad requests, and the socket file's own life."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import pytest
import trio

from vncd import control
from vncd.config import ConfigError
from vncd.groups import leaves

from .netharness import receive_all, rfb_handshake, running_vncd


async def ask(path: Path, request: dict) -> dict:
    """One request through the command line's client (a blocking socket, in a thread)."""
    return await trio.to_thread.run_sync(control.ask, path, request)


async def conversation(path: Path, data: bytes) -> list[dict]:
    """Send ``data`` on one connection and read reply lines until vncd closes it, or none
    has come for a second."""
    stream = await trio.open_unix_socket(str(path))
    async with stream:
        await stream.send_all(data)
        received = b""
        with trio.move_on_after(1):
            while chunk := await stream.receive_some(65536):
                received += chunk
    return [json.loads(line) for line in received.splitlines()]


def local_address(stream: trio.SocketStream) -> str:
    host, port = stream.socket.getsockname()[:2]
    return f"{host}:{port}"


async def test_clients_lists_viewers_and_disconnect_closes_only_that_one(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    async with running_vncd(control__socket=str(path)) as running:
        first = await rfb_handshake(await running.connect())
        second = await rfb_handshake(await running.connect())
        reply = await ask(path, {"command": "clients"})
        assert reply["ok"] is True
        listed = reply["clients"]
        assert [client["peer"] for client in listed] == [
            local_address(first.stream),
            local_address(second.stream),
        ]
        one = listed[0]
        assert one["transport"] == "tcp"
        assert one["security"] == "None"
        assert one["user"] == ""
        assert one["view_only"] is False
        assert one["bytes_sent"] > 0 and one["bytes_received"] > 0
        assert one["recording"] is False
        assert listed[1]["id"] > one["id"]

        reply = await ask(path, {"command": "disconnect", "id": one["id"]})
        assert reply == {"ok": True, "id": one["id"], "peer": one["peer"]}
        await receive_all(first.stream)  # vncd closes the connection
        await second.full_update()  # the other viewer is served on
        reply = await ask(path, {"command": "clients"})
        assert [client["id"] for client in reply["clients"]] == [listed[1]["id"]]
        reply = await ask(path, {"command": "disconnect", "id": one["id"]})
        assert reply == {"ok": False, "error": f"no viewer has id {one['id']}"}
        third = await rfb_handshake(await running.connect())  # ids are never reused
        reply = await ask(path, {"command": "clients"})
        assert [client["id"] for client in reply["clients"]][1] > listed[1]["id"]
        for viewer in (second, third):
            await viewer.stream.aclose()


async def test_a_command_that_fails_is_logged_and_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(session: object) -> dict:
        raise RuntimeError("a bug")

    monkeypatch.setattr(control, "describe", broken)
    path = tmp_path / "control.sock"
    async with running_vncd(control__socket=str(path)) as running:
        viewer = await rfb_handshake(await running.connect())
        reply = await ask(path, {"command": "clients"})
        assert reply == {"ok": False, "error": "clients failed: vncd logged why"}
        await viewer.full_update()  # served on
        assert (await ask(path, {"command": "status"}))["viewers"] == 1
        await viewer.stream.aclose()
    assert "control: clients failed" in caplog.text and "RuntimeError: a bug" in caplog.text


async def test_status_says_what_is_served_and_where(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    async with running_vncd(control__socket=str(path)) as running:
        viewer = await rfb_handshake(await running.connect())
        status = await ask(path, {"command": "status"})
        await viewer.stream.aclose()
    assert status["ok"] is True
    assert status["pid"] == os.getpid()
    assert status["source"] == {"kind": "demo", "name": "vncd demo", "size": [160, 120]}
    assert status["listeners"] == [f"127.0.0.1:{running.port}"]
    assert status["viewers"] == 1
    assert status["recording"] == {"directory": None, "all_sessions": False, "active": 0}
    assert status["control_socket"] == str(path)
    assert status["uptime_seconds"] >= 0
    assert status["version"]


async def test_bad_requests_get_one_error_line_each_and_vncd_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    async with running_vncd(control__socket=str(path)) as running:
        replies = await conversation(
            path,
            b"hello\n"
            b"\xff\xfe\n"
            b"[1, 2]\n"
            b'{"command": 7}\n'
            b'{"command": "shutdown"}\n'
            b'{"command": "disconnect"}\n'
            b'{"command": "disconnect", "id": "1"}\n'
            b'{"command": "record", "id": 12345, "action": "start"}\n'
            b"\n"  # blank lines are skipped
            b'{"command": "status"}\n',
        )
        assert [reply["ok"] for reply in replies] == [False] * 8 + [True]
        errors = [reply["error"] for reply in replies[:8]]
        assert errors[0].startswith("not JSON: ")
        assert errors[1].startswith("not JSON: ")
        assert errors[2] == errors[3]
        assert errors[2].startswith('a request is a JSON object with a "command"')
        assert errors[4] == (
            'unknown command "shutdown"; known: status, clients, disconnect, record, reload'
        )
        assert errors[5] == errors[6] == 'disconnect needs "id": a viewer\'s number (see clients)'
        assert errors[7] == "no viewer has id 12345"

        # A line longer than MAX_LINE: one error, and the connection is closed.
        replies = await conversation(path, b'{"command": "' + b"x" * control.MAX_LINE + b'"}\n')
        assert replies == [
            {"ok": False, "error": f"request line longer than {control.MAX_LINE} bytes; closing"}
        ]
        # Nothing of that touched the server: it still serves viewers and requests.
        viewer = await rfb_handshake(await running.connect())
        assert (await ask(path, {"command": "status"}))["viewers"] == 1
        await viewer.stream.aclose()


async def test_control_connections_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    async with running_vncd(control__socket=str(path)):
        held = [await trio.open_unix_socket(str(path)) for _ in range(control.MAX_CONNECTIONS)]
        for stream in held:  # each is being served once it has an answer
            await stream.send_all(b'{"command": "status"}\n')
            assert b'"ok": true' in await stream.receive_some(65536)
        replies = await conversation(path, b'{"command": "status"}\n')
        assert replies == [
            {
                "ok": False,
                "error": f"{control.MAX_CONNECTIONS} control connections are open already",
            }
        ]
        await held.pop().aclose()
        await trio.sleep(0.1)
        assert (await ask(path, {"command": "status"}))["ok"] is True
        for stream in held:
            await stream.aclose()


async def test_record_starts_and_stops_a_viewers_recording(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    async with running_vncd(
        control__socket=str(path), recording__directory=str(tmp_path)
    ) as running:
        viewer = await rfb_handshake(await running.connect())
        [client] = (await ask(path, {"command": "clients"}))["clients"]
        reply = await ask(path, {"command": "record", "id": client["id"], "action": "start"})
        assert reply == {"ok": True, "id": client["id"], "recording": True}
        for _ in range(10):  # the file opens with a whole picture that follows the start
            await viewer.full_update()
            [client] = (await ask(path, {"command": "clients"}))["clients"]
            if client["recording_file"]:
                break
        assert client["recording"] is True
        recording = Path(client["recording_file"])
        assert recording.parent == tmp_path
        reply = await ask(path, {"command": "record", "id": client["id"], "action": "stop"})
        assert reply == {"ok": True, "id": client["id"], "recording": False}
        reply = await ask(path, {"command": "record", "id": client["id"], "action": "pause"})
        assert reply == {"ok": False, "error": 'record needs "action": "start" or "stop"'}
    assert recording.read_bytes().startswith(b"FBS 001.000\n")


async def test_record_without_a_directory_says_why(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    async with running_vncd(control__socket=str(path)) as running:
        viewer = await rfb_handshake(await running.connect())
        [client] = (await ask(path, {"command": "clients"}))["clients"]
        reply = await ask(path, {"command": "record", "id": client["id"], "action": "start"})
        await viewer.stream.aclose()
    assert reply == {"ok": False, "error": "recording.directory is not set"}


async def test_reload_needs_a_configuration_file(tmp_path: Path) -> None:
    """A vncd given a Config (embedded, or these tests) has no file to read again."""
    path = tmp_path / "control.sock"
    async with running_vncd(control__socket=str(path)):
        reply = await ask(path, {"command": "reload"})
    assert reply == {"ok": False, "error": "this vncd was not started from a configuration file"}


# --- The socket file ------------------------------------------------------------------------


async def test_socket_is_private_made_in_a_private_directory_and_removed_on_exit(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run" / "control.sock"
    async with running_vncd(control__socket=str(path)):
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert stat.S_ISSOCK(path.stat().st_mode)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert sorted(os.listdir(path.parent)) == ["control.sock"]
    assert not path.exists()


async def test_a_stale_socket_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(str(path))  # left behind: nothing listens on it
    async with running_vncd(control__socket=str(path)):
        assert (await ask(path, {"command": "status"}))["ok"] is True


async def test_a_socket_that_cannot_be_made_stops_vncd(tmp_path: Path) -> None:
    """A live server's socket, another file, a directory others may write to: one line."""
    live = tmp_path / "live.sock"
    other = tmp_path / "file"
    other.write_text("not a socket")
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(live))
        listener.listen()
        for path, why in (
            (live, f"another server listens on {live}"),
            (other, f"{other} exists and is not a socket"),
            (shared / "c.sock", f"the directory {shared} belongs to another user or others"),
        ):
            with pytest.raises(BaseExceptionGroup) as raised:
                async with running_vncd(control__socket=str(path)):
                    pass
            [error] = leaves(raised.value)
            assert isinstance(error, ConfigError)
            [problem] = error.problems
            assert problem.startswith(f"control.socket = {json.dumps(str(path))}: {why}")
    assert other.read_text() == "not a socket"


async def test_default_socket_taken_leaves_a_second_vncd_without_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Two vncd on one machine: the second runs on, with a warning, and the first's socket
    stays the first's."""
    (tmp_path / "run").mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    path = tmp_path / "run" / "vncd" / "control.sock"
    assert control.default_socket_path() == path
    async with running_vncd() as first:
        async with running_vncd() as second:
            assert second.port != first.port
        status = await ask(path, {"command": "status"})
        assert status["listeners"] == [f"127.0.0.1:{first.port}"]
    assert f"no control socket: another server listens on {path}" in caplog.text
    assert not path.exists()


async def test_off_means_no_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "run").mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    async with running_vncd(control__socket="off"):
        assert not (tmp_path / "run" / "vncd").exists()
    assert control.socket_path("off") is None
    assert control.socket_path("/x/c.sock") == Path("/x/c.sock")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert control.default_socket_path() == Path(f"/tmp/vncd-{os.getuid()}/control.sock")
