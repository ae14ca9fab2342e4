"""The desktop source (mss + pynput + pyperclip) against a real Xvfb split into two RandR
monitors: capture, monitor selection, typing, the pointer and its buttons, the clipboard with
viewers and xclip, ``auto``, and the macOS permission line (with the platform's answers
faked)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyperclip
import pytest
import trio
import Xlib.display
from Xlib import X

from protocol import ClientCutText
from protocol.clipboard import (
    ClipboardAction,
    ClipboardCaps,
    ClipboardFormat,
    ClipboardProvide,
    provide_text,
    provided_text,
)
from protocol.encodings import Encoding
from tests.interop.xclients import button_recorder, focused_xterm, set_monitors
from tests.interop.xpaint import paint_root
from tests.interop.xwd import xwd_root
from tests.requirements import require_programs
from vncd import keysyms, sources
from vncd.sources import DemoSource, DesktopSource, SourceError, open_source
from vncd.sources import desktop as desktop_module
from vncd.sources.desktop import CLIPBOARD_POLL_SECONDS, Permissions, PolledClipboard

from ._xvfb import private_xvfb, wait_for
from .harness import running_hub
from .sourcekit import press, source_config, type_text
from .xclipboard import clipboard_bytes, copied

WIDTH, HEIGHT = 1120, 480
LEFT = (0, 0, 640, 480)  # monitor 1: x, y, width, height
RIGHT = (640, 60, 480, 360)  # monitor 2, lower than the first: its origin has a y too
TIMEOUT = 15.0


@pytest.fixture(scope="module")
def screen() -> Iterator[str]:
    """An Xvfb of two monitors side by side, painted with noise (the display's name)."""
    require_programs("xrandr", "xwd")
    with private_xvfb(WIDTH, HEIGHT) as name:
        set_monitors(name, LEFT, RIGHT)
        noise = np.random.default_rng(3).integers(0, 256, (HEIGHT, WIDTH, 3), np.uint8)
        paint_root(name, noise)
        yield name


@pytest.fixture
def display(screen: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The screen as this process's $DISPLAY, which pynput and mss connect to."""
    monkeypatch.setenv("DISPLAY", screen)
    return screen


def region(rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, width, height = box
    return rgb[y : y + height, x : x + width]


# --- capture and monitors -----------------------------------------------------------------


@pytest.mark.parametrize(("monitor", "box"), [(0, (0, 0, WIDTH, HEIGHT)), (1, LEFT), (2, RIGHT)])
def test_capture_shows_the_monitor(display: str, monitor: int, box: tuple) -> None:
    with DesktopSource(monitor) as source:
        frame = source.capture()
        assert source.size == box[2:]
        assert frame.shape == (box[3], box[2], 4) and frame.dtype == np.uint8
        assert frame.flags.c_contiguous
        assert np.array_equal(frame[..., 2::-1], region(xwd_root(display), box))  # BGR vs RGB
        assert not source.reports_damage  # polled: the capture loop compares frames
        assert source.resize(800, 600) is False
        assert not hasattr(source, "wait_for_cursor")  # no pointer shape for the cursor bus
        assert source.statistics().frames_captured == 1


def test_a_monitor_that_is_not_there_is_one_clear_error(display: str) -> None:
    message = r"source.monitor = 3: this desktop has 2 monitors; use 0 \(all of them .*\) or 1..2"
    with pytest.raises(SourceError, match=message):
        DesktopSource(3)


async def test_open_source_desktop_and_its_refusals(
    display: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_source(source_config("desktop", monitor=2)) as source:
        assert isinstance(source, DesktopSource)
        assert source.size == RIGHT[2:]
    with pytest.raises(SourceError, match=r"source.monitor = 9: "):
        async with open_source(source_config("desktop", monitor=9)):
            pass
    with pytest.raises(SourceError, match=r"source.display = ':5' is for kind x11"):
        async with open_source(source_config("desktop", display=":5")):
            pass
    monkeypatch.setenv("DISPLAY", ":4242")  # nobody there: one clear error, whoever notices
    with pytest.raises(SourceError, match="cannot"):
        async with open_source(source_config("desktop")):
            pass
    monkeypatch.delenv("DISPLAY")
    with pytest.raises(SourceError, match=r"needs an X11 session on Linux: \$DISPLAY is not set"):
        async with open_source(source_config("desktop")):
            pass


async def test_auto_is_desktop_on_windows_and_macos(
    display: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sys.platform decides; this Linux machine poses as one of DESKTOP_PLATFORMS."""
    async with open_source(source_config("auto")) as source:
        assert not isinstance(source, DesktopSource)  # Linux with a display: x11
    monkeypatch.setattr(sources, "DESKTOP_PLATFORMS", (sys.platform,))
    async with open_source(source_config("auto")) as source:
        assert isinstance(source, DesktopSource)
    monkeypatch.setattr(desktop_module, "PERMISSION_PROBES", {})
    monkeypatch.delenv("DISPLAY")  # the desktop cannot open: auto falls back to the demo
    async with open_source(source_config("auto")) as source:
        assert isinstance(source, DemoSource)


# --- keyboard -----------------------------------------------------------------------------


def typed_lines(typed: Path, count: int) -> list[str]:
    """The first ``count`` lines typed into ``typed``, once there are that many."""
    wait_for(lambda: typed.exists() and typed.read_bytes().count(b"\n") >= count, "typing", TIMEOUT)
    return typed.read_bytes().decode().splitlines()


@pytest.fixture
def terminal(display: str, tmp_path: Path) -> Iterator[Callable[[int], list[str]]]:
    """A focused xterm that takes sent events; returns ``lines(n)``, which waits for n typed
    lines."""
    typed = tmp_path / "typed.txt"
    with focused_xterm(display, typed, sent_events=True):
        yield lambda count: typed_lines(typed, count)


def test_programs_that_ignore_sent_events_get_special_keys_only(
    display: str, tmp_path: Path
) -> None:
    typed = tmp_path / "typed.txt"
    with focused_xterm(display, typed, sent_events=False), DesktopSource() as source:
        type_text(source, "lost")
        press(source, keysyms.RETURN)  # a pynput Key: XTest, which xterm takes
        assert typed_lines(typed, 1) == [""]


TEXT = "Hello World 42 !@#$%^&*()_+-=[]{};':\",./<>?`~|\\"
NON_ASCII = {0xE9: "é", 0xFC: "ü", 0x20AC: "€", 0x01000416: "Ж"}


def test_typing_reaches_the_application(display: str, terminal: Callable[[int], list[str]]) -> None:
    with DesktopSource() as source:
        type_text(source, TEXT)
        for keysym in NON_ASCII:  # by Unicode: pynput binds a keycode the layout lacks
            press(source, keysym)
        source.inject_key(keysyms.SHIFT_L, True)  # a viewer's own Shift...
        press(source, ord("Q"))
        source.inject_key(keysyms.SHIFT_L, False)
        press(source, ord("q"))  # ...is let go
        press(source, 0xFFB5)  # KP_5: the keypad's digit
        press(source, keysyms.KP_ENTER)
        assert terminal(1) == [TEXT + "".join(NON_ASCII.values()) + "Qq5"]
        assert source.statistics().keysyms_dropped == 0


def test_special_keys_reach_the_application(
    display: str, terminal: Callable[[int], list[str]]
) -> None:
    """BackSpace, Tab, Return and Ctrl+U (the terminal's kill-line) as cat's terminal sees them."""
    with DesktopSource() as source:
        type_text(source, "abc")
        press(source, keysyms.BACKSPACE)
        press(source, keysyms.TAB)
        type_text(source, "wrong")
        press(source, keysyms.CONTROL_L, ord("u"))  # the terminal's kill-line
        type_text(source, "x")
        press(source, keysyms.RETURN)
        assert terminal(1) == ["x"]


def test_keys_pynput_lacks_are_dropped_and_counted(display: str) -> None:
    with DesktopSource() as source:
        key = source.key_for
        keyboard = source._keyboard_module
        for number in range(1, 21):  # F1..F20: keysyms 0xFFBE..0xFFD1
            assert key(0xFFBD + number) == getattr(keyboard.Key, f"f{number}")
        assert key(keysyms.DELETE) == keyboard.Key.delete and key(0xFF63) == keyboard.Key.insert
        assert key(0xFF50) == keyboard.Key.home and key(0xFF9C) == keyboard.Key.end  # KP_End
        assert key(keysyms.SHIFT_R) == keyboard.Key.shift_r
        assert key(keysyms.ISO_LEVEL3_SHIFT) == keyboard.Key.alt_gr
        assert key(0xFF55) == keyboard.Key.page_up and key(0xFF96) == keyboard.Key.left
        assert key(0xFFB7) == keyboard.KeyCode.from_char("7")  # KP_7
        assert key(0x0100263A) == keyboard.KeyCode.from_char("☺")
        for keysym in (0, 0xFFFFFF, 0xFE50, 0xFFFFFFFF):  # nothing, dead_grave: no pynput key
            assert key(keysym) is None
            source.inject_key(keysym, True)
            source.inject_key(keysym, False)
        stats = source.statistics()
        assert (stats.keysyms_dropped, stats.key_events) == (4, 8)


# --- pointer ------------------------------------------------------------------------------


def pointer(display: str) -> tuple[int, int]:
    output = subprocess.run(
        ["xdotool", "getmouselocation", "--shell"],
        env={**os.environ, "DISPLAY": display},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    values = dict(line.split("=") for line in output.split())
    return int(values["X"]), int(values["Y"])


def test_pointer_moves_in_the_monitors_coordinates(display: str) -> None:
    require_programs("xdotool")
    with DesktopSource(2) as source:
        for asked, expected in [
            ((10, 20), (650, 80)),  # RIGHT's origin is (640, 60)
            ((100_000, 70_000), (WIDTH - 1, 60 + 360 - 1)),  # clipped to the monitor
            ((-5, -5), (640, 60)),
        ]:
            source.inject_pointer(*asked, 0)
            wait_for(lambda want=expected: pointer(display) == want, f"the pointer at {expected}")
        assert source.statistics().pointer_events == 3


def test_buttons_and_the_wheel(display: str) -> None:
    with button_recorder(display, RIGHT) as take, DesktopSource(2) as source:
        source.inject_pointer(100, 50, 0b1)
        assert take(1) == [("press", 1, 740, 110)]
        source.inject_pointer(110, 50, 0b101)  # a drag, then button 3 as well
        assert take(1) == [("press", 3, 750, 110)]
        source.inject_pointer(110, 50, 0)
        assert sorted(take(2)) == [("release", 1, 750, 110), ("release", 3, 750, 110)]
        source.inject_pointer(110, 50, 0b10)
        source.inject_pointer(110, 50, 0)
        assert take(2) == [("press", 2, 750, 110), ("release", 2, 750, 110)]
        for bit, button in [(3, 4), (4, 5), (5, 6), (6, 7)]:  # the wheel: one click per press
            source.inject_pointer(110, 50, 1 << bit)
            source.inject_pointer(110, 50, 0)  # letting go sends nothing
            assert take(2) == [("press", button, 750, 110), ("release", button, 750, 110)]


def control_down(display: str) -> bool:
    client = Xlib.display.Display(display)
    try:
        return bool(client.screen().root.query_pointer().mask & X.ControlMask)
    finally:
        client.close()


def test_close_releases_held_keys_and_buttons(display: str) -> None:
    with button_recorder(display, LEFT) as take:
        with DesktopSource(1) as source:
            source.inject_pointer(100, 100, 0b100)
            assert take(1) == [("press", 3, 100, 100)]
            source.inject_key(keysyms.CONTROL_L, True)
            wait_for(lambda: control_down(display), "Control held")
        assert take(1) == [("release", 3, 100, 100)]
        wait_for(lambda: not control_down(display), "Control released")


# --- clipboard ----------------------------------------------------------------------------

#: The README's promise: a copy on the desktop reaches viewers within about two seconds.
COPY_SECONDS = 2.0


async def wait_for_x_clipboard(display: str, text: str) -> None:
    """Until an X client pasting CLIPBOARD (xclip -o) gets ``text``."""
    with trio.fail_after(TIMEOUT):
        while await trio.to_thread.run_sync(clipboard_bytes, display) != text.encode():
            await trio.sleep(0.05)


def clipboard_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "vncd-desktop-clipboard"]


async def test_a_viewer_and_x_clients_share_the_clipboard(display: str) -> None:
    source = await trio.to_thread.run_sync(DesktopSource)
    try:
        async with running_hub(source) as hub:
            viewer = hub.connect()
            await viewer.handshake()
            await viewer.send(ClientCutText("from the viewer, café\r\n"))
            await wait_for_x_clipboard(display, "from the viewer, café\n")
            with copied(display, "xclip", "from X: ✓ ok\n".encode()):
                assert await viewer.next_cut_text(COPY_SECONDS) == "from X: ? ok\n"
            assert viewer.cut_texts == []  # its own text never came back
    finally:
        source.close()


async def test_an_extended_viewer_and_x_clients_share_any_text(display: str) -> None:
    source = await trio.to_thread.run_sync(DesktopSource)
    try:
        async with running_hub(source) as hub:
            viewer = hub.connect()
            await viewer.handshake(encodings=(Encoding.RAW, Encoding.EXTENDED_CLIPBOARD))
            await viewer.send(
                ClipboardCaps({ClipboardFormat.TEXT: 1 << 20}, ClipboardAction.PROVIDE)
            )
            await viewer.send(provide_text("naïve 日本 ✓\nsecond line"))
            await wait_for_x_clipboard(display, "naïve 日本 ✓\nsecond line")
            with copied(display, "xclip", "from X: мир ✓".encode()), trio.fail_after(COPY_SECONDS):
                while not isinstance(event := await viewer.next_message(), ClipboardProvide):
                    pass
            assert provided_text(event) == "from X: мир ✓"
    finally:
        source.close()


def test_the_clipboard_is_polled_and_its_own_text_is_no_news(display: str) -> None:
    with DesktopSource() as source:
        serial = source.clipboard_serial
        source.set_clipboard("set by a viewer")
        assert (source.clipboard_serial, source.get_clipboard()) == (serial + 1, "set by a viewer")
        wait_for(lambda: clipboard_bytes(display) == b"set by a viewer", "the copy")
        time.sleep(3 * CLIPBOARD_POLL_SECONDS)  # polled a few times since
        assert source.clipboard_serial == serial + 1
        with copied(display, "xsel", b"copied with xsel"):
            started = time.monotonic()
            wait_for(lambda: source.clipboard_serial == serial + 2, "the desktop's copy")
            assert time.monotonic() - started < 2 * CLIPBOARD_POLL_SECONDS + 0.5
            assert source.get_clipboard() == "copied with xsel"
        assert len(clipboard_threads()) == 1
    assert clipboard_threads() == []  # closing stopped it


class SlowPaste:
    """pyperclip's interface, whose second paste waits until the test lets it go."""

    PyperclipException = pyperclip.PyperclipException

    def __init__(self) -> None:
        self.text = "old"
        self.pastes = 0
        self.pasting = threading.Event()
        self.go = threading.Event()

    def paste(self) -> str:
        self.pastes += 1
        if self.pastes == 2:
            self.pasting.set()
            self.go.wait(TIMEOUT)
        return self.text

    def copy(self, text: str) -> None:
        self.text = text


def test_a_paste_read_before_a_viewers_text_is_not_news() -> None:
    """A viewer's text handed over while the thread reads the old one: the old text must not
    come back as the desktop's news (and go out to the viewers again)."""
    fake = SlowPaste()
    board = PolledClipboard(fake)
    try:
        assert fake.pasting.wait(TIMEOUT)  # the thread is reading "old"
        board.set_text("new")
        fake.go.set()
        wait_for(lambda: fake.text == "new", "the copy")
        time.sleep(2 * CLIPBOARD_POLL_SECONDS)
        assert (board.serial, board.text) == (1, "new")
    finally:
        board.close()


def test_without_a_clipboard_mechanism_it_serves_with_none(
    display: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """pyperclip with nothing to run (no xclip or xsel, say): one line, and no clipboard."""
    for name in ("copy", "paste"):
        monkeypatch.setattr(pyperclip, name, getattr(pyperclip, name))
    pyperclip.set_clipboard("no")
    caplog.set_level(logging.INFO, "vncd.sources.desktop")
    with DesktopSource() as source:
        source.set_clipboard("nowhere to go")
        assert (source.clipboard_serial, source.get_clipboard()) == (0, "")
        assert clipboard_threads() == []
    assert [(record.levelno, record.message) for record in caplog.records] == [
        (
            logging.WARNING,
            "no clipboard: Pyperclip could not find a copy/paste mechanism for your system. "
            "For more information, please visit "
            "https://pyperclip.readthedocs.io/en/latest/index.html#not-implemented-error",
        )
    ]


# --- macOS permissions --------------------------------------------------------------------


SCREEN = "Screen Recording (without it viewers see a black screen)"
INPUT = "Accessibility (without it viewers' keys and pointer are ignored)"


@pytest.mark.parametrize(
    ("permissions", "withheld"),
    [
        (Permissions(screen_recording=False, accessibility=True), f"the {SCREEN} permission"),
        (Permissions(screen_recording=True, accessibility=False), f"the {INPUT} permission"),
        (Permissions(False, False), f"the {SCREEN} and the {INPUT} permissions"),
    ],
)
def test_a_missing_permission_is_one_log_line(
    display: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    permissions: Permissions,
    withheld: str,
) -> None:
    """What macOS says (faked here: this platform answers as macOS would) becomes one line."""
    monkeypatch.setitem(desktop_module.PERMISSION_PROBES, sys.platform, lambda: permissions)
    caplog.set_level(logging.INFO, "vncd.sources.desktop")
    with DesktopSource():
        pass
    assert [(record.levelno, record.message) for record in caplog.records] == [
        (
            logging.ERROR,
            f"macOS withholds {withheld} from {sys.executable}: grant "
            f"{'them' if 'permissions' in withheld else 'it'} in System Settings › "
            "Privacy & Security, then restart vncd",
        )
    ]


def test_a_black_frame_asks_for_screen_recording(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Where macOS cannot be asked (before 10.15), a black first frame tells instead."""
    with private_xvfb(64, 48) as black:
        monkeypatch.setenv("DISPLAY", black)
        probe = lambda: Permissions(screen_recording=None, accessibility=True)  # noqa: E731
        monkeypatch.setitem(desktop_module.PERMISSION_PROBES, sys.platform, probe)
        with caplog.at_level(logging.INFO, "vncd.sources.desktop"), DesktopSource() as source:
            assert not source.capture()[..., :3].any()
        assert [record.message for record in caplog.records] == [
            f"macOS withholds the {SCREEN} permission from {sys.executable}: grant it in "
            "System Settings › Privacy & Security, then restart vncd"
        ]


def test_nothing_is_said_when_all_is_granted(
    display: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    probe = lambda: Permissions(screen_recording=None, accessibility=True)  # noqa: E731
    monkeypatch.setitem(desktop_module.PERMISSION_PROBES, sys.platform, probe)
    with caplog.at_level(logging.INFO, "vncd.sources.desktop"), DesktopSource():
        pass
    assert caplog.records == []
