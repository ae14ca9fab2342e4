"""Fixtures for interop tests: a private Xvfb, a running `vncd`, a desktop served for a module."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.requirements import require_programs
from tests.vncd._xvfb import private_xvfb

from .desktop import ServedDesktop, served_desktop
from .vncd_process import VNC_DISPLAY_PORTS, vncd_launcher

#: What the interop tests run; scripts/test installs them (vncdo comes with the test extra).
REQUIRED = ("Xvfb", "xwd", "xterm", "gvnccapture", "vncdo", "xdotool")


@pytest.fixture(scope="session", autouse=True)
def interop_tools() -> None:
    """Every interop test is skipped, or fails under CI, naming the tools that are missing
    (session scope: checked before any module's served desktop starts)."""
    require_programs(*REQUIRED)


@pytest.fixture
def xvfb() -> Iterator[str]:
    """A private Xvfb (1024x768x24); yields its display name, e.g. ':7'."""
    with private_xvfb(1024, 768) as display:
        yield display


@pytest.fixture
def start_vncd(tmp_path: Path) -> Iterator[Callable[[str], int]]:
    """Start `python -m vncd run` with config text on a port that display-number viewers
    reach; returns the port. Stopped afterwards."""
    with vncd_launcher(tmp_path) as start:
        yield lambda config: start(config, VNC_DISPLAY_PORTS).port


@pytest.fixture(scope="module")
def desktop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedDesktop]:
    """One served desktop shared by the module's tests (starting one costs seconds)."""
    with served_desktop(tmp_path_factory.mktemp("served")) as served:
        yield served
