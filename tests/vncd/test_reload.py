"""Reloading (vncd.reload) a vncd serving on real sockets, through its control socket: what
applies to the next viewers, what the connected ones keep, what needs a restart."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import trio

from protocol import SecurityResult, ServerInit
from vncd.config import load_config, parse_config
from vncd.passwords import write_password_file
from vncd.reload import LIVE_KEYS, changed_keys
from vncd.server import serve

from .netharness import GREETING, receive_all
from .test_control import ask
from .viewer import Viewer


@attrs.frozen
class Served:
    port: int
    config: Path  # the file reload reads
    socket: Path

    async def viewer(self, password: str = "") -> tuple[Viewer, SecurityResult | ServerInit]:
        viewer = Viewer(await trio.open_tcp_stream("127.0.0.1", self.port))
        with trio.fail_after(10):
            return viewer, await viewer.handshake(password, security=2 if password else None)

    async def reload(self, text: str) -> dict:
        self.config.write_text(text)
        return await ask(self.socket, {"command": "reload"})

    async def clients(self) -> list[dict]:
        return (await ask(self.socket, {"command": "clients"}))["clients"]


@contextlib.asynccontextmanager
async def served(tmp_path: Path, text: str) -> AsyncIterator[Served]:
    """vncd started as `vncd run` starts it: from a file, which reload reads again (with
    the same options: a free port, a small demo desktop, a control socket)."""
    path = tmp_path / "vncd.toml"
    path.write_text(text)
    socket = tmp_path / "control.sock"
    options = {
        "server.port": 0,
        "source.kind": "demo",
        "source.geometry": "160x120",
        "security.rsa_key": str(tmp_path / "key.pem"),
        "control.socket": str(socket),
    }
    load = functools.partial(load_config, path, overrides=options)
    async with trio.open_nursery() as nursery:
        start = functools.partial(serve, load(), handle_signals=False, load=load)
        listeners = await nursery.start(start)
        yield Served(listeners[0].socket.getsockname()[1], path, socket)
        nursery.cancel_scope.cancel()


async def test_password_file_is_read_again(tmp_path: Path) -> None:
    passwords = tmp_path / "vncd.passwd"
    write_password_file(passwords, "first")
    text = '[server]\npassword_file = "vncd.passwd"\n'
    async with served(tmp_path, text) as server:
        before, init = await server.viewer("first")
        assert isinstance(init, ServerInit)
        write_password_file(passwords, "second")
        assert await server.reload(text) == {
            "ok": True,
            "applied": ["server.password_file"],
            "needs_restart": [],
        }
        _, result = await server.viewer("first")
        assert isinstance(result, SecurityResult) and not result.ok
        _, init = await server.viewer("second")
        assert isinstance(init, ServerInit)
        await before.full_update()


async def test_limits_and_viewer_policies_reach_the_next_viewers(tmp_path: Path) -> None:
    async with served(tmp_path, "[server]\nmax_connections = 1\n") as server:
        first, _ = await server.viewer()
        await first.full_update()
        refused = await trio.open_tcp_stream("127.0.0.1", server.port)
        await refused.send_all(GREETING)  # the same version as the server's
        assert b"too many connections" in await receive_all(refused)
        reply = await server.reload("[server]\nmax_connections = 2\n[viewers]\nview_only = true\n")
        assert reply["applied"] == ["server.max_connections", "viewers.view_only"]
        _, init = await server.viewer()
        assert isinstance(init, ServerInit)
        listed = await server.clients()
        assert [client["view_only"] for client in listed] == [False, True]


async def test_log_level_applies_at_once(tmp_path: Path) -> None:
    root = logging.getLogger()
    level = root.level
    try:
        async with served(tmp_path, "") as server:
            reply = await server.reload('[log]\nlevel = "error"\n')
            assert reply["applied"] == ["log.level"]
            assert root.level == logging.ERROR
    finally:
        root.setLevel(level)


async def test_what_a_shared_part_holds_needs_a_restart(tmp_path: Path) -> None:
    async with served(tmp_path, "") as server:
        reply = await server.reload(
            '[limits]\nmax_cut_text = 100\n[viewers]\ninput = "single-controller"\n'
            '[source]\nresize = "none"\n'
        )
    assert reply == {
        "ok": True,
        "applied": [],
        "needs_restart": ["source.resize", "limits.max_cut_text", "viewers.input"],
    }


def test_every_live_key_is_a_key() -> None:
    """LIVE_KEYS names keys that exist (a renamed key would silently need a restart)."""
    config = parse_config("", "x")
    every = {
        f"{section.name}.{key.name}"
        for section in attrs.fields(type(config))
        if attrs.has(type(getattr(config, section.name)))  # not [[listen]]'s tuple
        for key in attrs.fields(type(getattr(config, section.name)))
    }
    assert every >= LIVE_KEYS
    assert changed_keys(config, config) == []


async def test_every_live_key_applies_and_a_quiet_viewer_meets_the_new_deadline(
    tmp_path: Path,
) -> None:
    """The README's list of what a reload applies, changed at once; the handshake deadline
    shows on the next connection."""
    async with served(tmp_path, "") as server:
        reply = await server.reload(
            '[server]\npassword = "pw"\nview_only_password = "look"\nmax_connections = 9\n'
            "[limits]\nmax_encodings = 10\nhandshake_seconds = 1\nmax_unauthenticated = 9\n"
            "max_unauthenticated_per_address = 9\nauth_failures = 9\nauth_backoff_seconds = 9\n"
            "auth_backoff_max_seconds = 99\n"
            '[log]\nlevel = "info"\n'
            '[viewers]\nsharing = "refuse-new"\nidle_timeout_seconds = 9\n'
            "max_session_seconds = 9\nview_only = true\n"
        )
        assert reply["needs_restart"] == []
        assert sorted(reply["applied"]) == sorted(LIVE_KEYS - {"log.level", "server.password_file"})
        quiet = await trio.open_tcp_stream("127.0.0.1", server.port)
        started = trio.current_time()
        await quiet.send_all(GREETING)
        await receive_all(quiet, timeout=3)  # closed after 1 s, not the default 10
        assert trio.current_time() - started < 3


async def test_a_change_is_checked_with_what_keeps_running(tmp_path: Path) -> None:
    """No password is fine for a new host of 127.0.0.1, but the server listens on 0.0.0.0
    until restarted: refused, and the password stays."""
    async with served(tmp_path, '[server]\nhost = "0.0.0.0"\npassword = "pw"\n') as server:
        reply = await server.reload('[server]\nhost = "127.0.0.1"\n')
        assert reply["ok"] is False
        assert reply["error"].startswith(
            "reload failed, nothing changed: with what runs until a restart: "
            'server.host = "0.0.0.0" with no password: anyone who can reach this port'
        )
        _, result = await server.viewer("wrong")
        assert isinstance(result, SecurityResult) and not result.ok
