"""Tight security (type 16) with real viewers on a second Xvfb: TightVNC's own
(xtightvncviewer 1.3.10) decodes the served screen pixel for pixel after Tight + VNC
authentication, refuses a server that offers only Unix login inside Tight (it does not
implement it) and reports a wrong password; ssvnc's viewer (ssvncviewer 1.0.29, TightVNC
1.3 grown) logs in by name and decodes the screen too."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.requirements import require_programs
from tests.vncd._xvfb import private_xvfb, wait_for
from tests.vncd.userfiles import users_file
from vncd.passwords import write_password_file

from .desktop import SIZE, describe_difference
from .vncd_process import VNC_DISPLAY_PORTS, VncdProcess, vncd_launcher, x11_source
from .xclients import busy_desktop
from .xpointer import with_pointer
from .xwd import xwd_root

pytestmark = pytest.mark.interop

PASSWORD = "s3cret"
USER_PASSWORD = "annes-pw"
#: xwininfo's tree line ends with "WxH+x+y  +absx+absy"; the absolute position is last.
_GEOMETRY = re.compile(r"(\d+)x(\d+)[+-]-?\d+[+-]-?\d+\s+\+(-?\d+)\+(-?\d+)")


@pytest.fixture
def tight_vncd(tmp_path: Path) -> Iterator[Callable[..., tuple[str, VncdProcess]]]:
    """``start(password=True, users=True)``: a busy desktop on its own Xvfb served by vncd
    offering only Tight, with a password and a users file (anne) as asked; (display, vncd)."""
    with (
        private_xvfb(*SIZE) as display,
        busy_desktop(display),
        vncd_launcher(tmp_path) as launch,
    ):

        def start(*, password: bool = True, users: bool = True) -> tuple[str, VncdProcess]:
            config = f'password = "{PASSWORD}"\n' if password else ""
            config += x11_source(display) + '[security]\ntypes = ["Tight"]\n'
            if users:
                config += (
                    f'users_file = "{users_file(tmp_path / "users", {"anne": USER_PASSWORD})}"\n'
                )
            return display, launch(config, VNC_DISPLAY_PORTS)

        yield start


@contextlib.contextmanager
def tight_viewer(program: str, port: int, *options: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """A TightVNC-family viewer on its own Xvfb: Tight encoding without JPEG (lossless), no
    cursor shape (vncd draws the pointer in), no input; its messages go to a pipe."""
    require_programs(program)
    with private_xvfb(SIZE[0] + 64, SIZE[1] + 64) as display:
        process = subprocess.Popen(
            [
                program,
                "-display",
                display,
                "-viewonly",
                "-encodings",
                "tight copyrect",
                "-nojpeg",
                "-nocursorshape",
                *options,
                f"127.0.0.1::{port}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            yield display, process
        finally:
            stop(process)


def stop(process: subprocess.Popen) -> str:
    """End the viewer; what it printed."""
    if process.poll() is None:
        process.terminate()
    try:
        output, _ = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output


def picture(display: str) -> np.ndarray | None:
    """The remote desktop as the viewer's window shows it, once a window of its size is up
    (with no window manager, wherever the toolkit put it)."""
    tree = subprocess.run(
        ["xwininfo", "-root", "-tree", "-display", display],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for line in tree.splitlines():
        match = _GEOMETRY.search(line)
        if match and (int(match[1]), int(match[2])) == SIZE:
            x, y = int(match[3]), int(match[4])
            return xwd_root(display)[y : y + SIZE[1], x : x + SIZE[0]]
    return None


def wait_for_log(server: VncdProcess, text: str, timeout: float = 15) -> str:
    assert server.log_path is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in (log := server.log_path.read_text()):
            return log
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in vncd's log:\n{server.log_path.read_text()}")


def assert_shows(served: str, display: str, viewer: subprocess.Popen) -> None:
    """The viewer on ``display`` comes to show ``served`` pixel for pixel (pointer drawn in)."""
    truth = with_pointer(served, xwd_root(served))
    deadline = time.monotonic() + 30
    shown = None
    while time.monotonic() < deadline and viewer.poll() is None:
        shown = picture(display)
        if shown is not None and np.array_equal(shown, truth):
            return
        time.sleep(0.2)
    raise AssertionError(describe_difference(shown, truth) + "\n" + stop(viewer))


def test_tightvnc_viewer_decodes_the_screen_after_tight_and_vnc_auth(tight_vncd, tmp_path):
    """Unix login is offered first; the viewer skips it and takes VNC authentication."""
    served, server = tight_vncd()
    password_file = tmp_path / "passwd"
    write_password_file(password_file, PASSWORD)
    with tight_viewer("xtightvncviewer", server.port, "-passwd", str(password_file)) as (
        display,
        viewer,
    ):
        assert_shows(served, display, viewer)
        output = stop(viewer)
    assert "Enabling TightVNC protocol extensions" in output, output
    assert "Performing standard VNC authentication" in output, output
    wait_for_log(server, "connected (RFB 3.8")


def test_tightvnc_viewer_does_not_do_unix_login(tight_vncd, tmp_path):
    """TightVNC 1.3's Unix viewer implements only none and VNC authentication inside Tight:
    offered Unix login alone, it gives up, and vncd admits nobody."""
    _, server = tight_vncd(password=False)
    password_file = tmp_path / "passwd"
    write_password_file(password_file, PASSWORD)
    with tight_viewer("xtightvncviewer", server.port, "-passwd", str(password_file)) as (
        _,
        viewer,
    ):
        viewer.wait(15)
        output = stop(viewer)
    assert "No suitable authentication schemes offered by server" in output, output
    log = wait_for_log(server, "refused: the viewer closed the connection during Tight")
    assert "connected (RFB" not in log


def test_tightvnc_viewer_is_told_a_wrong_password(tight_vncd, tmp_path):
    _, server = tight_vncd()
    password_file = tmp_path / "passwd"
    write_password_file(password_file, "wrong")
    with tight_viewer("xtightvncviewer", server.port, "-passwd", str(password_file)) as (
        _,
        viewer,
    ):
        viewer.wait(15)
        output = stop(viewer)
    log = wait_for_log(server, "refused: authentication failed")
    assert "connected (RFB" not in log
    assert "authentication failed" in output, output


def type_into_password_dialog(display: str, text: str) -> None:
    """ssvncviewer asks for the login's password in a small X dialog: wait for it, point
    at it (no window manager gives it focus) and type."""
    environment = {**os.environ, "DISPLAY": display}

    def dialog() -> list[str]:
        found = subprocess.run(
            ["xdotool", "search", "--name", "passwordDialog"],
            env=environment,
            capture_output=True,
            text=True,
        )
        return found.stdout.split()

    wait_for(dialog, "ssvncviewer's password dialog", timeout=15)
    window = dialog()[0]
    subprocess.run(["xdotool", "mousemove", "--window", window, "60", "35"], env=environment)
    subprocess.run(["xdotool", "type", "--delay", "20", text], env=environment, check=True)
    subprocess.run(["xdotool", "key", "Return"], env=environment, check=True)


def test_ssvnc_viewer_logs_in_by_name_and_decodes_the_screen(tight_vncd):
    """Only Unix login offered (no password): ssvncviewer -user sends the name and the
    password typed into its dialog."""
    served, server = tight_vncd(password=False)
    with tight_viewer("ssvncviewer", server.port, "-user", "anne") as (display, viewer):
        type_into_password_dialog(display, USER_PASSWORD)
        assert_shows(served, display, viewer)
        output = stop(viewer)
    assert "Performing Unix login-style authentication" in output, output
    wait_for_log(server, "connected (RFB 3.8")


def test_ssvnc_viewer_wrong_login_is_refused(tight_vncd):
    _, server = tight_vncd(password=False)
    with tight_viewer("ssvncviewer", server.port, "-user", "anne") as (display, viewer):
        type_into_password_dialog(display, "wrong")
        log = wait_for_log(server, "refused: authentication failed (user 'anne')")
        time.sleep(1)
        output = stop(viewer)
    assert "connected (RFB" not in log
    assert "Authentication failed" in output, output  # its own words: it shows no reason
