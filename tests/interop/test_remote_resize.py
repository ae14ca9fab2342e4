"""SetDesktopSize from TigerVNC's viewer (``-RemoteResize``) against vncd serving its own Xvfb:
the Xvfb's screen takes the viewer's window size (xdpyinfo says so), the other viewers follow,
and ``[source] resize`` decides who may ask."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.vncd._xvfb import wait_for
from tests.vncd.test_resize_x11 import dimensions, xrandr

from .tigervnc import TigerViewer, tigervnc_viewer
from .vncd_process import VncdProcess, vncd_launcher
from .xclients import load_rgb, vncdo

pytestmark = pytest.mark.interop

START = (800, 600)
#: vncd's log line once its Xvfb runs (vncd/sources/xvfb.py).
XVFB_STARTED = re.compile(r"Xvfb started on (:[0-9]+)")
#: TigerVNC's viewer asks for its window's size (when it connects, and when the window is
#: resized); the quiet options stay, so the only message it sends besides is SetDesktopSize.
RESIZING = ("-RemoteResize=1",)


def xvfb_source(policy: str) -> str:
    width, height = START
    return f'[source]\nkind = "xvfb"\ngeometry = "{width}x{height}"\nresize = "{policy}"\n'


def served_display(server: VncdProcess) -> str:
    """The display of the Xvfb that ``server`` started, from its log."""
    assert server.log_path is not None
    found = XVFB_STARTED.search(server.log_path.read_text())
    assert found, "vncd did not log its Xvfb's display"
    return found[1]


def wait_for_answer(server: VncdProcess, size: tuple[int, int], status: str) -> None:
    """Until vncd logged its answer to a SetDesktopSize of ``size``."""
    line = f"asked for {size[0]}x{size[1]}: {status}"
    wait_for(lambda: line in server.log_path.read_text(), line, timeout=20)


def wait_for_screen(display: str, size: tuple[int, int]) -> None:
    wait_for(lambda: dimensions(display) == size, f"{display} at {size}", timeout=20)


def window_size(viewer: TigerViewer) -> tuple[int, int] | None:
    """The size of the viewer's window (it follows the remote desktop's size)."""
    found = subprocess.run(
        ["xdotool", "search", "--name", "TigerVNC"],
        env={"DISPLAY": viewer.display},
        capture_output=True,
        text=True,
    ).stdout.split()
    if not found:
        return None
    geometry = subprocess.run(
        ["xdotool", "getwindowgeometry", found[0]],
        env={"DISPLAY": viewer.display},
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r"Geometry: (\d+)x(\d+)", geometry)
    return (int(match[1]), int(match[2])) if match else None


def resize_window(viewer: TigerViewer, size: tuple[int, int]) -> None:
    """What a user does by dragging the window's corner (no window manager here)."""
    window = subprocess.run(
        ["xdotool", "search", "--name", "TigerVNC"],
        env={"DISPLAY": viewer.display},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[0]
    subprocess.run(
        ["xdotool", "windowsize", window, *map(str, size)],
        env={"DISPLAY": viewer.display},
        check=True,
    )


def captured_size(port: int, path: Path) -> tuple[int, int]:
    """The desktop's size as a viewer connecting now sees it (vncdotool's picture)."""
    vncdo(port, "capture", str(path))
    height, width, _ = load_rgb(path).shape
    return width, height


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[str], VncdProcess]]:
    """``serve(policy)``: vncd serving a START Xvfb with that resize policy."""
    with vncd_launcher(tmp_path) as start:
        yield lambda policy: start(xvfb_source(policy))


def test_tigervnc_resizes_the_xvfb_and_every_viewer_follows(serve, tmp_path: Path) -> None:
    server = serve("any")
    display = served_display(server)
    assert dimensions(display) == START
    with tigervnc_viewer(server.port, START) as watcher:
        wait_for(lambda: window_size(watcher) == START, "the watching viewer's window")
        with tigervnc_viewer(server.port, (1000, 700), *RESIZING) as asker:
            wait_for_screen(display, (1000, 700))
            wait_for(lambda: window_size(watcher) == (1000, 700), "the watcher to follow")
            resize_window(asker, (900, 650))
            wait_for_screen(display, (900, 650))
            wait_for(lambda: window_size(watcher) == (900, 650), "the watcher to follow again")
            assert captured_size(server.port, tmp_path / "later.png") == (900, 650)
    wait_for_answer(server, (900, 650), "OK")


def test_under_first_a_later_viewer_is_refused_until_the_first_leaves(serve) -> None:
    server = serve("first")
    display = served_display(server)
    with tigervnc_viewer(server.port, START) as first:
        wait_for(lambda: window_size(first) is not None, "the first viewer's window")
        with tigervnc_viewer(server.port, (1000, 700), *RESIZING) as later:
            wait_for_answer(server, (1000, 700), "PROHIBITED")
            assert dimensions(display) == START
            first.process.terminate()  # the first viewer leaves: the later one is first now
            first.process.wait(5)
            resize_window(later, (900, 650))
            wait_for_screen(display, (900, 650))
            assert later.process.poll() is None, "a refusal must not end the session"


def test_under_none_every_request_is_refused(serve) -> None:
    server = serve("none")
    display = served_display(server)
    assert f"maximum {START[0]} x {START[1]}" in xrandr(display)  # no room kept to grow
    with tigervnc_viewer(server.port, (1000, 700), *RESIZING) as asker:
        wait_for_answer(server, (1000, 700), "PROHIBITED")
        assert dimensions(display) == START
        assert asker.process.poll() is None
