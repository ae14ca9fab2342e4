"""The web client (web/, noVNC) in headless Chromium against a real `vncd run`: what the page
shows is what the X display shows, and keys, clicks and the clipboard get through."""

from __future__ import annotations

import re
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
from Xlib import X, display

from protocol.encodings import Encoding
from tests.interop.vncd_process import x11_source
from tests.interop.xclients import busy_desktop, typing_terminal, wait_for_line
from tests.interop.xpaint import paint_root, varied_scene
from tests.interop.xwd import xwd_root
from tests.protocol.roundtrip import psnr
from tests.requirements import unavailable
from tests.vncd.certificates import make_certificate, tls_config
from tests.vncd.xclipboard import clipboard_bytes, copied

from .client import (
    CANVAS,
    open_client,
    screen_pixels,
    screen_point,
    wait_for_pixels,
    wait_for_psnr,
    wait_for_state,
)
from .wire import JPEG, record_rfb, recording, sockets_opened, tight_compression

try:
    from playwright.sync_api import Page, expect
except ImportError:  # ./scripts/test installs it
    unavailable("playwright is not installed (./scripts/test installs it)")

pytestmark = pytest.mark.browser


DEMO = '[source]\nkind = "demo"\ngeometry = "640x480"\n'


def few_colour_scene() -> np.ndarray:
    """The interop tests' varied scene cut down to 8 colours.

    noVNC always asks for JPEG (it sends a quality level), so vncd's Tight sends photo-like
    areas as JPEG; with a small palette per area every pixel goes losslessly."""
    return np.where(varied_scene(1024, 768) >= 128, 255, 0).astype(np.uint8)


def assert_page_shows_the_desktop(
    page: Page, url: str, display_name: str, **params: str | int
) -> None:
    """Load the client from ``url`` (with URL ``params``): it connects back to where it came
    from (ws:// or wss://, websockify beside the page, or ``path``) and its canvas ends up equal to
    the display, pixel for pixel."""
    sockets: list[str] = []
    page.on("websocket", lambda socket: sockets.append(socket.url))
    open_client(page, url, quality=9, **params)
    wait_for_state(page, "connected")
    truth = xwd_root(display_name)
    assert len(np.unique(truth.reshape(-1, 3), axis=0)) >= 8
    np.testing.assert_array_equal(wait_for_pixels(page, truth), truth)
    # The path is relative to the page (a leading "/": from the root), the scheme ws or wss.
    page_url = urllib.parse.urljoin(url, urllib.parse.urlsplit(url).path)
    expected = urllib.parse.urljoin(page_url, str(params.get("path", "websockify")))
    assert sockets == [expected.replace("http", "ws", 1)]


def test_page_shows_the_desktop_pixel_exact(xvfb, vncd, page: Page):
    with busy_desktop(xvfb, few_colour_scene()):
        server = vncd(x11_source(xvfb))
        assert_page_shows_the_desktop(page, server.url(), xvfb)


def test_https_page_connects_over_wss(xvfb, vncd, page: Page, tmp_path: Path):
    certificate = make_certificate(tmp_path / "tls")
    with busy_desktop(xvfb, few_colour_scene()):
        server = vncd(x11_source(xvfb) + tls_config(certificate))
        assert_page_shows_the_desktop(page, server.url("https"), xvfb)


