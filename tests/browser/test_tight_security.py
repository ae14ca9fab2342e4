"""noVNC in Chromium with Tight security (type 16): the page with VNC authentication inside
Tight, and noVNC's own RFB object with Unix login, whose user name and password it asks for
through its credentialsrequired event. The page's own bytes show what it chose."""

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
PASSWORD = "s3cret"

_SENT = """() => window.__vncdWire.log
    .filter(([sent]) => sent)
    .map(([, bytes]) => btoa(String.fromCharCode(...bytes)))"""

#: noVNC's RFB object on a fresh element of the page, connected to vncd, answering its
#: credentialsrequired event with the given user name and password. Resolves with what
#: happened: the credential types asked for, and "connect" or the security failure.
_LOGIN = """async ([username, password]) => {
    const { default: RFB } = await import("./node_modules/@novnc/novnc/core/rfb.js");
    const target = document.createElement("div");
    document.body.appendChild(target);
    const rfb = new RFB(target, `ws://${location.host}/websockify`);
    const asked = [];
    return await new Promise((resolve) => {
        rfb.addEventListener("credentialsrequired", (event) => {
            asked.push(...event.detail.types);
            rfb.sendCredentials({ username, password });
        });
        rfb.addEventListener("connect", () => {
            const canvas = target.querySelector("canvas");
            resolve({ asked, outcome: "connect", size: [canvas.width, canvas.height] });
        });
        rfb.addEventListener("securityfailure", (event) =>
            resolve({ asked, outcome: "securityfailure", reason: event.detail.reason }));
        rfb.addEventListener("disconnect", () => resolve({ asked, outcome: "disconnect" }));
    });
}"""


def config(tmp_path: Path, *, password: bool) -> str:
    text = f'password = "{PASSWORD}"\n' if password else ""
    users = users_file(tmp_path / "users", {"anne": "annes-pw"})
    return text + f'[security]\ntypes = ["Tight"]\nusers_file = "{users}"\n{DEMO}'


def sent_by_page(page: Page) -> list[bytes]:
    return [base64.b64decode(data) for data in page.evaluate(_SENT)]


def test_page_connects_with_tight_and_vnc_auth(vncd, page: Page, tmp_path: Path):
    """Unix login and VNC authentication are offered: noVNC prefers VNC authentication."""
    server = vncd(config(tmp_path, password=True))
    record_rfb(page)
    open_client(page, server.url())
    wait_for_state(page, "credentials")
    field = page.get_by_label("Password for this desktop")
    field.fill(PASSWORD)
    field.press("Enter")
    wait_for_state(page, "connected")
    assert screen_pixels(page).shape == (480, 640, 3)
    sent = sent_by_page(page)
    assert sent[1] == b"\x10"  # after its ProtocolVersion: SecurityTypeChosen(Tight)
    assert sent[2] == b"\0\0\0\x02"  # Tight's authentication: VNC authentication


def test_page_wrong_password_is_refused_with_the_reason(vncd, page: Page, tmp_path: Path):
    server = vncd(config(tmp_path, password=True))
    open_client(page, server.url(), password="wrong")
    wait_for_state(page, "failed")
    expect(page.locator("#status")).to_contain_text("authentication failed")


def test_novnc_logs_in_with_a_user_name(vncd, page: Page, tmp_path: Path):
    server = vncd(config(tmp_path, password=False))
    record_rfb(page)
    open_client(page, server.url(), autoconnect="false")
    result = page.evaluate(_LOGIN, ["anne", "annes-pw"])
    assert result == {"asked": ["username", "password"], "outcome": "connect", "size": [640, 480]}
    sent = sent_by_page(page)
    assert sent[1:3] == [b"\x10", b"\0\0\0\x81"]  # Tight, then Unix login
    # U32 user length, U32 password length, the two strings.
    assert sent[3] == b"\0\0\0\x04\0\0\0\x08anneannes-pw"


@pytest.mark.parametrize(("user", "password"), [("anne", "wrong"), ("bob", "annes-pw")])
def test_novnc_wrong_user_or_password_is_refused(
    vncd, page: Page, tmp_path: Path, user: str, password: str
):
    server = vncd(config(tmp_path, password=False))
    open_client(page, server.url(), autoconnect="false")
    result = page.evaluate(_LOGIN, [user, password])
    assert result["outcome"] == "securityfailure", result
    assert result["reason"] == "authentication failed"
