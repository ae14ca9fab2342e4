"""vncd with real viewers (vncdotool, gtk-vnc's gvnccapture) on a real Xvfb."""

from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest

from .vncd_process import x11_source
from .xclients import busy_desktop, load_rgb, typing_terminal, vncdo, wait_for_line
from .xwd import xwd_root


def test_vncdotool_capture_is_pixel_exact(xvfb, start_vncd, tmp_path):
    with busy_desktop(xvfb):
        port = start_vncd(x11_source(xvfb))
        shot = tmp_path / "vncdo.png"
        vncdo(port, "capture", str(shot))
        truth = xwd_root(xvfb)
        assert truth.shape == (768, 1024, 3)
        assert len(np.unique(truth.reshape(-1, 3), axis=0)) > 1000  # the scene really is varied
        np.testing.assert_array_equal(load_rgb(shot), truth)


def test_gvnccapture_is_pixel_exact(xvfb, start_vncd, tmp_path):
    with busy_desktop(xvfb):
        port = start_vncd(x11_source(xvfb))
        shot = tmp_path / "gvnc.png"
        subprocess.run(
            ["gvnccapture", f"127.0.0.1:{port - 5900}", str(shot)],
            check=True,
            timeout=60,
            capture_output=True,
        )
        np.testing.assert_array_equal(load_rgb(shot), xwd_root(xvfb))


def test_passwords_full_view_only_and_wrong(xvfb, start_vncd, tmp_path):
    typed = tmp_path / "typed.txt"
    with typing_terminal(xvfb, typed):
        time.sleep(1.5)
        port = start_vncd('password = "s3cret"\nview_only_password = "look"\n' + x11_source(xvfb))
        with pytest.raises(subprocess.CalledProcessError):
            vncdo(port, "capture", str(tmp_path / "no.png"), password="wrong")
        vncdo(port, "move", "100", "60", "type", "ignored", "key", "enter", password="look")
        vncdo(port, "move", "100", "60", "type", "typed", "key", "enter", password="s3cret")
        wait_for_line(typed)
        assert typed.read_text() == "typed\n"


def test_keys_typed_in_a_viewer_reach_an_xterm(xvfb, start_vncd, tmp_path):
    typed = tmp_path / "typed.txt"
    with typing_terminal(xvfb, typed):
        time.sleep(1.5)
        port = start_vncd(x11_source(xvfb))
        # No window manager: keyboard focus follows the pointer, so point at the xterm.
        vncdo(port, "move", "100", "60", "type", "Hello, VNC! 42", "key", "enter")
        wait_for_line(typed)
        assert typed.read_text() == "Hello, VNC! 42\n"


def test_xvfb_source_serves_its_session_command(start_vncd, tmp_path):
    port = start_vncd('[source]\nkind = "xvfb"\ngeometry = "800x600"\ncommand = "xterm"\n')
    time.sleep(1.0)
    shot = tmp_path / "xvfb.png"
    vncdo(port, "capture", str(shot))
    pixels = load_rgb(shot)
    assert pixels.shape == (600, 800, 3)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) >= 2  # the xterm is on the screen


def test_demo_source_reacts_to_typing_and_drawing(start_vncd, tmp_path):
    port = start_vncd('[source]\nkind = "demo"\ngeometry = "800x600"\n')
    before, after = tmp_path / "before.png", tmp_path / "after.png"
    vncdo(port, "capture", str(before))
    vncdo(port, "type", "hello demo", "move", "500", "400", "mousedown", "1", "move", "600", "450")
    vncdo(port, "mouseup", "1")
    vncdo(port, "capture", str(after))
    first, second = load_rgb(before), load_rgb(after)
    assert first.shape == second.shape == (600, 800, 3)
    # The keyboard pad (left half, below the title bar) shows the typed text...
    pad = (first[60:560, 20:300] != second[60:560, 20:300]).any(axis=2)
    assert pad.sum() > 100
    # ...and the canvas has a dark stroke through the middle of the drag.
    middle = second[415:436, 540:561].astype(int).sum(axis=2)
    assert middle.min() < 200 and first[415:436, 540:561].astype(int).sum(axis=2).min() > 600
