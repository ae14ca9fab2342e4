"""The clipboard with real viewers on a real Xvfb, checked with xclip on both sides: TigerVNC's
viewer over the Extended Clipboard (UTF-8, both ways, recorded by an RFB tap), vncdotool over
classic cut text (Latin-1, both ways)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol import ClientCutText, ServerCutText
from protocol.clipboard import ClipboardCaps, ClipboardProvide, provided_text
from tests.requirements import program_path, require_programs
from tests.vncd._xvfb import wait_for
from tests.vncd.xclipboard import clipboard_bytes, copied

from .rfbtap import rfb_tap
from .tigervnc import tigervnc_viewer
from .vncd_process import VNC_DISPLAY_PORTS, VncdProcess, vncd_launcher, x11_source

pytestmark = pytest.mark.interop

TIMEOUT = 10.0
SIZE = (1024, 768)  # the interop Xvfb's


@pytest.fixture
def server(xvfb: str, tmp_path: Path) -> Iterator[VncdProcess]:
    """vncd serving the interop Xvfb, with its log at hand (to see viewers join)."""
    require_programs("xclip")
    with vncd_launcher(tmp_path) as start:
        yield start(x11_source(xvfb), VNC_DISPLAY_PORTS)


def pasted_on(display: str, text: str) -> str:
    """What an X client on ``display`` pastes, once it is ``text`` or the time is up."""
    deadline = time.monotonic() + TIMEOUT
    while (pasted := clipboard_bytes(display).decode()) != text and time.monotonic() < deadline:
        time.sleep(0.1)
    return pasted


def wait_for_viewers(server: VncdProcess, count: int) -> None:
    """Until ``count`` viewers have connected (vncd's log says so), and a moment more for
    their sessions to start watching the clipboard."""
    assert server.log_path is not None
    wait_for(lambda: server.log_path.read_text().count(": connected (RFB") >= count, "a viewer")
    time.sleep(0.5)


# --- TigerVNC's viewer: the Extended Clipboard -------------------------------------------------


def test_tigervnc_viewer_exchanges_non_latin_text(xvfb: str, server: VncdProcess) -> None:
    """The viewer only uses the clipboard while its window has the focus (Viewport.cxx), so
    the test gives it the focus as a person would by clicking into it."""
    require_programs("xtigervncviewer", "xdotool")
    from_viewer = "Grüße, мир, 東京 ✓\nfrom TigerVNC"
    from_desktop = "Grüße, мир, 東京 ✓\nfrom the desktop"
    with (
        rfb_tap(server.port) as tap,
        tigervnc_viewer(tap.port, SIZE, "-ViewOnly=0") as viewer,
    ):
        wait_for(lambda: viewer.window() is not None, "the viewer's window", timeout=20)
        # Until our caps reach it the viewer may only use classic (Latin-1) cut text.
        wait_for(
            lambda: any(
                isinstance(m.event, ClipboardCaps) and not m.from_viewer
                for m in tap.only_recording().messages
            ),
            "vncd's clipboard caps at the viewer",
        )
        subprocess.run(
            ["xdotool", "search", "--name", "TigerVNC", "windowfocus"],
            env={**os.environ, "DISPLAY": viewer.display},
            check=True,
            timeout=TIMEOUT,
        )
        with copied(viewer.display, "xclip", from_viewer.encode()):
            assert pasted_on(xvfb, from_viewer) == from_viewer
        with copied(xvfb, "xclip", from_desktop.encode()):
            assert pasted_on(viewer.display, from_desktop) == from_desktop
    messages = tap.only_recording().messages
    provides = [m for m in messages if isinstance(m.event, ClipboardProvide)]
    assert [(m.from_viewer, provided_text(m.event)) for m in provides] == [
        (True, from_viewer),
        (False, from_desktop),
    ]
    assert not [m for m in messages if isinstance(m.event, (ClientCutText, ServerCutText))]


# --- vncdotool: classic cut text -------------------------------------------------------------


def test_vncdotool_pastes_latin1_text_on_the_desktop(xvfb: str, server: VncdProcess) -> None:
    text = "Señor, déjà vu ½\nsecond line"
    subprocess.run(
        [program_path("vncdo"), "-s", f"127.0.0.1::{server.port}", "pastefile", "-"],
        input=text.encode(),
        check=True,
        timeout=60,
    )
    assert pasted_on(xvfb, text) == text


@contextlib.contextmanager
def vncdo_listening(server: VncdProcess, seconds: float) -> Iterator[subprocess.Popen]:
    """vncdotool connected for ``seconds``, logging (-v) each ServerCutText it receives as
    "clipboard copy 'TEXT'" on its stderr."""
    process = subprocess.Popen(
        [program_path("vncdo"), "-v", "-s", f"127.0.0.1::{server.port}", "pause", str(seconds)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    try:
        yield process
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(seconds + 30)
        process.kill()
        process.wait()


def test_vncdotool_receives_the_desktops_text_as_latin1(xvfb: str, server: VncdProcess) -> None:
    """Latin-1 arrives unchanged; what Latin-1 lacks arrives as "?"."""
    with vncdo_listening(server, 4) as vncdo:
        wait_for_viewers(server, 1)
        with copied(xvfb, "xclip", "Grüße, déjà vu ½ — мир\nline 2".encode()):
            assert vncdo.wait(30) == 0
            log = vncdo.stderr.read()
    assert "clipboard copy 'Grüße, déjà vu ½ ? ???\\nline 2'" in log, log
