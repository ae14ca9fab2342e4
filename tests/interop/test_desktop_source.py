"""`vncd run` with the desktop source (mss + pynput) on a real Xvfb split into two RandR
monitors, with real viewers: gvnccapture's picture against `xwd -root`, keys typed with
vncdotool in an xterm, its clicks and wheel on an X window, and a monitor that is not there."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.requirements import require_programs
from tests.vncd._xvfb import private_xvfb, wait_for

from .vncd_process import VNC_DISPLAY_PORTS, VncdProcess
from .xclients import button_recorder, focused_xterm, load_rgb, set_monitors, vncdo
from .xpaint import paint_root, varied_scene
from .xwd import xwd_root

pytestmark = pytest.mark.interop

WIDTH, HEIGHT = 1120, 480
LEFT = (0, 0, 640, 480)  # monitor 1: x, y, width, height
RIGHT = (640, 60, 480, 360)  # monitor 2
WHOLE = (0, 0, WIDTH, HEIGHT)  # monitor 0: all of them
TIMEOUT = 15.0


@pytest.fixture(scope="module")
def screen() -> Iterator[str]:
    """Two monitors side by side showing a varied scene; the pointer where no test looks."""
    require_programs("xrandr")
    with private_xvfb(WIDTH, HEIGHT) as display:
        set_monitors(display, LEFT, RIGHT)
        paint_root(display, varied_scene(WIDTH, HEIGHT))
        yield display


@contextlib.contextmanager
def desktop_vncd(directory: Path, display: str, monitor: int = 0) -> Iterator[int]:
    """`vncd run` serving ``display``'s ``monitor`` with the desktop source (which, as on
    Windows and macOS, serves the desktop it runs on: here $DISPLAY); yields its port."""
    server = VncdProcess(
        directory / f"vncd-desktop-{monitor}",
        f'[source]\nkind = "desktop"\nmonitor = {monitor}\n',
        env={**os.environ, "DISPLAY": display},
    )
    server.start_in(VNC_DISPLAY_PORTS)
    try:
        yield server.port
    finally:
        server.stop()


def region(rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, width, height = box
    return rgb[y : y + height, x : x + width]


@pytest.mark.parametrize(("monitor", "box"), [(0, WHOLE), (1, LEFT), (2, RIGHT)])
def test_gvnccapture_sees_the_monitor_pixel_exact(
    screen: str, tmp_path: Path, monitor: int, box: tuple[int, int, int, int]
) -> None:
    """The desktop source draws no pointer (mss has none in its pixels, and the source
    reports no shape), so the truth is `xwd -root` as it is."""
    with desktop_vncd(tmp_path, screen, monitor) as port:
        shot = tmp_path / "gvnc.png"
        subprocess.run(
            ["gvnccapture", f"127.0.0.1:{port - 5900}", str(shot)],
            check=True,
            timeout=60,
            capture_output=True,
        )
        truth = region(xwd_root(screen), box)
        assert len(np.unique(truth.reshape(-1, 3), axis=0)) > 1000  # a varied scene
        np.testing.assert_array_equal(load_rgb(shot), truth)


def test_keys_typed_in_a_viewer_reach_an_xterm(screen: str, tmp_path: Path) -> None:
    """Non-ASCII characters too (vncdotool sends Latin-1 keysyms; the layout has none of
    them: pynput binds them to a spare keycode). pynput types characters with XSendEvent to
    the focused window: the xterm accepts sent events and xdotool focuses it (a window
    manager's job on a real desktop)."""
    typed = tmp_path / "typed.txt"
    with focused_xterm(screen, typed, sent_events=True), desktop_vncd(tmp_path, screen) as port:
        vncdo(port, "type", "Grüße, é! 42", "key", "shift-a", "key", "enter")
        wait_for(lambda: typed.exists() and typed.read_bytes().endswith(b"\n"), "a line")
    assert typed.read_bytes().decode() == "Grüße, é! 42A\n"


def test_clicks_and_the_wheel_arrive_on_the_monitor(screen: str, tmp_path: Path) -> None:
    """vncdotool clicks buttons 1-3 and the wheel (4, 5) at (10, 20) of monitor 2, which is
    (650, 80) of the X screen."""
    with button_recorder(screen, RIGHT) as take, desktop_vncd(tmp_path, screen, 2) as port:
        actions = ("click", "1", "click", "2", "click", "3", "click", "4", "click", "5")
        vncdo(port, "move", "10", "20", *actions)
        events = take(10)
    assert events == [
        (kind, button, 650, 80) for button in (1, 2, 3, 4, 5) for kind in ("press", "release")
    ]


def test_a_monitor_that_is_not_there_stops_vncd(screen: str, tmp_path: Path) -> None:
    config = tmp_path / "vncd.toml"
    config.write_text('[server]\nport = 0\n[source]\nkind = "desktop"\nmonitor = 3\n')
    run = subprocess.run(
        [sys.executable, "-m", "vncd", "run", str(config)],
        env={**os.environ, "DISPLAY": screen},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert (
        "vncd: error: source.monitor = 3: this desktop has 2 monitors; use 0 (all of them as "
        "one framebuffer) or 1..2"
    ) in run.stderr.splitlines()
