"""vncd with real viewers (vncdotool, gtk-vnc's gvnccapture) on a real Xvfb."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from .vncd_process import x11_source
from .xclients import busy_desktop, load_rgb, typing_terminal, vncdo, wait_for_line
from .xpointer import with_pointer
from .xwd import xwd_root

pytestmark = pytest.mark.interop


def test_vncdotool_capture_is_pixel_exact(xvfb, start_vncd, tmp_path):
    with busy_desktop(xvfb):
        port = start_vncd(x11_source(xvfb))
        shot = tmp_path / "vncdo.png"
        vncdo(port, "capture", str(shot))
        truth = with_pointer(xvfb, xwd_root(xvfb))  # vncdotool lists no cursor shape
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
        # gvnccapture lists no cursor shape: it is shown the pointer drawn in.
        np.testing.assert_array_equal(load_rgb(shot), with_pointer(xvfb, xwd_root(xvfb)))


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


def settled_screen(port: int, shot: Path) -> np.ndarray:
    """A capture equal to the one before it: what the session draws has been drawn (and
    vncdo's first screenshot may come before the first update is complete)."""
    previous = None
    for _ in range(20):
        vncdo(port, "capture", str(shot))
        current = load_rgb(shot)
        if previous is not None and np.array_equal(current, previous):
            return current
        previous = current
    raise AssertionError("the screen kept changing")


def changed_cells(before: np.ndarray, after: np.ndarray, count: int) -> list[np.ndarray]:
    """The ``count`` character cells, left to right, of a line to which ``count`` characters
    were typed: the changed area is those cells and the cursor's new one, all in one row."""
    changed = (before != after).any(axis=2)
    rows, columns = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
    assert rows.size, "typing changed nothing on the screen"
    top, height = rows[0], rows[-1] - rows[0] + 1
    left, width = columns[0], columns[-1] - columns[0] + 1
    assert width % (count + 1) == 0, f"{width} px changed: not {count + 1} equal cells"
    cell = width // (count + 1)
    assert cell <= height <= 3 * cell, f"{width}x{height} px changed: not one line of text"
    line = after[top : top + height, left : left + width]
    return [line[:, i * cell : (i + 1) * cell] for i in range(count)]


def test_xvfb_source_serves_its_session_command(start_vncd, tmp_path):
    """The private Xvfb's xterm is what viewers see: the characters typed into it appear on
    the screen as the glyphs of the text, "xoxo...": every x cell alike, every o cell alike,
    the two different, each with ink on paper."""
    # vncdo lists no cursor shape, so its pictures show the pointer: an xterm that does not
    # hide it while one types keeps it the same in both. `cat` echoes at once, where a shell
    # still starting up echoes typed-ahead keys in bursts.
    port = start_vncd(
        '[source]\nkind = "xvfb"\ngeometry = "800x600"\n'
        "command = \"xterm -xrm 'XTerm*pointerMode: 0' -e cat\"\n"
    )
    vncdo(port, "move", "100", "60")  # no window manager: the xterm has the focus under it
    before = settled_screen(port, tmp_path / "before.png")
    assert before.shape == (600, 800, 3)
    vncdo(port, "type", "xo" * 6)
    cells = changed_cells(before, settled_screen(port, tmp_path / "after.png"), 12)
    x_glyph, o_glyph = cells[0], cells[1]
    assert all(np.array_equal(cell, x_glyph) for cell in cells[0::2])
    assert all(np.array_equal(cell, o_glyph) for cell in cells[1::2])
    assert not np.array_equal(x_glyph, o_glyph)
    for glyph in (x_glyph, o_glyph):
        assert len(np.unique(glyph.reshape(-1, 3), axis=0)) == 2  # ink and paper


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
