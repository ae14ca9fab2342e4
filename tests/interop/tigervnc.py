"""TigerVNC's viewer on a second private Xvfb, and screenshots of what it shows.

The viewer display is bigger than the served one, so the whole remote desktop fits in the
viewer's window without scrollbars. With no window manager the window lands where FLTK puts
it (it leaves room for decorations that never come), so its position is read back with
``xwininfo`` rather than assumed.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from collections.abc import Callable, Iterator

import attrs
import numpy as np

from tests.vncd._xvfb import private_xvfb

from .xwd import xwd_root

#: Quiet, input-free and dialog-free: no F8 menu, no log lines, no reconnect or error
#: dialogs, no SetDesktopSize, no pointer or key events, other viewers left connected, and
#: the encoding and pixel format fixed by the options given instead of picked by measuring.
QUIET = (
    "-ViewOnly",
    "-Shared",
    "-MenuKey=",
    "-Log=*:stderr:0",
    "-ReconnectOnError=0",
    "-AlertOnFatalError=0",
    "-RemoteResize=0",
    "-AutoSelect=0",
)
_MARGIN = 64
#: xwininfo's tree line ends with "WxH+x+y  +absx+absy"; the absolute position is last.
_GEOMETRY = re.compile(r"(\d+)x(\d+)[+-]-?\d+[+-]-?\d+\s+\+(-?\d+)\+(-?\d+)")


@attrs.frozen
class TigerViewer:
    """A running xtigervncviewer showing a ``size`` desktop on ``display``."""

    display: str
    size: tuple[int, int]
    process: subprocess.Popen

    def window(self) -> tuple[int, int] | None:
        """Top-left corner of the viewer's top-level window, once it is mapped at full size."""
        tree = subprocess.run(
            ["xwininfo", "-root", "-children", "-display", self.display],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for line in tree.splitlines():
            match = _GEOMETRY.search(line)
            if "TigerVNC" in line and match:
                width, height, x, y = map(int, match.groups())
                if (width, height) == self.size:
                    return x, y
        return None

    def picture(self) -> np.ndarray | None:
        """The remote desktop as the viewer shows it (RGB), or None before its window is up."""
        corner = self.window()
        if corner is None:
            return None
        x, y = corner
        width, height = self.size
        return xwd_root(self.display)[y : y + height, x : x + width]

    def wait_for(
        self, done: Callable[[np.ndarray], bool], timeout: float = 20.0
    ) -> np.ndarray | None:
        """Poll the viewer's picture until ``done(picture)``; the last picture either way."""
        deadline = time.monotonic() + timeout
        picture = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"xtigervncviewer exited with {self.process.returncode}")
            picture = self.picture()
            if picture is not None and done(picture):
                break
            time.sleep(0.1)
        return picture


@contextlib.contextmanager
def tigervnc_viewer(port: int | str, size: tuple[int, int], *options: str) -> Iterator[TigerViewer]:
    """xtigervncviewer connected to 127.0.0.1::``port`` (a ``size`` desktop; a str: that
    address, e.g. a UNIX socket's path) with ``options`` on top of ``QUIET``, on its own Xvfb;
    stopped afterwards."""
    width, height = size
    with private_xvfb(width + _MARGIN, height + _MARGIN) as display:
        process = subprocess.Popen(
            [
                "xtigervncviewer",
                "-display",
                display,
                "-geometry",
                f"{width}x{height}+0+0",
                *QUIET,
                *options,
                f"127.0.0.1::{port}" if isinstance(port, int) else port,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            yield TigerViewer(display, size, process)
        finally:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