def test_photo_content_arrives_as_high_quality_jpeg(xvfb, vncd, page: Page):
    """noVNC's own encoding list (Tight first) at quality 9: the scene's noise block arrives as
    Tight rectangles of JPEG compression (read from the recorded stream), and what the page
    shows there is within 45 dB of the screen. Quality 9 is JPEG quality 100 at 4:4:4 (about
    52 dB here); level 7 gives about 35 dB, so the bound shows that the page's quality setting
    reached the server, and the recording that the bound was not met by lossless data."""
    paint_root(xvfb, varied_scene(1024, 768))
    # The lossless refresh off, so that the page keeps showing what it decoded of the JPEG.
    server = vncd(x11_source(xvfb) + "[encodings]\nlossless_refresh_ms = 0\n")
    record_rfb(page)
    open_client(page, server.url(), quality=9)
    wait_for_state(page, "connected")
    truth = xwd_root(xvfb)
    noise = np.zeros(truth.shape[:2], bool)
    noise[768 // 2 :, : 1024 // 3] = True  # varied_scene's random pixels: photo-like
    quality = wait_for_psnr(page, truth, 45)
    assert quality >= 45, f"PSNR {quality:.1f} dB"

    record = recording(page)
    assert Encoding.JPEG_QUALITY_LEVEL_9 in record.encoding_lists[-1]
    rectangles = record.pixel_rectangles()
    jpeg = [
        index
        for index, rectangle in enumerate(rectangles)
        if rectangle.encoding == Encoding.TIGHT and tight_compression(rectangle) == JPEG
    ]
    by_jpeg = np.isin(record.last_painter(1024, 768), jpeg)
    assert by_jpeg[noise].all(), f"{np.count_nonzero(~by_jpeg[noise])} noise pixels not JPEG"
    shown = screen_pixels(page)
    assert 45 <= psnr(shown[by_jpeg], truth[by_jpeg]) < float("inf")


def test_keys_reach_an_xterm_unless_view_only(xvfb, vncd, page: Page, tmp_path: Path):
    typed = tmp_path / "typed.txt"
    with typing_terminal(xvfb, typed):
        server = vncd(x11_source(xvfb))
        open_client(page, server.url())
        wait_for_state(page, "connected")
        deadline = time.monotonic() + 10
        while not typed.exists():  # until the shell in the xterm has started
            assert time.monotonic() < deadline, "the xterm did not start"
            time.sleep(0.1)
        # No window manager: keyboard focus follows the pointer, so point at the xterm.
        page.mouse.click(*screen_point(page, 100, 60))
        canvas = page.locator("#screen canvas")

        page.get_by_text("Settings", exact=True).click()
        page.get_by_label("View only").check()
        canvas.focus()
        page.keyboard.type("ignored")
        page.keyboard.press("Enter")
        page.get_by_label("View only").uncheck()
        canvas.focus()
        page.keyboard.type("Hello, VNC! 42")
        page.keyboard.press("Enter")

        wait_for_line(typed)
        assert typed.read_text() == "Hello, VNC! 42\n"


def test_clicks_reach_an_x_window(xvfb, vncd, page: Page):
    connection = display.Display(xvfb)
    try:
        screen = connection.screen()
        window = screen.root.create_window(
            200,
            150,
            300,
            200,
            0,
            screen.root_depth,
            background_pixel=screen.white_pixel,
            event_mask=X.ButtonPressMask,
        )
        window.map()
        connection.sync()
        server = vncd(x11_source(xvfb))
        open_client(page, server.url())
        wait_for_state(page, "connected")

        for offset, button in enumerate(("left", "middle", "right")):
            page.mouse.click(*screen_point(page, 250 + 40 * offset, 200 + offset), button=button)

        presses = []
        deadline = time.monotonic() + 10
        while len(presses) < 3 and time.monotonic() < deadline:
            while connection.pending_events():
                event = connection.next_event()
                if event.type == X.ButtonPress:
                    presses.append((event.detail, event.root_x, event.root_y))
            time.sleep(0.05)
        assert presses == [(1, 250, 200), (2, 290, 201), (3, 330, 202)]
    finally:
        connection.close()


def test_clipboard_both_ways(xvfb, vncd, page: Page):
    server = vncd(x11_source(xvfb))
    open_client(page, server.url())
    wait_for_state(page, "connected")
    page.get_by_text("Clipboard", exact=True).click()
    box = page.get_by_label("Remote clipboard")

    # Desktop → page: xclip owns CLIPBOARD until vncd takes it.
    with copied(xvfb, "xclip", "Grüße from the desktop\nline 2".encode()):
        expect(box).to_have_value("Grüße from the desktop\nline 2", timeout=10_000)

        # Page → desktop.
        box.fill("Señor, from the page")
        page.get_by_role("button", name="Send to remote").click()
        deadline = time.monotonic() + 10
        while True:
            text = clipboard_bytes(xvfb).decode()
            if text == "Señor, from the page" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert text == "Señor, from the page"


def test_password_prompt(vncd, page: Page):
    server = vncd(f'password = "s3cret"\n{DEMO}')
    open_client(page, server.url())
    wait_for_state(page, "credentials")
    password = page.get_by_label("Password for this desktop")
    expect(password).to_be_focused()

    password.fill("wrong")
    password.press("Enter")
    wait_for_state(page, "failed")
    expect(page.locator("#status")).to_contain_text("authentication failed")

    password.fill("s3cret")
    password.press("Enter")
    wait_for_state(page, "connected")
    expect(password).to_be_hidden()
    assert screen_pixels(page).shape == (480, 640, 3)


def test_password_in_the_url_connects_and_leaves_the_address_bar(vncd, page: Page):
    server = vncd(f'password = "s3cret"\n{DEMO}')
    open_client(page, server.url(), password="s3cret", quality=3)
    wait_for_state(page, "connected")
    assert "s3cret" not in page.url
    assert "quality=3" in page.url


def test_reconnects_backing_off_1_2_4_up_to_30_seconds(vncd, page: Page):
    """README: the page reconnects by itself after a drop, waiting 1, 2, 4, ... up to 30 s,
    and the Connect / Disconnect button overrides it. The page's timers run on Playwright's
    fake clock, advanced by hand, so each wait is checked to the millisecond: no attempt
    1 ms before it is due, one attempt when it is. Connection attempts are real."""
    server = vncd(DEMO)
    record_rfb(page)  # counts the page's WebSockets
    page.clock.install()
    open_client(page, server.url())
    wait_for_state(page, "connected")
    page.clock.pause_at(page.evaluate("Date.now()") + 1000)
    status = page.locator("#status-text")
    assert sockets_opened(page) == 1

    server.stop()
    for seconds in (1, 2, 4, 8, 16, 30, 30):
        attempts = sockets_opened(page)
        expect(status).to_have_text(re.compile(rf"Retrying in {seconds} s$"))
        page.clock.run_for(seconds * 1000 - 1)
        expect(status).to_have_text(re.compile(r"Retrying in 1 s$"))
        assert sockets_opened(page) == attempts, f"reconnected before {seconds} s"
        page.clock.run_for(1)
        assert sockets_opened(page) == attempts + 1, f"no reconnection after {seconds} s"

    # The server is back: the next attempt connects, and the next drop starts afresh at 1 s.
    expect(status).to_have_text(re.compile(r"Retrying in 30 s$"))
    server.start()
    page.clock.run_for(30_000)
    wait_for_state(page, "connected")
    server.stop()
    expect(status).to_have_text(re.compile(r"Retrying in 1 s$"))
    page.clock.run_for(1000)
    expect(status).to_have_text(re.compile(r"Retrying in 2 s$"))

    # The button does not wait.
    server.start()
    page.get_by_role("button", name="Reconnect now").click()
    wait_for_state(page, "connected")

    # Disconnecting stops reconnection for good; Connect connects again.
    page.get_by_role("button", name="Disconnect").click()
    wait_for_state(page, "disconnected")
    attempts = sockets_opened(page)
    page.clock.run_for(120_000)
    assert sockets_opened(page) == attempts
    page.get_by_role("button", name="Connect", exact=True).click()
    wait_for_state(page, "connected")


def test_settings_from_the_url_and_remembered(vncd, page: Page):
    server = vncd(DEMO)
    open_client(page, server.url(), quality=1, compression=8, scale=0, view_only=1)
    wait_for_state(page, "connected")
    page.get_by_text("Settings", exact=True).click()
    expect(page.get_by_label("Quality")).to_have_value("1")
    expect(page.get_by_label("Compression")).to_have_value("8")
    expect(page.get_by_label("Scale to fit")).not_to_be_checked()
    expect(page.get_by_label("View only")).to_be_checked()
    page.get_by_label("Compression").fill("5")
    page.get_by_label("Resize remote desktop").check()

    # What the user changed survives a reload; URL parameters apply to their visit only, and
    # an unusable one is ignored.
    open_client(page, server.url(), autoconnect=0, scale="maybe")
    wait_for_state(page, "disconnected")
    page.get_by_text("Settings", exact=True).click()
    expect(page.get_by_label("Quality")).to_have_value("6")
    expect(page.get_by_label("Compression")).to_have_value("5")
    expect(page.get_by_label("Resize remote desktop")).to_be_checked()
    expect(page.get_by_label("Scale to fit")).to_be_checked()
    expect(page.get_by_label("View only")).not_to_be_checked()

    # Escape closes the panel and gives the focus back to its button.
    page.get_by_label("Quality").focus()
    page.keyboard.press("Escape")
    expect(page.get_by_label("Quality")).to_be_hidden()
    expect(page.get_by_text("Settings", exact=True)).to_be_focused()


def remote_and_screen_sizes(page: Page) -> tuple[list[int], list[int]]:
    """(the remote framebuffer's size as the canvas holds it, the page area it may fill)."""
    return page.evaluate(
        f"""() => {{
            const canvas = document.querySelector({CANVAS!r});
            const screen = document.querySelector("#screen");
            return [[canvas.width, canvas.height], [screen.clientWidth, screen.clientHeight]];
        }}"""
    )


def wait_for_remote_size_to_fill_the_page(page: Page, timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (sizes := remote_and_screen_sizes(page))[0] != sizes[1]:
        assert time.monotonic() < deadline, f"remote size {sizes[0]}, page area {sizes[1]}"
        time.sleep(0.1)
    return sizes[0]


def test_remote_resize_makes_the_desktop_follow_the_window(vncd, page: Page):
    server = vncd(DEMO)
    open_client(page, server.url(), resize=1)
    wait_for_state(page, "connected")
    first = wait_for_remote_size_to_fill_the_page(page)
    assert first != [640, 480]
    page.set_viewport_size({"width": 900, "height": 700})
    second = wait_for_remote_size_to_fill_the_page(page)
    assert second != first
    # The demo desktop is redrawn at that size: its status bar is along the new bottom edge.
    pixels = screen_pixels(page)
    assert pixels.shape == (second[1], second[0], 3)
    # Title and status bars share a colour (28-pixel bars; JPEG may shift it slightly),
    # and the desktop shows just above the status bar.
    top, bottom, above = (pixels[row, :5].astype(int) for row in (2, -2, -33))
    assert np.abs(bottom - top).max() <= 4
    assert np.abs(above - top).max() > 10


@pytest.mark.parametrize(
    ("path", "socket_path"),
    [
        ("websockify", "/websockify"),
        ("/websockify", "/websockify"),
        ("//elsewhere.example/websockify", "/elsewhere.example/websockify"),
    ],
    ids=["beside-the-page", "from-the-root", "never-another-host"],
)
def test_the_websocket_path_is_relative_to_the_page(vncd, page: Page, path, socket_path):
    server = vncd(DEMO)
    sockets: list[str] = []
    page.on("websocket", lambda socket: sockets.append(socket.url))
    open_client(page, server.url(), path=path)
    page.wait_for_function("() => document.querySelector('#status').dataset.state !== ''")
    deadline = time.monotonic() + 10
    while not sockets and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert sockets[:1] == [f"ws://127.0.0.1:{server.port}{socket_path}"]
