"""The line each viewer's connection leaves when it ends (real sockets, real `serve`), the
json format, and `[log] file` written by the real `vncd run`."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import stat
import sys
import time
from pathlib import Path

import pytest
import trio

from protocol import (
    NEED_DATA,
    ClientConnection,
    ClientInit,
    ProtocolVersion,
    SecurityResult,
    SecurityTypeChosen,
)
from protocol.encodings import Encoding
from protocol.security.rsaaes import RsaAesType
from vncd.logs import FIELDS, JsonFormatter

from .netharness import running_vncd
from .test_cli import assert_clean_errors, free_port, start_vncd, vncd
from .test_metrics import websocket_viewer
from .userfiles import users_file
from .viewer import Viewer

FIELD_NAMES = (
    "event",
    "peer",
    "transport",
    "security",
    "user",
    "encodings",
    "duration_seconds",
    "bytes_sent",
    "bytes_received",
)


async def ended(caplog: pytest.LogCaptureFixture, count: int) -> list[logging.LogRecord]:
    """The first ``count`` "connection ended" records, once they are all logged."""
    with trio.fail_after(10):
        while True:
            records = [r for r in caplog.records if "connection ended" in r.getMessage()]
            if len(records) >= count:
                return records[:count]
            await trio.sleep(0.02)


async def test_a_connection_leaves_one_line_with_its_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="vncd")
    async with running_vncd(server__password="secret") as running:
        stream = await running.connect()
        viewer = Viewer(stream)
        with trio.fail_after(10):
            await viewer.handshake("secret", encodings=(Encoding.ZRLE, Encoding.RAW, -239))
            await viewer.full_update()
            await trio.sleep(0.2)
        host, port = stream.socket.getsockname()[:2]
        await stream.aclose()
        [record] = await ended(caplog, 1)
    fields = getattr(record, FIELDS)
    assert tuple(fields) == FIELD_NAMES
    counted = viewer.conn.statistics()
    assert fields == {
        "event": "connection ended",
        "peer": f"{host}:{port}",
        "transport": "tcp",
        "security": "VncAuth",
        "user": "",
        "encodings": ["zrle", "raw", "cursor"],
        "duration_seconds": fields["duration_seconds"],
        "bytes_sent": counted.bytes_received,
        "bytes_received": counted.bytes_sent,
    }
    assert 0.2 <= fields["duration_seconds"] < 10
    assert record.name == "vncd.session" and record.levelname == "INFO"
    assert re.fullmatch(
        rf"{host}:{port}: connection ended: transport=tcp security=VncAuth "
        rf"encodings=zrle,raw,cursor duration=[0-9]+\.[0-9]{{3}}s "
        rf"sent={counted.bytes_received} received={counted.bytes_sent}",
        record.getMessage(),
    )


async def test_websocket_refused_and_named_users_are_told_apart(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """A WebSocket viewer, a wrong password (not admitted: no security type) and a user
    logged in by name over RSA-AES."""
    caplog.set_level(logging.INFO, logger="vncd")
    users = users_file(tmp_path / "users", {"anne": "pw"})
    settings = {"security__users_file": str(users), "security__rsa_key": str(tmp_path / "k")}
    async with running_vncd(**settings) as running:
        with trio.fail_after(10):
            async with websocket_viewer(running) as browser:
                await browser.handshake("pw", security=RsaAesType.RA2NE, user="anne")
                await browser.full_update()
            wrong = Viewer(await running.connect())
            result = await wrong.handshake("nope", security=RsaAesType.RA2NE, user="anne")
            assert isinstance(result, SecurityResult) and not result.ok
            records = await ended(caplog, 2)
    refused, admitted = sorted(records, key=lambda record: getattr(record, FIELDS)["security"])
    assert [
        (fields["transport"], fields["security"], fields["user"])
        for fields in (getattr(refused, FIELDS), getattr(admitted, FIELDS))
    ] == [("tcp", "", ""), ("websocket", "RA2ne", "anne")]
    assert " transport=tcp security=- encodings=- " in refused.getMessage()
    assert " transport=websocket security=RA2ne user=anne encodings=raw " in admitted.getMessage()


def test_json_format_has_the_fields_as_keys() -> None:
    record = logging.LogRecord("vncd.session", logging.INFO, "x.py", 1, "a %s", ("b",), None)
    setattr(record, FIELDS, {"peer": "127.0.0.1:1", "encodings": ["raw"]})
    entry = json.loads(JsonFormatter().format(record))
    assert entry == {
        "time": entry["time"],
        "level": "INFO",
        "logger": "vncd.session",
        "message": "a b",
        "peer": "127.0.0.1:1",
        "encodings": ["raw"],
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", entry["time"])
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.LogRecord("vncd", logging.ERROR, "x.py", 1, "oops", (), sys.exc_info())
    entry = json.loads(JsonFormatter().format(failed))
    assert entry["message"] == "oops"
    assert "ValueError: boom" in entry["exception"]


def rfb_visit(port: int) -> None:
    """A viewer that connects with no password, is admitted and leaves (blocking socket)."""
    conn = ClientConnection()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:

        def next_event():
            while (event := conn.next_event()) is NEED_DATA:
                conn.receive_data(sock.recv(65536))
            return event

        next_event()
        sock.sendall(conn.send(ProtocolVersion(3, 8)))
        next_event()
        sock.sendall(conn.send(SecurityTypeChosen(1)))
        assert next_event().ok
        sock.sendall(conn.send(ClientInit(shared=True)))
        next_event()  # ServerInit


def json_lines(path: Path, until: str, count: int) -> list[dict]:
    """The file's lines as JSON objects, once ``count`` of their messages contain ``until``."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if path.exists():
            lines = [json.loads(line) for line in path.read_text().splitlines()]
            if sum(until in entry["message"] for entry in lines) >= count:
                return lines
        time.sleep(0.05)
    raise AssertionError(f"no {until!r} in {path}")


