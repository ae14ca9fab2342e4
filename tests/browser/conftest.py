"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, and `vncd run`
processes that can be stopped and started again on the same port (the page must reconnect).

Whatever they need and lack skips them on a developer's machine and fails them under CI
(tests.requirements.unavailable): CI installs everything, so a skip there would hide them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.interop.vncd_process import VncdProcess, vncd_launcher
from tests.requirements import unavailable, which
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

try:
    from playwright import sync_api
except ImportError:  # ./scripts/test installs it; the `browser_requirements` fixture says so
    sync_api = None


def missing_requirements() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if sync_api is None:
        return "playwright is not installed (./scripts/test installs it)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing (Debian package chromium)"
    if not (WEB / "node_modules/@novnc/novnc/core/rfb.js").is_file():
        return "noVNC is not installed: run `npm ci` in web/"
    tools = [tool for tool in ("Xvfb", "xwd", "xterm", "xdotool", "xclip") if not which(tool)]
    return f"tools missing: {', '.join(tools)}" if tools else None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives the web client in headless Chromium")


@pytest.fixture(scope="session")
def browser_requirements() -> None:
    """Skip (fail under CI) unless everything the browser tests use is installed. Every
    fixture that starts something depends on it, so the reason is always this one."""
    if reason := missing_requirements():
        unavailable(reason)


@pytest.fixture(scope="session")
def browser(browser_requirements: None) -> Iterator[sync_api.Browser]:
    """One Chromium for the whole run (each test gets a fresh context: no shared storage)."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def xvfb(browser_requirements: None) -> Iterator[str]:
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


@pytest.fixture
def vncd(tmp_path: Path) -> Iterator[Callable[[str], VncdProcess]]:
    """Start vncd with config text (after [server]'s host and port) on a port it picks;
    stopped afterwards."""
    with vncd_launcher(tmp_path) as start:
        yield start
