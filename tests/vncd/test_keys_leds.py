"""Keys by position, LEDs, the bell, back/forward buttons and the desktop's name.

Sessions over memory streams (``harness``) check what each viewer is told and what reaches
the source: the confirmations of QEMU Extended Key Events (-258) and ExtendedMouseButtons
(-316), QEMU / VMware LED state, DesktopName (-307) and Bell. The X11 source is checked on
real Xvfb servers: keys typed by XT scancode follow the display's layout, its XKB LEDs and
bell are reported, XTest presses buttons 8 and 9.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio
import Xlib.display

from protocol import (
    Bell,
    Event,
    FramebufferUpdate,
    KeyEvent,
    PointerEvent,
    QemuExtendedKeyEvent,
    Rectangle,
    SetEncodings,
)
from protocol.encodings import Encoding, LedState, led_state
from protocol.encodings.pseudo import desktop_name_of
from tests.interop.xclients import typing_terminal, wait_for_line
from tests.requirements import require_programs, unavailable
from vncd import keysyms
from vncd.notices import NoticeBus
from vncd.scancodes import OTHER_KEYS, XT_TO_EVDEV, evdev_code
from vncd.sources import X11Source
from vncd.sources.base import KeyboardNews
from vncd.sources.x11_keyboard import evdev_numbered

from ._xvfb import private_xvfb
from .harness import ArraySource, running_hub
from .sourcekit import press
from .viewer import Viewer

CAPS, NUM = LedState.CAPS_LOCK, LedState.NUM_LOCK
QEMU_KEYS, MOUSE_BUTTONS = Encoding.QEMU_EXTENDED_KEY_EVENT, Encoding.EXTENDED_MOUSE_BUTTONS
QEMU_LEDS, VMWARE_LEDS = Encoding.QEMU_LED_STATE, Encoding.VMWARE_LED_STATE
NOTICES = {QEMU_KEYS, MOUSE_BUTTONS, QEMU_LEDS, VMWARE_LEDS, Encoding.DESKTOP_NAME}
Y, Z, UP = 0x15, 0x2C, 0xC8  # the XT scancodes of the US keyboard's Y and Z, and Up (E0 48)
TIMEOUT = 15.0


class KeyboardSource(ArraySource):
    """A desktop whose keyboard the test drives: LED and bell news and renames it sends, and
    keys pressed by position for the scancodes in ``positions``."""

    def __init__(self, positions: frozenset[int] = frozenset({Y, UP})) -> None:
        super().__init__()
        self.positions = positions
        self.scancodes: list[tuple[int, int, bool]] = []
        self.keyboard, self._keyboard = trio.open_memory_channel[KeyboardNews](math.inf)
        self.names, self._names = trio.open_memory_channel[str](math.inf)

    async def wait_for_keyboard(self) -> KeyboardNews:
        return await self._keyboard.receive()

    async def wait_for_name(self) -> str:
        return await self._names.receive()

    def inject_keycode(self, scancode: int, keysym: int, down: bool) -> bool:
        if scancode not in self.positions:
            return False
        self.scancodes.append((scancode, keysym, down))
        return True


def notices(update: FramebufferUpdate) -> dict[int, Rectangle]:
    """The update's rectangles of this module's pseudo-encodings, by encoding (each at most
    once, all ahead of the pixels)."""
    found = {r.encoding: r for r in update.rectangles if r.encoding in NOTICES}
    assert len(found) == sum(r.encoding in NOTICES for r in update.rectangles)
    assert all(r.encoding in NOTICES for r in update.rectangles[: len(found)])
    return found


async def next_of(viewer: Viewer, kind: type[Event]) -> Event:
    with trio.fail_after(TIMEOUT):
        while not isinstance(event := await viewer.next_message(), kind):
            pass
        return event


async def messages_until_update(viewer: Viewer) -> list[Event]:
    """The messages that arrive before the next update (the answer to a request sent)."""
    messages = []
    with trio.fail_after(TIMEOUT):
        while not isinstance(event := await viewer.next_message(), FramebufferUpdate):
            messages.append(event)
    return messages


async def connected(hub, *encodings: int, password: str = "") -> Viewer:
    viewer = hub.connect()
    await viewer.handshake(password=password, encodings=(Encoding.RAW, *encodings))
    return viewer


# --- confirmations --------------------------------------------------------------------


async def test_the_extensions_a_viewer_lists_are_confirmed_once(autojump_clock):
    async with running_hub(ArraySource()) as hub:
        viewer = await connected(hub, QEMU_KEYS, MOUSE_BUTTONS)
        first = notices(await viewer.full_update())
        assert set(first) == {QEMU_KEYS, MOUSE_BUTTONS}
        assert viewer.conn.qemu_extended_key_events and viewer.conn.extended_mouse_buttons
        # noVNC sends SetEncodings again whenever a setting changes: no second confirmation.
        await viewer.send(SetEncodings((Encoding.RAW, QEMU_KEYS, MOUSE_BUTTONS)))
        assert notices(await viewer.full_update()) == {}

        plain = await connected(hub)
        assert notices(await plain.full_update()) == {}
        assert not plain.conn.qemu_extended_key_events


# --- keys by position -----------------------------------------------------------------


async def test_qemu_keys_go_by_position_where_the_source_can_else_by_keysym(autojump_clock):
    source = KeyboardSource()
    async with running_hub(source) as hub:
        viewer = await connected(hub, QEMU_KEYS)
        await viewer.full_update()
        await viewer.send(
            QemuExtendedKeyEvent(True, ord("y"), Y),
            QemuExtendedKeyEvent(False, ord("y"), Y),
            QemuExtendedKeyEvent(True, ord("q"), 0x10),  # a position this source lacks
            QemuExtendedKeyEvent(False, ord("q"), 0x10),
            QemuExtendedKeyEvent(True, keysyms.RETURN, 0),  # no scancode at all
            QemuExtendedKeyEvent(False, keysyms.RETURN, 0),
            KeyEvent(True, ord("a")),  # plain key events go by keysym, as ever
            KeyEvent(False, ord("a")),
        )
        await viewer.full_update()
        assert source.scancodes == [(Y, ord("y"), True), (Y, ord("y"), False)]
        assert source.keys == [
            (ord("q"), True),
            (ord("q"), False),
            (keysyms.RETURN, True),
            (keysyms.RETURN, False),
            (ord("a"), True),
            (ord("a"), False),
        ]


async def test_a_source_without_positions_types_the_keysyms(autojump_clock):
    source = ArraySource()
    async with running_hub(source) as hub:
        viewer = await connected(hub, QEMU_KEYS)
        await viewer.full_update()
        await viewer.send(QemuExtendedKeyEvent(True, ord("y"), Y))
        await viewer.full_update()
        assert source.keys == [(ord("y"), True)]


async def test_keys_held_by_position_are_released_when_the_viewer_leaves(autojump_clock):
    source = KeyboardSource()
    async with running_hub(source) as hub:
        viewer = await connected(hub, QEMU_KEYS)
        await viewer.full_update()
        await viewer.send(QemuExtendedKeyEvent(True, keysyms.SHIFT_L, UP))
        await viewer.full_update()
        await viewer.stream.aclose()
        with trio.fail_after(TIMEOUT):
            while len(source.scancodes) < 2:
                await trio.sleep(0.01)
        assert source.scancodes == [(UP, keysyms.SHIFT_L, True), (UP, keysyms.SHIFT_L, False)]


async def test_a_view_only_viewers_qemu_keys_reach_nothing(autojump_clock):
    source = KeyboardSource()
    async with running_hub(source, password="drive", view_only_password="look") as hub:
        viewer = await connected(hub, QEMU_KEYS, password="look")
        await viewer.full_update()
        await viewer.send(QemuExtendedKeyEvent(True, ord("y"), Y))
        await viewer.send(QemuExtendedKeyEvent(True, ord("q"), 0x10))
        await viewer.full_update()
        assert source.scancodes == [] and source.keys == []


async def test_back_and_forward_buttons_reach_the_source(autojump_clock):
    source = ArraySource()
    async with running_hub(source) as hub:
        viewer = await connected(hub, MOUSE_BUTTONS)
        await viewer.full_update()  # the confirmation: the extended form may be sent now
        await viewer.send(PointerEvent(1 << 7, 5, 6), PointerEvent(1 << 8, 5, 6))
        await viewer.full_update()
        assert source.pointer == [(5, 6, 1 << 7), (5, 6, 1 << 8)]


# --- LEDs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("listed", "expected"),
    [
        ((QEMU_LEDS,), QEMU_LEDS),
        ((VMWARE_LEDS,), VMWARE_LEDS),
        ((VMWARE_LEDS, QEMU_LEDS), QEMU_LEDS),  # QEMU's is preferred, as TigerVNC does
    ],
)
async def test_leds_are_told_once_and_on_each_change(autojump_clock, listed, expected):
    source = KeyboardSource()
    async with running_hub(source) as hub:
        source.keyboard.send_nowait(KeyboardNews(NUM))
        await trio.sleep(1)
        viewer = await connected(hub, *listed)
        assert led_state(notices(await viewer.full_update())[expected]) == NUM
        assert notices(await viewer.full_update()) == {}  # told once

        source.keyboard.send_nowait(KeyboardNews(NUM | CAPS))
        await viewer.request()
        assert led_state(notices(await viewer.next_update())[expected]) == NUM | CAPS
        source.keyboard.send_nowait(KeyboardNews(NUM | CAPS, bells=1))  # no LED change
        await next_of(viewer, Bell)
        assert notices(await viewer.full_update()) == {}


async def test_a_viewer_that_lists_no_led_encoding_is_told_nothing(autojump_clock):
    source = KeyboardSource()
    async with running_hub(source) as hub:
        source.keyboard.send_nowait(KeyboardNews(CAPS))
        viewer = await connected(hub)
        await trio.sleep(1)
        assert notices(await viewer.full_update()) == {}


async def test_leds_wait_for_the_viewers_request(autojump_clock):
    """A pseudo-rectangle needs an update to travel in: none goes unasked."""
    source = KeyboardSource()
    async with running_hub(source) as hub:
        viewer = await connected(hub, QEMU_LEDS)
        await viewer.full_update()
        source.keyboard.send_nowait(KeyboardNews(CAPS))
        await viewer.assert_no_update(1, "an update went out without a request")
        await viewer.request()
        assert led_state(notices(await viewer.next_update())[QEMU_LEDS]) == CAPS


# --- bell -----------------------------------------------------------------------------


async def test_the_bell_rings_for_every_viewer_without_a_request(autojump_clock):
    source = KeyboardSource()
    async with running_hub(source) as hub:
        first, second = await connected(hub), await connected(hub, QEMU_LEDS)
        await first.full_update()
        await second.full_update()
        source.keyboard.send_nowait(KeyboardNews(LedState(0), bells=3))
        await next_of(first, Bell)
        await next_of(second, Bell)
        # Three rings before the writer looked are one Bell: nothing else is waiting.
        await first.request(incremental=False)
        assert await messages_until_update(first) == []


# --- desktop name ---------------------------------------------------------------------


async def test_a_renamed_desktop_is_told_to_viewers_that_list_desktop_name(autojump_clock):
    source = KeyboardSource()
    async with running_hub(source) as hub:
        listing = await connected(hub, Encoding.DESKTOP_NAME)
        plain = await connected(hub)
        await listing.full_update()
        await plain.full_update()
        source.names.send_nowait("Büro ☕")
        await trio.sleep(1)
        assert hub.hub.name == "Büro ☕"
        name = notices(await listing.full_update())[Encoding.DESKTOP_NAME]
        assert desktop_name_of(name) == "Büro ☕"
        assert notices(await listing.full_update()) == {}
        assert notices(await plain.full_update()) == {}
        late = await connected(hub, Encoding.DESKTOP_NAME)
        assert late.server_init.name == "Büro ☕"
        assert notices(await late.full_update()) == {}


@pytest.mark.parametrize("follow", [True, False])
async def test_the_source_renames_the_desktop_unless_server_name_is_set(autojump_clock, follow):
    """``server.run`` asks the bus to follow the source's name only when ``server.name`` is
    unset."""
    source = KeyboardSource()
    hub = types.SimpleNamespace(source=source, name="configured")
    bus = NoticeBus(hub)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bus.run, follow)
        source.names.send_nowait("from the source")
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert hub.name == ("from the source" if follow else "configured")


# --- the scancode table ---------------------------------------------------------------

INPUT_EVENT_CODES = Path("/usr/include/linux/input-event-codes.h")
NOVNC_SCANCODES = (
    Path(__file__).parents[2] / "web/node_modules/@novnc/novnc/core/input/xtscancodes.js"
)


def test_every_evdev_number_is_the_kernels() -> None:
    """The numbers are the kernel's own (linux-libc-dev's header): by name for the listed
    keys, and a key of that number for each set-1 code that equals its evdev code."""
    if not INPUT_EVENT_CODES.is_file():
        unavailable(f"{INPUT_EVENT_CODES} is missing (Debian package linux-libc-dev)")
    defined = re.findall(
        r"#define\s+(KEY_\w+)\s+(0x[0-9a-fA-F]+|\d+)", INPUT_EVENT_CODES.read_text()
    )
    codes = {name: int(value, 0) for name, value in defined}
    assert {(name, evdev) for _, name, evdev in OTHER_KEYS} <= set(codes.items())
    assert {codes["KEY_ESC"], codes["KEY_KPDOT"], codes["KEY_102ND"], codes["KEY_F12"]} == {
        evdev_code(0x01),
        evdev_code(0x53),
        evdev_code(0x56),
        evdev_code(0x58),
    }
    assert set(XT_TO_EVDEV.values()) <= set(codes.values())


def test_the_table_agrees_with_novncs() -> None:
    """noVNC's table (generated from QEMU's keymaps database) names, for each browser key
    code, the XT scancode it sends and the Linux key it means: ours must mean the same key
    wherever both have the scancode, and know every key of a 105-key keyboard noVNC sends."""
    if not NOVNC_SCANCODES.is_file():
        unavailable("noVNC is not installed: run `npm ci` in web/")
    novnc = {}
    pattern = r'"(\w+)": (0x[0-9a-f]+), /\* html:\S+ \(\S+\) -> linux:(\d+)'
    for code, scancode, linux in re.findall(pattern, NOVNC_SCANCODES.read_text()):
        number = int(scancode, 16)
        if number >> 8 == 0xE0:  # noVNC sends these as QEMU numbers: the high bit set
            number = 0x80 | number & 0x7F
        novnc[code] = (number, int(linux))
    disagree = {
        code: (hex(scancode), linux, evdev_code(scancode))
        for code, (scancode, linux) in novnc.items()
        if scancode in XT_TO_EVDEV and evdev_code(scancode) != linux
    }
    assert disagree == {}
    keyboard = ["KeyA", "KeyZ", "Digit1", "Minus", "IntlBackslash", "ArrowUp", "NumpadEnter"]
    keyboard += ["ControlRight", "AltRight", "MetaLeft", "ContextMenu", "Pause", "PrintScreen"]
    keyboard += ["Insert", "Delete", "Home", "End", "PageUp", "PageDown", "F11", "F12"]
    assert [code for code in keyboard if novnc[code][0] not in XT_TO_EVDEV] == []


def test_evdev_numbering_is_told_by_key_names() -> None:
    evdev = {24: "AD01", 38: "AC01", 104: "KPEN", 105: "RCTL", 111: "UP", 133: "LWIN"}
    xfree86 = {**evdev, 98: "UP", 108: "KPEN", 109: "RCTL", 111: "PRSC", 115: "LWIN"}
    assert evdev_numbered(evdev)
    assert not evdev_numbered(xfree86)
    assert not evdev_numbered({})  # no XKB: keysyms only


# --- the X11 source on Xvfb -----------------------------------------------------------


def x(display: str, *command: str) -> None:
    subprocess.run(command, env={**os.environ, "DISPLAY": display}, check=True, timeout=TIMEOUT)


@pytest.fixture
def display() -> Iterator[str]:
    """A private Xvfb of its own: tests load layouts and lock keys."""
    require_programs("setxkbmap", "xdotool", "xterm")
    with private_xvfb(320, 200) as name:
        yield name


@pytest.fixture
def typed_line(display: str, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """An xterm at the top left whose input goes to a file; returns ``line()``, which waits
    for the first typed line."""
    typed = tmp_path / "typed.txt"
    with typing_terminal(display, typed):
        time.sleep(1.5)  # the xterm's window comes up (as the interop tests wait for it)

        def line() -> str:
            wait_for_line(typed, TIMEOUT)
            return typed.read_text()

        yield line


def tap(source: X11Source, scancode: int, *held: int) -> None:
    """Press ``scancode`` by position with ``held`` keys (modifiers) down around it."""
    for key in (*held, scancode):
        assert source.inject_keycode(key, 0, True)
    for key in (scancode, *reversed(held)):
        assert source.inject_keycode(key, 0, False)


SHIFT, ALTGR, KP_ENTER = 0x2A, 0xB8, 0x9C
#: US-keyboard positions, and what a German layout types there.
GERMAN = [((Y,), "z"), ((Z,), "y"), ((0x35,), "-"), ((0x1B,), "+"), ((0x2B,), "#")]
GERMAN += [((0x03, SHIFT), '"'), ((0x10, ALTGR), "@"), ((UP,), "\x1b[A")]  # xterm's Up


def test_keys_by_position_type_what_the_displays_layout_says(display, typed_line) -> None:
    x(display, "setxkbmap", "de")
    with X11Source(display) as source:
        source.inject_pointer(30, 30, 0)  # no window manager: focus follows the pointer
        for keys, _ in GERMAN:
            tap(source, *keys)
        press(source, ord("y"))  # a keysym still types itself, whatever the layout
        tap(source, KP_ENTER)  # an E0 key
        assert typed_line() == "".join(text for _, text in GERMAN) + "y\n"
        assert not source.inject_keycode(0x76, 0, True)  # a code the table leaves out
        # The German key at US A's place carries "A" too: the layouts agree on it, and the
        # keysym says the case, which a viewer that sends no Shift (a test driver) means.
        assert not source.inject_keycode(0x1E, ord("A"), True)
        assert source.inject_keycode(0x1E, ord("q"), True)  # the layouts disagree on it
        assert source.inject_keycode(0x1E, ord("A"), False)  # released as it was pressed
        assert not source.inject_keycode(0, 0, True)


def test_a_display_numbered_otherwise_gets_keysyms_only(display: str) -> None:
    """The older "xfree86" keycodes put the Up arrow elsewhere: no key goes by position."""
    x(display, "setxkbmap", "-keycodes", "xfree86+aliases(qwerty)", "us")
    with X11Source(display) as source:
        assert not source.inject_keycode(Y, ord("y"), True)
        assert not source.inject_keycode(UP, 0, True)


async def test_lock_key_leds_and_the_bell_are_reported(display: str) -> None:
    with X11Source(display) as source:
        with trio.fail_after(TIMEOUT):
            assert await source.wait_for_keyboard() == KeyboardNews(LedState(0))
            x(display, "xdotool", "key", "Caps_Lock")
            assert await source.wait_for_keyboard() == KeyboardNews(CAPS)
            press(source, keysyms.NUM_LOCK)  # vncd's own typing counts as much as anyone's
            assert await source.wait_for_keyboard() == KeyboardNews(CAPS | NUM)
            client = Xlib.display.Display(display)
            client.bell()  # a core Bell request: XKB reports it as a BellNotify
            client.sync()
            client.close()
            assert await source.wait_for_keyboard() == KeyboardNews(CAPS | NUM, bells=1)
            x(display, "xdotool", "key", "Caps_Lock", "Num_Lock")
            news = await source.wait_for_keyboard()
            while news.leds:  # the two keys may be reported one at a time
                news = await source.wait_for_keyboard()
        with trio.move_on_after(0.5):
            raise AssertionError(f"news without a change: {await source.wait_for_keyboard()}")
