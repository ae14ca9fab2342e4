"""X clients and viewer commands that the interop and browser tests share."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import Xlib.display
from PIL import Image
from Xlib import X

from tests.requirements import program_path, require_programs

from .xpaint import paint_root, varied_scene


def x(display: str, *command: str) -> subprocess.Popen:
    """Start an X client on ``display``."""
    return subprocess.Popen(
        list(command), env={**os.environ, "DISPLAY": display}, stdout=subprocess.DEVNULL
    )


def vncdo(port: int, *actions: str, password: str | None = None) -> None:
    """Run vncdotool's `vncdo` command (installed into the venv) against 127.0.0.1::port."""
    command = [program_path("vncdo"), "-s", f"127.0.0.1::{port}"]
    if password is not None:
        command += ["-p", password]
    subprocess.run([*command, *actions], check=True, timeout=60)


def load_rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@contextlib.contextmanager
def busy_desktop(display: str, scene: np.ndarray | None = None) -> Iterator[None]:
    """A root window of ``scene`` (by default gradients and noise) and an xterm full of text:
    varied pixels, until the block ends."""
    paint_root(display, varied_scene(1024, 768) if scene is None else scene)
    terminal = x(
        display, "xterm", "-geometry", "70x20+40+30", "-e", "sh", "-c", "ls -la /usr; sleep 600"
    )
    try:
        subprocess.run(
            ["xdotool", "mousemove", "1023", "767"], env={**os.environ, "DISPLAY": display}
        )
        time.sleep(1.5)
        yield
    finally:
        terminal.kill()
        terminal.wait()


@contextlib.contextmanager
def typing_terminal(display: str, typed: Path) -> Iterator[None]:
    """An xterm at the top left whose keyboard input goes to the file ``typed``, until the
    block ends (no window manager: it has the focus while the pointer is over it)."""
    terminal = x(display, "xterm", "-geometry", "80x10+0+0", "-e", "sh", "-c", f"cat > {typed}")
    try:
        yield
    finally:
        terminal.kill()
        terminal.wait()


def wait_for_line(path: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not path.read_text().endswith("\n"):
        time.sleep(0.1)


@contextlib.contextmanager
def button_recorder(
    display: str, box: tuple[int, int, int, int]
) -> Iterator[Callable[[int], list]]:
    """A window over ``box`` (x, y, width, height) recording button events; yields ``take(n)``,
    which waits for the next n as (press or release, button, root x, root y). X reports events
    in order, so an unwanted one shows up in place of the one expected."""
    client = Xlib.display.Display(display)
    window = client.screen().root.create_window(
        *box, 0, X.CopyFromParent,
        override_redirect=True, event_mask=X.ButtonPressMask | X.ButtonReleaseMask,
    )  # fmt: skip
    window.map()
    client.sync()

    def take(count: int, timeout: float = 10.0) -> list:
        events: list[tuple[str, int, int, int]] = []
        deadline = time.monotonic() + timeout
        while len(events) < count and time.monotonic() < deadline:
            if not client.pending_events():
                time.sleep(0.01)
                continue
            event = client.next_event()
            if event.type in (X.ButtonPress, X.ButtonRelease):
                kind = "press" if event.type == X.ButtonPress else "release"
                events.append((kind, event.detail, event.root_x, event.root_y))
        return events

    try:
        yield take
    finally:
        client.close()


def set_monitors(display: str, *boxes: tuple[int, int, int, int]) -> None:
    """Divide ``display``'s screen into RandR 1.5 monitors at ``boxes`` (x, y, width, height),
    as Xinerama or a second screen would (mss numbers them 1, 2, … in this order). The first
    takes over the screen's one output, so no monitor covers the whole screen."""
    for number, (left, top, width, height) in enumerate(boxes):
        output = "screen" if number == 0 else "none"
        geometry = f"{width}/{width}x{height}/{height}+{left}+{top}"
        subprocess.run(
            ["xrandr", "--setmonitor", f"m{number}", geometry, output],
            env={**os.environ, "DISPLAY": display},
            check=True,
            capture_output=True,
        )


@contextlib.contextmanager
def focused_xterm(display: str, typed: Path, sent_events: bool) -> Iterator[None]:
    """An xterm with the input focus whose keyboard input lands in ``typed``. pynput types
    characters with XSendEvent to the focused window: xterm takes them only with
    ``allowSendEvents``, and someone (here xdotool, on a desktop its window manager) must give
    it the focus."""
    require_programs("xterm", "xdotool")
    env = {**os.environ, "DISPLAY": display, "LC_ALL": "C.UTF-8"}
    command = ["xterm", "-u8", "-geometry", "60x10+0+0"]
    if sent_events:
        command += ["-xrm", "XTerm*allowSendEvents: true"]
    xterm = subprocess.Popen([*command, "-e", "sh", "-c", f"cat > {typed}"], env=env)
    try:
        subprocess.run(
            ["xdotool", "search", "--sync", "--onlyvisible", "--class", "xterm", "windowfocus"],
            env=env,
            check=True,
            capture_output=True,
            timeout=15,
        )
        yield
    finally:
        xterm.kill()
        xterm.wait()
