"""Keys by position, lock-key LEDs, the bell and back/forward buttons between real viewers and
a real Xvfb whose keyboard layout is German.

A viewer that sends QEMU Extended Key Events names each key by its XT scancode; vncd presses
that key, so the desktop's layout decides what it types: the key labelled Y on the viewer's US
keyboard types "z" on the German desktop, as it would on a German PC. TigerVNC's viewer sends
them (its own display here has the US layout), and so does a client built on ``protocol``,
which also checks the LED state, the Bell and the extended buttons as they arrive. What was
typed is read from an xterm's input; an RFB tap shows what went over the wire.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
import Xlib.display
from Xlib import XK, X

from protocol import Bell, FramebufferUpdate, PointerEvent, QemuExtendedKeyEvent
from protocol.encodings import Encoding, LedState, led_state
from tests.requirements import require_programs
from tests.vncd._xvfb import wait_for
from tests.vncd.viewer import Viewer
from vncd import keysyms
from vncd.sources.x11_xkb import XkbWatcher

from .rfbtap import RfbTap, rfb_tap
from .tigervnc import tigervnc_viewer
from .vncd_process import VNC_DISPLAY_PORTS, VncdProcess, vncd_launcher, x11_source
from .xclients import typing_terminal, wait_for_line

pytestmark = pytest.mark.interop

TIMEOUT = 15.0
SIZE = (1024, 768)  # the interop Xvfb's
#: (XT scancode, the keysym a US viewer sends with it, what the German desktop types).
KEYS = [
    (0x15, "y", "z"),
    (0x2C, "z", "y"),
    (0x35, "slash", "-"),
    (0x1B, "bracketright", "+"),
    (0x2B, "backslash", "#"),
]
SHIFT, KP_ENTER = 0x2A, 0x9C


def on(display: str, *command: str) -> None:
    subprocess.run(command, env={**os.environ, "DISPLAY": display}, check=True, timeout=TIMEOUT)


@pytest.fixture
def german(xvfb: str, tmp_path: Path) -> Iterator[tuple[VncdProcess, Path]]:
    """The interop Xvfb with the German layout and an xterm whose input goes to a file,
    served by vncd. The xterm has the keyboard focus whatever the pointer does (viewers move
    it; with no window manager the focus would follow it)."""
    require_programs("setxkbmap")
    on(xvfb, "setxkbmap", "de")
    typed = tmp_path / "typed.txt"
    with typing_terminal(xvfb, typed), vncd_launcher(tmp_path) as start:
        time.sleep(1.5)
        on(xvfb, "xdotool", "search", "--class", "xterm", "windowfocus", "--sync")
        yield start(x11_source(xvfb), VNC_DISPLAY_PORTS), typed


def confirmed(tap: RfbTap) -> bool:
    """Whether vncd has confirmed QEMU Extended Key Events to the tapped viewer."""
    rectangles = tap.recordings[0].rectangles if tap.recordings else []
    return any(r.encoding == Encoding.QEMU_EXTENDED_KEY_EVENT for r in rectangles)


def test_tigervnc_viewer_types_by_position(german: tuple[VncdProcess, Path]) -> None:
    server, typed = german
    require_programs("xtigervncviewer")
    with rfb_tap(server.port) as tap, tigervnc_viewer(tap.port, SIZE, "-ViewOnly=0") as viewer:
        wait_for(lambda: viewer.window() is not None, "the viewer's window", timeout=20)
        # Until the viewer has the confirmation it sends plain key events (keysyms only).
        wait_for(lambda: confirmed(tap), "the QEMU Extended Key Event confirmation", TIMEOUT)
        on(viewer.display, "xdotool", "search", "--name", "TigerVNC", "windowfocus", "--sync")
        keys = [name for _, name, _ in KEYS] + ["shift+2", "Return"]
        on(viewer.display, "xdotool", "key", "--delay", "50", *keys)
        wait_for_line(typed, TIMEOUT)
    assert typed.read_text() == "".join(text for *_, text in KEYS) + '"\n'
    sent = [m.event for m in tap.only_recording().messages if m.from_viewer]
    pressed = [e.keycode for e in sent if isinstance(e, QemuExtendedKeyEvent) and e.down]
    assert pressed == [code for code, *_ in KEYS] + [SHIFT, 0x03, 0x1C]


async def connect(port: int, *encodings: int) -> Viewer:
    """A ``protocol`` client of vncd at ``port`` listing ``encodings``, after its first
    update."""
    viewer = Viewer(await trio.open_tcp_stream("127.0.0.1", port))
    await viewer.handshake(encodings=(Encoding.RAW, *encodings))
    await viewer.full_update()
    return viewer


async def test_a_protocol_client_types_by_position(german: tuple[VncdProcess, Path]) -> None:
    """As noVNC does: scancode and keysym together; with no scancode, the keysym is typed."""
    server, typed = german
    viewer = await connect(server.port, Encoding.QEMU_EXTENDED_KEY_EVENT)
    assert viewer.conn.qemu_extended_key_events  # confirmed in the first update
    events = []
    for scancode, name, _ in KEYS:
        keysym = XK.string_to_keysym(name)
        events += [QemuExtendedKeyEvent(True, keysym, scancode)]
        events += [QemuExtendedKeyEvent(False, keysym, scancode)]
    events += [QemuExtendedKeyEvent(True, ord("Q"), 0), QemuExtendedKeyEvent(False, ord("Q"), 0)]
    events += [QemuExtendedKeyEvent(True, keysyms.KP_ENTER, KP_ENTER)]  # an 0xE0 key
    events += [QemuExtendedKeyEvent(False, keysyms.KP_ENTER, KP_ENTER)]
    await viewer.send(*events)
    await trio.to_thread.run_sync(wait_for_line, typed, TIMEOUT)
    assert typed.read_text() == "".join(text for *_, text in KEYS) + "Q\n"
    await viewer.stream.aclose()


async def test_leds_and_the_bell_reach_a_protocol_client(xvfb: str, start_vncd) -> None:
    port = start_vncd(x11_source(xvfb))
    viewer = Viewer(await trio.open_tcp_stream("127.0.0.1", port))
    await viewer.handshake(encodings=(Encoding.RAW, Encoding.QEMU_LED_STATE))
    leds = {r.encoding: led_state(r) for r in (await viewer.full_update()).rectangles[:1]}
    assert leds == {Encoding.QEMU_LED_STATE: LedState(0)}  # the state once, when listed
    await trio.to_thread.run_sync(on, xvfb, "xdotool", "key", "Caps_Lock")
    await viewer.request()
    update = await viewer.next_update()
    assert led_state(update.rectangles[0]) == LedState.CAPS_LOCK
    client = Xlib.display.Display(xvfb)
    client.bell()
    client.sync()
    client.close()
    with trio.fail_after(TIMEOUT):
        while not isinstance(message := await viewer.next_message(), Bell):
            assert not isinstance(message, FramebufferUpdate), "an update nobody asked for"
    await viewer.stream.aclose()


async def test_the_bell_reaches_tigervnc_viewer(xvfb: str, start_vncd) -> None:
    """TigerVNC's viewer rings its own display's bell, which that display's XKB reports."""
    require_programs("xtigervncviewer", "xkbbell")
    port = start_vncd(x11_source(xvfb))
    with tigervnc_viewer(port, SIZE) as viewer:
        await trio.to_thread.run_sync(
            lambda: wait_for(lambda: viewer.window() is not None, "the viewer's window", 20)
        )
        bells = XkbWatcher.open(viewer.display)
        assert bells is not None
        try:
            with trio.fail_after(TIMEOUT):
                await bells.wait()  # the LEDs now: no bell yet
                await trio.to_thread.run_sync(on, xvfb, "xkbbell")
                assert (await bells.wait()).bells == 1
        finally:
            bells.close()


