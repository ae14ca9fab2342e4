"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, and `vncd run`
processes that can be stopped and started again on the same port (the page must reconnect)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.vncd._xvfb import private_xvfb

CHROMIUM = "/usr/bin/chromium"
# No sandbox: CI runs as root. The rest keeps a headless Chromium off the network and quiet.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WEB = Path(__file__).parents[2] / "web"
STARTUP_SECONDS = 20
#: vncd's log line for each listening socket (vncd/server.py).
LISTENING = re.compile(r"listening on 127\.0\.0\.1 port ([0-9]+)")

try:
    from playwright import sync_api
except ImportError:  # ./scripts/test installs it; the tests say so and skip
    sync_api = None


def missing_requirements() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if sync_api is None:
        return "playwright is not installed (./scripts/test installs it)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing (Debian package chromium)"
    if not (WEB / "node_modules/@novnc/novnc/core/rfb.js").is_file():
        return "noVNC is not installed: run `npm ci` in web/"
    tools = [tool for tool in ("xterm", "xdotool", "xclip", "openssl") if not shutil.which(tool)]
    return f"tools missing: {', '.join(tools)}" if tools else None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives the web client in headless Chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[sync_api.Browser]:
    """One Chromium for the whole run (each test gets a fresh context: no shared storage)."""
    if reason := missing_requirements():
        pytest.skip(reason)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def xvfb() -> Iterator[str]:
    """A private Xvfb of the interop tests' size (1024x768); yields its display name."""
    with private_xvfb(1024, 768) as display:
        yield display


@pytest.fixture
def page(browser: sync_api.Browser) -> Iterator[sync_api.Page]:
    """A page in a fresh context that accepts the tests' self-signed certificates. A script
    error on the page fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, ignore_https_errors=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"script errors on the page: {errors}"


class Vncd:
    """`python -m vncd run` with a config file, restartable on the same port.

    The first start asks for port 0 and reads the port from vncd's log: a port picked here
    could be taken by someone else before vncd binds it, and Chromium refuses some ports
    (6000, X11's) that a scan from 5900 up would find."""

    def __init__(self, directory: Path, config: str) -> None:
        self.directory = directory
        self.config = config
        self.port = 0
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        name = f"vncd-{self.port or 'new'}"
        config_path = self.directory / f"{name}.toml"
        config_path.write_text(f'[server]\nhost = "127.0.0.1"\nport = {self.port}\n{self.config}')
        log_path = self.directory / f"{name}.log"
        with log_path.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "vncd", "run", str(config_path), "--log-level", "debug"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while not (found := LISTENING.search(log_path.read_text())):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"vncd did not start; its log:\n{log_path.read_text()}")
            time.sleep(0.05)
        self.port = int(found[1])

    def stop(self) -> None:
        if self.process is None:
            return
        process, self.process = self.process, None
        process.terminate()
        try:
            assert process.wait(10) == 0, "vncd did not exit cleanly on SIGTERM"
        finally:
            process.kill()

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/"


@pytest.fixture
def vncd(tmp_path: Path) -> Iterator[Callable[[str], Vncd]]:
    """Start vncd with config text (after [server]'s host and port); stopped afterwards."""
    servers: list[Vncd] = []

    def start(config: str) -> Vncd:
        server = Vncd(tmp_path, config)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()