def test_run_appends_json_lines_to_the_log_file(tmp_path: Path) -> None:
    """`[log] file` (relative to the config file) is created with mode 0640 and appended to
    by the next run; `format = "json"` makes every line an object."""
    (tmp_path / "etc").mkdir()
    config = tmp_path / "etc" / "vncd.toml"
    config.write_text('[log]\nformat = "json"\nfile = "vncd.log"\n')
    log_file = tmp_path / "etc" / "vncd.log"
    for run in range(2):
        port = free_port()
        server = start_vncd(str(config), "--source", "demo", "--port", str(port), cwd=tmp_path)
        try:
            json_lines(log_file, "listening on", run + 1)
            rfb_visit(port)
            json_lines(log_file, "connection ended", run + 1)
            server.send_signal(signal.SIGINT)
            _, stderr = server.communicate(timeout=30)
        finally:
            server.kill()
        assert server.returncode == 0, stderr
        assert stderr == ""  # everything went to the file
        entries = json_lines(log_file, "stopped", run + 1)
        assert stat.S_IMODE(os.stat(log_file).st_mode) == 0o640
        visits = [entry for entry in entries if entry.get("event") == "connection ended"]
        assert len(visits) == run + 1  # the first run's lines are still there
        assert visits[-1]["transport"] == "tcp" and visits[-1]["security"] == "None"
        assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)


def test_a_log_file_in_no_directory_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "vncd.toml"
    config.write_text('[log]\nfile = "missing/vncd.log"\n')
    [line] = assert_clean_errors(vncd("check", str(config)), 1)
    missing = json.dumps(str(tmp_path / "missing" / "vncd.log"))
    assert line == (
        f"vncd: error: {config}: log.file = {missing}: its directory does not exist "
        "(a file to append to is needed)"
    )
