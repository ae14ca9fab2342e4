"""The web client and the desktop's keyboard and extra mouse buttons, with noVNC in Chromium
against vncd serving an Xvfb whose layout is German.

noVNC sends each key's scancode with its keysym (QEMU Extended Key Events) once vncd has
confirmed it reads them, so the key where a US keyboard has Y types "z" on the German desktop.
It keeps its own Caps Lock in step with the desktop's from the QEMU LED state it is sent: when
the desktop's Caps Lock is on and the browser's is not, noVNC taps Caps Lock before the next
key, so the key types a small letter; that is how the LED state is seen to have reached it
(noVNC keeps it in a private field and shows it nowhere). The page's RFB conversation is
recorded (``wire``) to show what went over the wire.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import Xlib.display
from Xlib import X

from protocol import Bell, QemuExtendedKeyEvent
from protocol.encodings import Encoding, LedState, led_state
from tests.interop.rfbtap import Recording
from tests.interop.vncd_process import x11_source
from tests.interop.xclients import typing_terminal, wait_for_line
from tests.requirements import require_programs
from tests.vncd._xvfb import wait_for
from vncd import keysyms

from .client import CANVAS, open_client, screen_point, wait_for_state
from .wire import record_rfb, recording

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

TIMEOUT = 10.0
CAPS_LOCK = 0x3A  # its XT scancode


def on(display: str, *command: str) -> None:
    subprocess.run(command, env={**os.environ, "DISPLAY": display}, check=True, timeout=TIMEOUT)


@pytest.fixture
def typed(xvfb: str, tmp_path: Path) -> Iterator[Path]:
    """The German layout, and an xterm whose input goes to the returned file; it keeps the
    keyboard focus wherever the pointer goes (the page moves it)."""
    require_programs("setxkbmap")
    on(xvfb, "setxkbmap", "de")
    path = tmp_path / "typed.txt"
    with typing_terminal(xvfb, path):
        time.sleep(1.5)
        on(xvfb, "xdotool", "search", "--class", "xterm", "windowfocus", "--sync")
        yield path


def connect(page: Page, vncd, xvfb: str) -> None:
    """Open the page on vncd serving ``xvfb``, recorded, and give the remote screen the
    keyboard once noVNC has been told vncd reads its extended keys and buttons (until then
    it sends plain key events, and no back or forward button)."""
    record_rfb(page)
    open_client(page, vncd(x11_source(xvfb)).url())
    wait_for_state(page, "connected")
    confirmations = {Encoding.QEMU_EXTENDED_KEY_EVENT, Encoding.EXTENDED_MOUSE_BUTTONS}
    wait_for_message(
        page,
        lambda record: confirmations <= {r.encoding for r in record.rectangles},
        "the confirmations of QEMU keys and ExtendedMouseButtons",
    )
    page.locator(CANVAS).focus()


def wait_for_message(page: Page, found, what: str) -> Recording:
    """Poll the recorded conversation until ``found(recording)``."""
    deadline = time.monotonic() + TIMEOUT
    while not found(record := recording(page)):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return record


def keys_sent(record: Recording) -> list[tuple[int, int]]:
    """(scancode, keysym) of every key the page pressed, in order."""
    return [
        (m.event.keycode, m.event.keysym)
        for m in record.messages
        if m.from_viewer and isinstance(m.event, QemuExtendedKeyEvent) and m.event.down
    ]


def test_keys_go_by_position_on_a_german_desktop(xvfb, vncd, page: Page, typed: Path):
    connect(page, vncd, xvfb)
    for key in ("KeyY", "KeyZ", "Slash", "BracketRight", "Backslash", "Enter"):
        page.keyboard.press(key)
    wait_for_line(typed, TIMEOUT)
    assert typed.read_text() == "zy-+#\n"
    assert [code for code, _ in keys_sent(recording(page))] == [
        0x15, 0x2C, 0x35, 0x1B, 0x2B, 0x1C
    ]  # fmt: skip


def test_caps_lock_led_reaches_the_page(xvfb, vncd, page: Page, typed: Path):
    connect(page, vncd, xvfb)
    on(xvfb, "xdotool", "key", "Caps_Lock")  # on the desktop, not in the browser

    def caps_lit(record: Recording) -> bool:
        leds = [r for r in record.rectangles if r.encoding == Encoding.QEMU_LED_STATE]
        return bool(leds) and led_state(leds[-1]) == LedState.CAPS_LOCK

    wait_for_message(page, caps_lit, "the Caps Lock LED state")
    page.keyboard.press("KeyA")  # the browser's Caps Lock is off: noVNC turns the desktop's off
    page.keyboard.press("Enter")
    wait_for_line(typed, TIMEOUT)
    assert typed.read_text() == "a\n"
    sent = keys_sent(recording(page))
    assert sent[:2] == [(CAPS_LOCK, keysyms.CAPS_LOCK), (0x1E, ord("a"))]


def test_the_bell_reaches_the_page(xvfb, vncd, page: Page):
    require_programs("xkbbell")
    connect(page, vncd, xvfb)
    on(xvfb, "xkbbell")
    wait_for_message(
        page,
        lambda record: any(isinstance(m.event, Bell) for m in record.messages),
        "the Bell message",
    )


def test_back_and_forward_buttons_reach_x(xvfb, vncd, page: Page):
    """Chromium's own input (DevTools' Input.dispatchMouseEvent) presses the mouse's back and
    forward buttons over the remote screen; X sees buttons 8 and 9."""
    connection = Xlib.display.Display(xvfb)
    window = connection.screen().root.create_window(
        0, 0, 1024, 768, 0, X.CopyFromParent,
        override_redirect=True, event_mask=X.ButtonPressMask | X.ButtonReleaseMask,
    )  # fmt: skip
    window.map()
    connection.sync()
    try:
        connect(page, vncd, xvfb)
        x, y = screen_point(page, 300, 200)
        devtools = page.context.new_cdp_session(page)
        for button, held in (("back", 8), ("forward", 16)):  # MouseEvent.buttons bits
            for kind, buttons in (("mousePressed", held), ("mouseReleased", 0)):
                devtools.send(
                    "Input.dispatchMouseEvent",
                    {"type": kind, "x": x, "y": y, "button": button, "buttons": buttons},
                )
        seen: list[tuple[int, int]] = []

        def four_events() -> bool:
            while connection.pending_events():
                event = connection.next_event()
                if event.type in (X.ButtonPress, X.ButtonRelease):
                    seen.append((event.type, event.detail))
            return len(seen) >= 4

        wait_for(four_events, "four button events", TIMEOUT)
        press, release = X.ButtonPress, X.ButtonRelease
        assert seen == [(press, 8), (release, 8), (press, 9), (release, 9)]
    finally:
        connection.close()
