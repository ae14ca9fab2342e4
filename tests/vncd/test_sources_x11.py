"""The X11 and Xvfb sources against real Xvfb servers: capture, XTest typing, pointer, lifecycle."""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import trio
import Xlib.display
from Xlib import X

from tests.interop.xpaint import paint_root
from tests.interop.xwd import xwd_root
from tests.requirements import require_programs
from vncd import keysyms
from vncd.sources import DemoSource, SourceError, X11Source, open_source

from ._xvfb import private_xvfb, wait_for
from .sourcekit import press, source_config, type_text

WIDTH, HEIGHT = 640, 480
TIMEOUT = 15.0


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with private_xvfb(WIDTH, HEIGHT) as name:
        yield name


# --- capture ------------------------------------------------------------------------------


def paint_noise(display: str) -> np.ndarray:
    """Random pixels on the root window, returned as BGRX: any channel, row or byte-order
    slip shows."""
    noise = np.random.default_rng(7).integers(0, 256, (HEIGHT, WIDTH, 4), np.uint8)
    noise[..., 3] = 0
    paint_root(display, noise[..., 2::-1])
    return noise


@pytest.mark.parametrize("backend", ["auto", "xlib"])
def test_capture_matches_the_screen(display: str, backend: str) -> None:
    require_programs("xwd")
    with X11Source(display, backend=backend) as source:
        source.inject_pointer(WIDTH - 1, HEIGHT - 1, 0)
        noise = paint_noise(display)
        frame = source.capture()
        assert frame.shape == (HEIGHT, WIDTH, 4) and frame.dtype == np.uint8
        assert frame.flags.c_contiguous
        assert source.size == (WIDTH, HEIGHT)
        assert np.array_equal(frame[..., :3], noise[..., :3])
        assert np.array_equal(frame[..., 2::-1], xwd_root(display))  # xwd gives RGB
        assert source.statistics().capture_backend == ("xcb" if backend == "auto" else "xlib")


def test_solid_root_colour(display: str) -> None:
    require_programs("xsetroot")
    subprocess.run(["xsetroot", "-display", display, "-solid", "#123456"], check=True)
    with X11Source(display) as source:
        frame = source.capture()
    assert (frame[..., :3] == (0x56, 0x34, 0x12)).all()  # B, G, R


def test_captures_from_many_threads_are_new_arrays(display: str) -> None:
    """mss's xlib backend is bound to its thread; Trio hands capture() to varying threads."""
    noise = paint_noise(display)
    frames: list[np.ndarray] = []
    with X11Source(display, backend="xlib") as source:
        for _ in range(3):
            worker = threading.Thread(target=lambda: frames.append(source.capture()))
            worker.start()
            worker.join()
        assert source.statistics().frames_captured == 3
    assert len(frames) == 3
    for frame in frames:
        assert np.array_equal(frame[..., :3], noise[..., :3])
    assert not np.shares_memory(frames[0], frames[1])


def test_unreachable_display_is_a_source_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SourceError, match="cannot open X display"):
        X11Source(":4242")
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(SourceError, match="DISPLAY"):
        X11Source()


