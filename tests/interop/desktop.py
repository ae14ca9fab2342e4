"""One served desktop shared by a module's viewer tests, and how to compare what they show.

Starting Xvfb, an xterm and vncd costs a couple of seconds; the encoding tests connect many
viewers, one after the other, to the same running vncd instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import attrs
import numpy as np

from protocol import PixelFormat
from protocol._pixelformat import quantise
from tests.protocol.roundtrip import psnr
from tests.vncd._xvfb import private_xvfb

from .vncd_process import VNC_DISPLAY_PORTS, vncd_launcher, x11_source
from .xclients import busy_desktop
from .xpaint import paint_root, varied_scene
from .xpointer import with_pointer
from .xwd import xwd_root

SIZE = (1024, 768)  # what busy_desktop paints


@attrs.frozen
class ServedDesktop:
    """A private Xvfb with varied pixels and an xterm, served by vncd on ``port``."""

    display: str
    port: int

    def truth(self) -> np.ndarray:
        """What the display shows right now (RGB): the ground truth for every viewer."""
        return xwd_root(self.display)

    def truth_with_pointer(self) -> np.ndarray:
        """What a viewer that lists no cursor shape is shown: the pointer drawn in."""
        return with_pointer(self.display, self.truth())

    def change(self, seed: int) -> None:
        """Repaint the root window's noise with ``seed``: an update of part of the screen."""
        paint_root(self.display, varied_scene(*SIZE, seed=seed))


@contextlib.contextmanager
def served_desktop(directory: Path, config: str = "") -> Iterator[ServedDesktop]:
    """Xvfb + busy_desktop + `vncd run` with the x11 source on it (and ``config``, more TOML
    sections), for a whole module."""
    with (
        private_xvfb(*SIZE) as display,
        busy_desktop(display),
        vncd_launcher(directory) as start_vncd,
    ):
        server = start_vncd(x11_source(display) + config, VNC_DISPLAY_PORTS)
        desktop = ServedDesktop(display, server.port)
        colours = np.unique(desktop.truth().reshape(-1, 3), axis=0)
        assert len(colours) > 1000, "the served scene is not varied enough to test with"
        yield desktop


def as_seen(rgb: np.ndarray, pixel_format: PixelFormat) -> np.ndarray:
    """``rgb`` reduced to the precision of ``pixel_format``: what its wire values can say.
    A viewer's picture and the truth agree on every wire value iff these are equal."""
    bgrx = np.zeros((*rgb.shape[:2], 4), dtype=np.uint8)
    bgrx[..., :3] = rgb[..., ::-1]
    return quantise(bgrx, pixel_format)


def describe_difference(picture: np.ndarray | None, truth: np.ndarray) -> str:
    """A one-line account of how a viewer's picture differs from the truth."""
    if picture is None:
        return "the viewer never showed a picture"
    if picture.shape != truth.shape:
        return f"picture is {picture.shape}, truth {truth.shape}"
    differs = (picture != truth).any(axis=2)
    rows, columns = np.nonzero(differs)
    if rows.size == 0:
        return "no difference"
    return (
        f"{rows.size} pixels differ, within x {columns.min()}..{columns.max()}, "
        f"y {rows.min()}..{rows.max()}; PSNR {psnr(picture, truth):.1f} dB"
    )
