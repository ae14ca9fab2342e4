"""Resizing real X screens through RandR: the x11 source on Xvfb, Xvfb started with room to
grow, and the capture loop following the new size (xdpyinfo and xrandr as ground truth)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import trio

from tests.requirements import require_programs
from vncd.frames import FrameBus, Wakeup
from vncd.sources import SourceError, X11Source, open_source
from vncd.sources.x11_randr import sole_output

from ._xvfb import private_xvfb
from .sourcekit import source_config


@pytest.fixture
def x_tools() -> None:
    require_programs("Xvfb", "xdpyinfo", "xrandr")


def crtc(mode: int, outputs: tuple[int, ...] = (7,), rotation: int = 1) -> SimpleNamespace:
    """GetCrtcInfo's answer, as far as choosing an output looks at it (rotation 1 = none)."""
    return SimpleNamespace(mode=mode, outputs=list(outputs), rotation=rotation)


@pytest.mark.parametrize(
    ("crtcs", "chosen"),
    [
        ({1: crtc(0), 2: crtc(50)}, 2),  # one monitor on, one off
        ({1: crtc(50), 2: crtc(51, (8,))}, None),  # two monitors: which one would change?
        ({1: crtc(50, (7, 8))}, None),  # clones: one picture on two monitors
        ({1: crtc(50, rotation=2)}, None),  # rotated: the sizes would swap
        ({1: crtc(0)}, None),  # everything off
    ],
)
def test_only_a_screen_with_one_active_unrotated_output_is_resized(crtcs, chosen) -> None:
    found = sole_output(crtcs)
    assert (found and found[0]) == chosen


def dimensions(display: str) -> tuple[int, int]:
    """The screen's size as xdpyinfo reports it."""
    report = subprocess.run(
        ["xdpyinfo", "-display", display], check=True, capture_output=True, text=True
    ).stdout
    width, height = re.search(r"dimensions:\s+(\d+)x(\d+) pixels", report).groups()
    return int(width), int(height)


def xrandr(display: str, *arguments: str) -> str:
    return subprocess.run(
        ["xrandr", "-display", display, *arguments], check=True, capture_output=True, text=True
    ).stdout


def current_mode(display: str) -> tuple[str, list[str]]:
    """(the output's current mode, every mode vncd made) from xrandr's listing."""
    modes = [line.split() for line in xrandr(display).splitlines() if line.startswith("   ")]
    current = next(mode[0] for mode in modes if any("*" in part for part in mode[1:]))
    return current, [mode[0] for mode in modes if mode[0].startswith("vncd-")]


@pytest.fixture
def source(x_tools: None) -> Iterator[X11Source]:
    """The x11 source on a 1280x800 Xvfb (which can never grow past that)."""
    with private_xvfb(1280, 800) as display, X11Source(display) as source:
        yield source


def test_x11_source_resizes_the_screen_and_its_output(source: X11Source) -> None:
    display = source.display
    for size in [(640, 480), (1000, 800), (1280, 600), (1280, 800), (321, 123)]:
        assert source.resize(*size)
        assert dimensions(display) == size == source.size
        assert source.capture().shape == (size[1], size[0], 4)
        # The output shows the whole screen: its mode has the screen's size (Xvfb's own
        # 1280x800, or one vncd made), and vncd's modes no longer in use are gone.
        current, made = current_mode(display)
        assert current == ("1280x800" if size == (1280, 800) else f"vncd-{size[0]}x{size[1]}")
        assert made == ([] if size == (1280, 800) else [current])


@pytest.mark.parametrize("size", [(1281, 800), (1280, 801), (4000, 4000)])
def test_xvfb_cannot_grow_past_its_framebuffer(source: X11Source, size: tuple[int, int]) -> None:
    with pytest.raises(SourceError, match="outside the X screen's sizes"):
        source.resize(*size)
    assert dimensions(source.display) == (1280, 800) == source.size


def test_a_monitor_gets_only_the_modes_it_lists(source: X11Source) -> None:
    """An output with a real timing among its modes is a monitor: vncd picks one of its
    modes, never makes one up (which could blank a real screen)."""
    display = source.display
    timing = ["65", "1024", "1048", "1184", "1344", "768", "771", "777", "806"]
    xrandr(display, "--newmode", "monitor-1024", *timing)
    xrandr(display, "--addmode", "screen", "monitor-1024")
    assert source.resize(1024, 768)
    assert dimensions(display) == (1024, 768)
    assert current_mode(display) == ("monitor-1024", [])
    assert not source.resize(1000, 700)  # "prohibited": no such mode
    assert dimensions(display) == (1024, 768) == source.size


async def test_the_capture_follows_a_shrink_inside_the_old_frame(source: X11Source) -> None:
    """Xvfb repaints the new screen, and that damage lies inside the old, much larger frame:
    the bus must grab the new screen whole rather than patch the old frame with it."""
    bus = FrameBus(source, max_fps=60)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bus.run)
        bus.subscribe(Wakeup())
        with trio.fail_after(10):
            while bus.latest is None:
                await trio.sleep(0.01)
            assert (bus.latest.width, bus.latest.height) == (1280, 800)
            for size in [(320, 200), (1280, 800), (100, 700)]:
                assert source.resize(*size)
                while (bus.latest.width, bus.latest.height) != size:
                    await trio.sleep(0.01)
        nursery.cancel_scope.cancel()


async def test_xvfb_starts_at_geometry_with_room_up_to_max_size(
    x_tools: None, tmp_path: Path
) -> None:
    seen = tmp_path / "seen"
    command = f"sh -c 'xdpyinfo > {seen}'"  # the session sees the display as it starts
    wanted = source_config("xvfb", geometry=(320, 200), max_size=(640, 400), command=command)
    async with open_source(wanted) as source:
        assert source.size == (320, 200) == dimensions(source.display)
        with trio.fail_after(10):
            while "dimensions" not in (seen.read_text() if seen.exists() else ""):
                await trio.sleep(0.05)
        assert "320x200 pixels" in seen.read_text()
        assert "maximum 640 x 400" in xrandr(source.display)
        assert source.resize(640, 400)
        assert dimensions(source.display) == (640, 400)
        with pytest.raises(SourceError):
            source.resize(641, 400)


async def test_xvfb_without_resizing_starts_at_geometry_only(x_tools: None) -> None:
    wanted = source_config("xvfb", geometry=(320, 200), resize="none")
    async with open_source(wanted) as source:
        assert "maximum 320 x 200" in xrandr(source.display)
        with pytest.raises(SourceError):
            source.resize(640, 400)
