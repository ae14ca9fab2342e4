"""gtk-vnc's gvnccapture and vncdotool against vncd: each gets the encoding it prefers,
and its screenshot equals the served display (`xwd -root`) pixel for pixel.

gvnccapture's encoding list is fixed (ZRLE first). The `vncdo` command asks for Raw only;
vncdotool's other decoders (RRE, Hextile, ZRLE) are driven through its Python API by
``tests.interop.vncdo_encoding``, over one connection across a change of the desktop.
A tap between viewer and vncd shows what each really received.
"""

from __future__ import annotations

import select
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from protocol.encodings import ENCODERS, Encoding
from tests.requirements import program_path

from .desktop import describe_difference
from .rfbtap import Recording, rfb_tap
from .xclients import load_rgb

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]


def assert_shows(path: Path, truth: np.ndarray) -> None:
    picture = load_rgb(path)
    if not np.array_equal(picture, truth):
        pytest.fail(f"{path.name}: {describe_difference(picture, truth)}")


def assert_received(recording: Recording, encoding: int) -> None:
    """The viewer put ``encoding`` first among the pixel encodings it asked for, and every
    pixel rectangle it got used it."""
    assert recording.error is None, recording.error
    asked = [n for n in recording.encoding_lists[-1] if n in ENCODERS]
    assert asked and asked[0] == encoding, f"the viewer asked for {recording.encoding_lists}"
    assert set(recording.encodings_used()) == {encoding}, recording.encodings_used()


def test_gvnccapture_gets_zrle(desktop, tmp_path):
    shot = tmp_path / "gvnc.png"
    truth = desktop.truth_with_pointer()  # gvnccapture lists no cursor shape
    with rfb_tap(desktop.port) as tap:
        subprocess.run(
            ["gvnccapture", f"127.0.0.1:{tap.port - 5900}", str(shot)],
            check=True,
            timeout=60,
            capture_output=True,
        )
    assert_received(tap.only_recording(), Encoding.ZRLE)
    assert_shows(shot, truth)


def test_vncdo_command_gets_raw(desktop, tmp_path):
    shot = tmp_path / "vncdo.png"
    truth = desktop.truth_with_pointer()  # vncdotool lists no cursor shape
    with rfb_tap(desktop.port) as tap:
        subprocess.run(
            [program_path("vncdo"), "-s", f"127.0.0.1::{tap.port}", "capture", str(shot)],
            check=True,
            timeout=60,
        )
    assert_received(tap.only_recording(), Encoding.RAW)
    assert_shows(shot, truth)


def read_line(process: subprocess.Popen, timeout: float = 60.0) -> str:
    """The helper's next line of output; fail if it says nothing for ``timeout`` seconds."""
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline() if ready else ""
    if not line:
        process.kill()
        pytest.fail(f"vncdotool said nothing (exit status {process.wait()})")
    return line


@pytest.mark.parametrize(
    "encoding", [Encoding.RRE, Encoding.HEXTILE, Encoding.ZRLE], ids=lambda e: e.name.lower()
)
def test_vncdotool_decoders(desktop, tmp_path, encoding):
    first, second = tmp_path / "first.png", tmp_path / "second.png"
    with rfb_tap(desktop.port) as tap:
        arguments = [f"127.0.0.1::{tap.port}", str(int(encoding)), str(first), str(second)]
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.interop.vncdo_encoding", *arguments],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            truths = [desktop.truth_with_pointer()]  # vncdotool lists no cursor shape
            read_line(process)
            desktop.change(seed=100 + int(encoding))
            truths.append(desktop.truth_with_pointer())
            assert not np.array_equal(*truths), "the desktop did not change"
            process.stdin.write("\n")
            process.stdin.flush()
            read_line(process)
            assert process.wait(30) == 0
        finally:
            process.kill()
            process.wait()
    assert_received(tap.only_recording(), encoding)
    assert_shows(first, truths[0])
    assert_shows(second, truths[1])
