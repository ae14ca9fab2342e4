"""Recordings of real viewers on a real Xvfb (vncd.recording), played back (vncd replay) to
another real viewer and decoded into PNG files: every way ends on the recorded screen."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from protocol.encodings import Encoding
from tests.requirements import require_programs
from vncd.replay import Playback

from .tigervnc import tigervnc_viewer
from .vncd_process import LISTENING, STARTUP_SECONDS, VNC_DISPLAY_PORTS, vncd_launcher, x11_source
from .xclients import busy_desktop, load_rgb, vncdo
from .xwd import xwd_root

pytestmark = pytest.mark.interop


def recording_config(display: str, directory: Path) -> str:
    return x11_source(display) + f'[recording]\ndirectory = "{directory}"\nsessions = "all"\n'


@contextlib.contextmanager
def replaying(path: Path, log: Path, *options: str) -> Iterator[int]:
    """`vncd replay FILE` serving on a free port until the block ends; yields the port."""
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "vncd", "replay", str(path), "--port", "0", *options],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not (found := LISTENING.search(log.read_text())):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield int(found[1])
    finally:
        process.terminate()
        assert process.wait(10) == 0, log.read_text()


def test_a_recording_replayed_to_vncdotool_is_the_recorded_screen(xvfb, tmp_path):
    """gvnccapture (ZRLE) is recorded; the file replays to vncdotool (Raw) and exports PNG
    files, and both end on what gvnccapture saw, pixel for pixel."""
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    shot = tmp_path / "gvnc.png"
    with busy_desktop(xvfb), vncd_launcher(tmp_path) as start:
        server = start(recording_config(xvfb, recordings), VNC_DISPLAY_PORTS)
        subprocess.run(
            ["gvnccapture", f"127.0.0.1:{server.port - 5900}", str(shot)],
            check=True,
            timeout=60,
            capture_output=True,
        )
        server.stop()  # its recording threads finish writing before it exits
    seen = load_rgb(shot)
    [path] = recordings.iterdir()
    assert path.suffix == ".fbs"
    playback = Playback.open(path)
    encodings = set()
    while (message := playback.next_message()) is not None:
        encodings |= {rectangle.encoding for rectangle in getattr(message.event, "rectangles", ())}
        playback.apply(message)
    assert Encoding.ZRLE in encodings
    np.testing.assert_array_equal(playback.framebuffer.pixels[..., 2::-1], seen)

    replayed = tmp_path / "replayed.png"
    with replaying(path, tmp_path / "replay.log", "--speed", "4") as port:
        time.sleep(0.5)
        vncdo(port, "capture", str(replayed))
    np.testing.assert_array_equal(load_rgb(replayed), seen)

    pngs = tmp_path / "png"
    subprocess.run(
        [sys.executable, "-m", "vncd", "replay", str(path), "--export-png", str(pngs)],
        check=True,
        timeout=60,
        capture_output=True,
    )
    names = sorted(file.name for file in pngs.iterdir())
    assert names and all(name.endswith(".png") and len(name) == 13 for name in names)
    np.testing.assert_array_equal(load_rgb(pngs / names[-1]), seen)


def test_a_tight_jpeg_viewer_is_recorded_and_decodes(xvfb, tmp_path):
    """TigerVNC's viewer with Tight and JPEG (quality 5): the file holds JPEG rectangles and
    the lossless refresh after them, and decodes to the screen exactly."""
    require_programs("xtigervncviewer")
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    with busy_desktop(xvfb), vncd_launcher(tmp_path) as start:
        server = start(recording_config(xvfb, recordings), VNC_DISPLAY_PORTS)
        truth = xwd_root(xvfb)  # X captures hold no pointer; TigerVNC draws its own
        options = ("-PreferredEncoding=Tight", "-QualityLevel=5", "-FullColor")
        with tigervnc_viewer(server.port, (1024, 768), *options) as viewer:
            shown = viewer.wait_for(lambda picture: np.array_equal(picture, truth))
            assert shown is not None and np.array_equal(shown, truth)
        time.sleep(0.5)
        server.stop()
    [path] = recordings.iterdir()
    playback = Playback.open(path)
    jpeg = 0
    while (message := playback.next_message()) is not None:
        for rectangle in getattr(message.event, "rectangles", ()):
            # rfbproto 7.7.6: compression control 0x9? is a JPEG rectangle.
            jpeg += rectangle.encoding == Encoding.TIGHT and rectangle.payload[0] >> 4 == 9
        playback.apply(message)
    assert jpeg > 0
    np.testing.assert_array_equal(playback.framebuffer.pixels[..., 2::-1], truth)
