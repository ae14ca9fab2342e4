"""Fixtures for interop tests: a private Xvfb, a running `vncd`, free ports."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.vncd._xvfb import private_xvfb

REQUIRED = ["Xvfb", "xwd", "xterm", "gvnccapture", "vncdo", "xdotool"]
missing = [tool for tool in REQUIRED if shutil.which(tool) is None]
if missing:  # the test script installs them; a bare `pytest` on a dev box may not have them
    pytest.skip(f"interop tools missing: {', '.join(missing)}", allow_module_level=True)

pytestmark = pytest.mark.interop


def free_vnc_port() -> int:
    """A free TCP port at or above 5900, so that display-number viewers can reach it."""
    for port in range(5990, 6400):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 5990..6399")


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"vncd exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
                connection.recv(12)
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"vncd did not listen on port {port}")


@pytest.fixture
def xvfb():
    """A private Xvfb (1024x768x24); yields its display name, e.g. ':7'."""
    with private_xvfb(1024, 768) as display:
        yield display


@contextlib.contextmanager
def vncd_launcher(directory: Path) -> Iterator[Callable[..., int]]:
    """A function that starts `python -m vncd run` with config text (files in ``directory``)
    and returns its port; every vncd it started is stopped when the block ends."""
    processes: list[subprocess.Popen] = []

    def start(config: str, env: dict[str, str] | None = None) -> int:
        port = free_vnc_port()
        path = directory / f"vncd-{len(processes)}.toml"
        path.write_text(f'[server]\nhost = "127.0.0.1"\nport = {port}\n{config}')
        log = open(directory / f"vncd-{len(processes)}.log", "w")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "vncd", "run", str(path), "--log-level", "debug"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        processes.append(process)
        wait_for_port(port, process)
        return port

    try:
        yield start
    finally:
        for process in processes:
            process.terminate()
            try:
                assert process.wait(10) == 0, "vncd did not exit cleanly on SIGTERM"
            finally:
                process.kill()


@pytest.fixture
def start_vncd(tmp_path: Path):
    """Start `python -m vncd run` with config text; returns the port. Stopped afterwards."""
    with vncd_launcher(tmp_path) as start:
        yield start