@pytest.fixture
def button_events(xvfb: str) -> Iterator[Xlib.display.Display]:
    """A connection whose full-screen window records button presses and releases."""
    client = Xlib.display.Display(xvfb)
    window = client.screen().root.create_window(
        0, 0, *SIZE, 0, X.CopyFromParent,
        override_redirect=True, event_mask=X.ButtonPressMask | X.ButtonReleaseMask,
    )  # fmt: skip
    window.map()
    client.sync()
    yield client
    client.close()


async def test_back_and_forward_buttons_reach_x(xvfb: str, start_vncd, button_events) -> None:
    viewer = await connect(start_vncd(x11_source(xvfb)), Encoding.EXTENDED_MOUSE_BUTTONS)
    assert viewer.conn.extended_mouse_buttons  # confirmed: the extended form may be sent
    back, forward = 1 << 7, 1 << 8  # rfbproto: bit 7 back, bit 8 forward
    await viewer.send(*(PointerEvent(mask, 300, 200) for mask in (back, 0, forward, 0)))
    await viewer.full_update()  # a round trip: the events have been handled
    seen: list[tuple[int, int]] = []

    def four_events() -> bool:
        while button_events.pending_events():
            event = button_events.next_event()
            if event.type in (X.ButtonPress, X.ButtonRelease):
                seen.append((event.type, event.detail))
        return len(seen) >= 4

    await trio.to_thread.run_sync(wait_for, four_events, "four button events", TIMEOUT)
    press, release = X.ButtonPress, X.ButtonRelease
    assert seen == [(press, 8), (release, 8), (press, 9), (release, 9)]
    await viewer.stream.aclose()