def test_display_from_environment(display: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", display)
    with X11Source() as source:
        assert source.name.endswith(display)


def test_losing_the_display_is_a_source_error() -> None:
    with private_xvfb(320, 200) as name:
        source = X11Source(name)
        assert source.capture().shape == (200, 320, 4)
    with pytest.raises(SourceError, match="lost X display"):
        source.capture()
    with pytest.raises(SourceError, match="lost X display"):
        source.inject_pointer(1, 1, 1)
    source.close()


# --- keyboard -----------------------------------------------------------------------------


@pytest.fixture
def terminal(display: str, tmp_path: Path) -> Iterator[Callable[[int], list[str]]]:
    """An xterm whose keyboard input lands in a file; returns ``lines(n)``, which waits for n
    typed lines and returns them."""
    require_programs("xterm")
    typed = tmp_path / "typed.txt"
    env = {**os.environ, "DISPLAY": display, "LC_ALL": "C.UTF-8"}
    xterm = subprocess.Popen(
        ["xterm", "-u8", "-geometry", "60x10+0+0", "-e", "sh", "-c", f"cat > {typed}"], env=env
    )
    client = Xlib.display.Display(display)
    root = client.screen().root

    def mapped() -> bool:
        return any(
            child.get_attributes().map_state == X.IsViewable for child in root.query_tree().children
        )

    def lines(count: int) -> list[str]:
        wait_for(
            lambda: typed.exists() and typed.read_bytes().count(b"\n") >= count, "typing", TIMEOUT
        )
        return typed.read_bytes().decode().splitlines()

    try:
        wait_for(mapped, "xterm's window", TIMEOUT)
        yield lines
    finally:
        client.close()
        xterm.kill()
        xterm.wait()


TEXT = "Hello World 42 !@#$%^&*()_+-=[]{};':\",./<>?`~|\\"
UNMAPPED = {0xE9: "é", 0xC9: "É", 0x20AC: "€", 0x01000416: "Ж", 0x0100263A: "☺"}


def test_typing_reaches_the_application(display: str, terminal: Callable[[int], list[str]]) -> None:
    with X11Source(display) as source:
        source.inject_pointer(30, 30, 0)  # no window manager: focus follows the pointer
        type_text(source, TEXT)
        for keysym in UNMAPPED:  # not in the keymap: bound to spare keycodes
            press(source, keysym)
        # A viewer that holds Shift itself: no second Shift, and letters stay upper case.
        source.inject_key(keysyms.SHIFT_L, True)
        press(source, ord("Q"))
        press(source, ord("!"))
        source.inject_key(keysyms.SHIFT_L, False)
        press(source, ord("q"))
        press(source, keysyms.KP_ENTER)
        assert terminal(1) == [TEXT + "".join(UNMAPPED.values()) + "Q!q"]
        stats = source.statistics()
        assert stats.keysyms_bound == len(UNMAPPED)
        assert stats.keysyms_dropped == 0
        assert stats.key_events == 2 * (len(TEXT) + len(UNMAPPED) + 4) + 2


def test_one_spare_keycode_is_reused(display: str, terminal: Callable[[int], list[str]]) -> None:
    """Each unmapped keysym takes over the keycode the previous one borrowed.  (Rebinding is
    safe once the application has handled the earlier key, hence one line at a time.)"""
    with X11Source(display, spare_keycodes=1) as source:
        source.inject_pointer(30, 30, 0)
        for count, keysym in enumerate(UNMAPPED, 1):
            press(source, keysym)
            press(source, keysyms.RETURN)
            terminal(count)
        assert terminal(len(UNMAPPED)) == list(UNMAPPED.values())
        assert source.statistics().keysyms_bound == len(UNMAPPED)


def keymap(display: str) -> list[tuple[int, ...]]:
    client = Xlib.display.Display(display)
    first = client.display.info.min_keycode
    rows = client.get_keyboard_mapping(first, client.display.info.max_keycode - first + 1)
    client.close()
    return [tuple(row) for row in rows]


def test_borrowed_keycodes_are_returned_on_close(display: str) -> None:
    before = keymap(display)
    with X11Source(display) as source:
        press(source, 0x01000416)
        assert keymap(display) != before
    assert keymap(display) == before


def test_any_keysym_is_harmless(display: str) -> None:
    with X11Source(display, spare_keycodes=2) as source:
        for keysym in (0, 0xFFFFFF, 0x1FFFFFFF, 0x20000000, 0xFFFFFFFF, 0x0110FFFF):
            source.inject_key(keysym, True)
        for keysym in (0, 0xFFFFFF, 0x1FFFFFFF, 0x20000000, 0xFFFFFFFF, 0x0110FFFF):
            source.inject_key(keysym, False)
        stats = source.statistics()
        assert stats.keysyms_dropped == 4  # NoSymbol and the values above 29 bits, twice
        source.capture()


# --- pointer ------------------------------------------------------------------------------


def pointer(client: Xlib.display.Display) -> tuple[int, int]:
    reply = client.screen().root.query_pointer()
    return reply.root_x, reply.root_y


def test_pointer_moves_and_is_clipped(display: str, x_client: Xlib.display.Display) -> None:
    # The source flushes without a round trip, so another client may ask the server before
    # it has applied the motion: wait for the exact position rather than expect it at once.
    with X11Source(display) as source:
        for asked, expected in [
            ((123, 321), (123, 321)),
            ((100_000, 70_000), (WIDTH - 1, HEIGHT - 1)),
            ((-5, -5), (0, 0)),
        ]:
            source.inject_pointer(*asked, 0)
            wait_for(lambda want=expected: pointer(x_client) == want, f"the pointer at {expected}")
        assert source.statistics().pointer_events == 3


@pytest.fixture
def button_window(x_client: Xlib.display.Display) -> Iterator[Callable[[int], list[tuple]]]:
    """A full-screen window recording button events; returns ``drain(n)``, the next n of them
    as (type, button). X reports events in order, so an unwanted event shows as the first of
    a drain instead of the one expected: no test waits for an event not to come."""
    root = x_client.screen().root
    window = root.create_window(
        0, 0, WIDTH, HEIGHT, 0, X.CopyFromParent,
        override_redirect=True,
        event_mask=X.ButtonPressMask | X.ButtonReleaseMask | X.StructureNotifyMask,
    )  # fmt: skip
    window.map()
    x_client.sync()

    def drain(expected: int) -> list[tuple]:
        events: list[tuple] = []
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and len(events) < expected:
            if not x_client.pending_events():
                time.sleep(0.01)
                continue
            event = x_client.next_event()
            if event.type in (X.ButtonPress, X.ButtonRelease):
                kind = "press" if event.type == X.ButtonPress else "release"
                events.append((kind, event.detail))
        return events

    yield drain
    window.destroy()
    x_client.sync()


def test_buttons_follow_the_mask(display: str, button_window: Callable[..., list]) -> None:
    with X11Source(display) as source:
        source.inject_pointer(200, 200, 0b1)
        assert button_window(1) == [("press", 1)]
        source.inject_pointer(210, 200, 0b1)  # a drag: no new button events, so the next...
        source.inject_pointer(210, 200, 0b101)
        assert button_window(1) == [("press", 3)]  # ...is button 3's
        source.inject_pointer(210, 200, 0)
        assert sorted(button_window(2)) == [("release", 1), ("release", 3)]
        source.inject_pointer(210, 200, 0b1000)  # wheel up: one click...
        assert button_window(2) == [("press", 4), ("release", 4)]
        source.inject_pointer(210, 200, 0)  # ...and nothing when the viewer lets go: the
        source.inject_pointer(210, 200, 0b10000000)  # next events are button 8's
        source.inject_pointer(210, 200, 0)
        assert button_window(2) == [("press", 8), ("release", 8)]


def test_close_releases_held_buttons(display: str, button_window: Callable[..., list]) -> None:
    with X11Source(display) as source:
        source.inject_pointer(100, 100, 0b10)
        assert button_window(1) == [("press", 2)]
    assert button_window(1) == [("release", 2)]


# --- open_source: x11, auto, xvfb ---------------------------------------------------------


async def test_open_source_x11_and_auto(display: str) -> None:
    for kind in ("x11", "auto"):
        async with open_source(source_config(kind, display=display)) as source:
            assert isinstance(source, X11Source)
            assert source.size == (WIDTH, HEIGHT)
    async with open_source(source_config("auto", display=":4242")) as source:
        assert isinstance(source, DemoSource)
    with pytest.raises(SourceError):
        async with open_source(source_config("x11", display=":4242")):
            pass


def descendants() -> dict[int, str]:
    """pid → command name of our live descendant processes (zombies count as gone)."""
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = stat_path.read_text()
        except OSError:
            continue
        name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        state, parent = rest.split()[:2]
        if state != "Z":
            pid = int(stat_path.parent.name)
            children.setdefault(int(parent), []).append(pid)
            names[pid] = name
    found: dict[int, str] = {}
    pending = [os.getpid()]
    while pending:
        for child in children.get(pending.pop(), []):
            found[child] = names[child]
            pending.append(child)
    return found


async def wait_until(condition: Callable[[], object], what: str) -> None:
    with trio.move_on_after(TIMEOUT) as timeout:
        while not condition():
            await trio.sleep(0.05)
    assert not timeout.cancelled_caught, f"timed out waiting for {what}"


async def test_xvfb_serves_the_session_and_stops_both() -> None:
    require_programs("Xvfb", "xterm")
    before = set(descendants())
    wanted = source_config("xvfb", geometry=(800, 600), command="xterm -geometry 40x10+0+0")
    async with open_source(wanted) as source:
        assert isinstance(source, X11Source)
        assert source.size == (800, 600)
        assert source.display.startswith(":")
        await wait_until(lambda: source.capture()[20, 20, :3].any(), "xterm on the screen")
        started = {pid: name for pid, name in descendants().items() if pid not in before}
        assert {"Xvfb", "xterm"} <= set(started.values())
        assert source.capture().shape == (600, 800, 4)
    assert not set(started) & set(descendants())


async def test_xvfb_outlives_its_session(caplog: pytest.LogCaptureFixture) -> None:
    require_programs("Xvfb")
    caplog.set_level(logging.WARNING, "vncd.sources.xvfb")
    async with open_source(source_config("xvfb", command="true")) as source:
        await wait_until(lambda: "still serving" in caplog.text, "the session's exit warning")
        assert source.capture().shape == (200, 320, 4)


async def test_xvfb_stops_on_cancellation() -> None:
    require_programs("Xvfb", "xterm")
    before = set(descendants())
    with trio.CancelScope() as scope:
        async with open_source(source_config("xvfb", command="xterm")):
            await wait_until(
                lambda: "xterm" in {descendants().get(pid) for pid in set(descendants()) - before},
                "xterm",
            )
            started = set(descendants()) - before
            scope.cancel()
            await trio.sleep(TIMEOUT)
    assert scope.cancelled_caught
    assert not started & set(descendants())


async def test_xvfb_with_a_missing_command_fails_cleanly() -> None:
    require_programs("Xvfb")
    before = set(descendants())
    with pytest.raises(SourceError, match="no-such-program"):
        async with open_source(source_config("xvfb", command="no-such-program --flag")):
            pass
    assert set(descendants()) <= before


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"command": "xterm -e 'unbalanced"}, "session command")],
)
async def test_xvfb_refuses_bad_settings(overrides: dict, message: str) -> None:
    require_programs("Xvfb")
    with pytest.raises(SourceError, match=message):
        async with open_source(source_config("xvfb", **overrides)):
            pass
