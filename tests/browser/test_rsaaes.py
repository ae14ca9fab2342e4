"""noVNC in Chromium speaks RSA-AES (RA2ne, type 6) with vncd: the page's own bytes show the
type it chose and that no password crossed the wire in the clear."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.requirements import unavailable
from tests.vncd.userfiles import users_file

from .client import open_client, screen_pixels, wait_for_state
from .wire import record_rfb

try:
    from playwright.sync_api import Page, expect
except ImportError:  # ./scripts/test installs it
    unavailable("playwright is not installed (./scripts/test installs it)")

pytestmark = pytest.mark.browser

DEMO = '[source]\nkind = "demo"\ngeometry = "640x480"\n'
PASSWORD = "correct horse"  # longer than VNC authentication's 8 characters: RA2ne keeps it whole

_SENT = """() => window.__vncdWire.log
    .filter(([sent]) => sent)
    .map(([, bytes]) => btoa(String.fromCharCode(...bytes)))"""


def config(tmp_path: Path) -> str:
    return f'password = "{PASSWORD}"\n[security]\nrsa_key = "{tmp_path / "key.pem"}"\n{DEMO}'


def sent_by_page(page: Page) -> list[bytes]:
    return [base64.b64decode(data) for data in page.evaluate(_SENT)]


def test_novnc_connects_with_ra2ne(vncd, page: Page, tmp_path: Path):
    server = vncd(config(tmp_path))
    record_rfb(page)
    open_client(page, server.url())
    wait_for_state(page, "credentials")
    password = page.get_by_label("Password for this desktop")
    password.fill(PASSWORD)
    password.press("Enter")
    wait_for_state(page, "connected")
    assert screen_pixels(page).shape == (480, 640, 3)
    sent = sent_by_page(page)
    assert sent[1] == b"\x06"  # after its ProtocolVersion: SecurityTypeChosen(RA2ne)
    assert sent[2][:4] == (2048).to_bytes(4, "big")  # noVNC's own public key
    assert not any(PASSWORD.encode() in message for message in sent)


def test_novnc_wrong_password_is_refused_with_the_reason(vncd, page: Page, tmp_path: Path):
    server = vncd(config(tmp_path))
    record_rfb(page)
    open_client(page, server.url(), password=PASSWORD[:8])  # VNC auth would accept this
    wait_for_state(page, "failed")
    expect(page.locator("#status")).to_contain_text("authentication failed")
    assert sent_by_page(page)[1] == b"\x06"


def users_config(tmp_path: Path) -> str:
    users = users_file(tmp_path / "users", {"anne": "annes pw"})
    return f'[security]\nrsa_key = "{tmp_path / "key.pem"}"\nusers_file = "{users}"\n{DEMO}'


def log_in(page: Page, user: str, password: str) -> None:
    """The page asks for a user name as well as the password, and sends both."""
    wait_for_state(page, "credentials")
    expect(page.locator("#status")).to_contain_text("asks for a user name and password")
    page.get_by_label("User name").fill(user)
    password_field = page.get_by_label("Password for this desktop")
    password_field.fill(password)
    password_field.press("Enter")


def test_with_a_users_file_the_page_asks_for_a_name(vncd, page: Page, tmp_path: Path):
    server = vncd(users_config(tmp_path))
    record_rfb(page)
    open_client(page, server.url())
    log_in(page, "anne", "annes pw")
    wait_for_state(page, "connected")
    assert screen_pixels(page).shape == (480, 640, 3)
    sent = sent_by_page(page)
    assert sent[1] == b"\x06"  # RA2ne, now in its user-and-password mode
    assert not any(b"annes pw" in message for message in sent)


def test_a_wrong_name_is_refused_and_asked_again(vncd, page: Page, tmp_path: Path):
    server = vncd(users_config(tmp_path))
    open_client(page, server.url())
    log_in(page, "bob", "annes pw")
    wait_for_state(page, "failed")
    expect(page.locator("#status")).to_contain_text("authentication failed")
    expect(page.get_by_label("User name")).to_be_visible()
