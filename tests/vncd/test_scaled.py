"""Server-side scaling (vncd.sources.scaled, ``[source] scale``): a viewer gets the desktop
scaled, pixel for pixel what the wrapped source's capture gives scaled the same way; its
pointer lands at x / scale on the desktop; damage still covers every change; the pointer's
shape and position are scaled; config mistakes are one clear line. Over memory streams with
ArraySource and the demo desktop and a real Xvfb (x11 source), and a real `vncd run` with
gtk-vnc's gvnccapture."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import trio
import Xlib.display
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import PointerEvent
from protocol.encodings import Encoding
from protocol.encodings.pseudo import ResizeStatus
from tests.interop.vncd_process import VNC_DISPLAY_PORTS, vncd_launcher, x11_source
from tests.interop.xclients import load_rgb
from tests.interop.xpaint import paint_root
from tests.interop.xwd import xwd_root
from tests.requirements import require_programs
from vncd.config import ConfigError, parse_config
from vncd.region import Box
from vncd.sources import DemoSource, X11Source, open_source
from vncd.sources.base import CursorShape
from vncd.sources.demo import ARROW
from vncd.sources.scaled import (
    ScaledSource,
    outward,
    scale_factor,
    scale_pixels,
    scale_shape,
    scaled_size,
)

from ._xvfb import private_xvfb, wait_for
from .harness import ArraySource, running_hub
from .sourcekit import source_config
from .test_cli import assert_clean_errors, vncd
from .test_session import next_layout, one_screen
from .viewer import Viewer

HALF = Fraction(1, 2)
SHAPES = (Encoding.RAW, Encoding.CURSOR_WITH_ALPHA, Encoding.POINTER_POS)


def stopped_clock() -> float:
    return 1_700_000_000.25


def served(pixels: np.ndarray) -> np.ndarray:
    """What a viewer must show for desktop ``pixels`` scaled by half (padding byte aside)."""
    return scale_pixels(pixels, scaled_size(pixels.shape[1::-1], HALF))[..., :3]


def shows(viewer: Viewer, expected: np.ndarray) -> bool:
    return np.array_equal(viewer.framebuffer.pixels[..., :3], expected)


# --- pixels and boxes ---------------------------------------------------------------------


def test_half_is_the_rounded_average_of_each_2x2_block() -> None:
    pixels = np.random.default_rng(3).integers(0, 256, (40, 60, 4), np.uint8)
    blocks = pixels.reshape(20, 2, 30, 2, 4).astype(int).sum(axis=(1, 3))
    assert np.array_equal(scale_pixels(pixels, (30, 20)), (blocks + 2) // 4)


def test_factors_are_exact_fractions() -> None:
    assert scale_factor(0.1) == Fraction(1, 10)
    assert scale_factor(2 / 3) == Fraction(2, 3)
    assert scaled_size((1920, 1080), scale_factor(0.5)) == (960, 540)
    assert scaled_size((1920, 1080), scale_factor(2 / 3)) == (1280, 720)
    assert scaled_size((5, 3), scale_factor(0.1)) == (1, 1)  # never empty


@settings(max_examples=300, deadline=None)
@given(
    size=st.sampled_from([(64, 48), (65, 47), (90, 60)]),
    scale=st.sampled_from([Fraction(1, 2), Fraction(1, 3), Fraction(2, 3), Fraction(7, 10)]),
    x=st.integers(0, 63),
    y=st.integers(0, 46),
    width=st.integers(1, 20),
    height=st.integers(1, 20),
)
def test_damage_scaled_outward_covers_every_change(size, scale, x, y, width, height) -> None:
    before = np.random.default_rng(1).integers(0, 256, (size[1], size[0], 4), np.uint8)
    after = before.copy()
    box = Box(x, y, width, height).intersect(Box(0, 0, *size))
    after[box.slices()] ^= 0xFF
    small = scaled_size(size, scale)
    changed = (scale_pixels(before, small) != scale_pixels(after, small)).any(axis=2)
    covered = np.zeros_like(changed)
    covered[outward(box, size, small).slices()] = True
    assert not (changed & ~covered).any()


# --- the wrapper on its own ---------------------------------------------------------------


def test_pointer_lands_at_x_over_scale_clamped_to_the_desktop() -> None:
    desktop = ArraySource(200, 120)
    source = ScaledSource(desktop, HALF)
    assert source.size == (100, 60)
    source.inject_pointer(30, 20, 1)
    source.inject_pointer(99, 59, 0)
    source.inject_pointer(5000, 5000, 0)
    assert desktop.pointer == [(60, 40, 1), (198, 118, 0), (199, 119, 0)]


def test_it_offers_only_what_the_wrapped_source_offers() -> None:
    plain = ScaledSource(ArraySource(), HALF)
    for name in ("wait_for_cursor", "capture_region", "wait_for_keyboard", "inject_keycode"):
        assert not hasattr(plain, name), name
    demo = ScaledSource(DemoSource((320, 200), clock=stopped_clock), HALF)
    assert hasattr(demo, "wait_for_cursor") and demo.reports_damage


def test_keys_clipboard_and_statistics_pass_through() -> None:
    desktop = ArraySource()
    source = ScaledSource(desktop, HALF)
    source.inject_key(0x61, True)
    source.set_clipboard("hello")
    desktop.copy("from the desktop")
    assert desktop.keys == [(0x61, True)] and desktop.clipboard_sets == ["hello"]
    assert (source.get_clipboard(), source.clipboard_serial) == ("from the desktop", 2)
    assert source.statistics() == desktop.statistics() and source.name == desktop.name


def test_viewers_may_not_resize_a_scaled_desktop() -> None:
    desktop = ArraySource(200, 120)
    assert ScaledSource(desktop, HALF).resize(400, 300) is False
    assert desktop.resizes == []


async def test_the_pointer_shape_and_position_are_scaled() -> None:
    demo = DemoSource((320, 200), clock=stopped_clock)
    source = ScaledSource(demo, HALF)
    demo.inject_pointer(100, 60, 0)
    news = await source.wait_for_cursor(None)
    assert ARROW.argb.shape == (17, 11) and news.shape.argb.shape == (8, 6)
    assert news.shape.hotspot == (0, 0)
    assert news.position == (50, 30)
    checkers = np.array([[0xFFFFFFFF, 0], [0, 0xFFFFFFFF]], np.uint32)  # premultiplied
    assert scale_shape(CursorShape(checkers, (1, 1)), HALF).argb.tolist() == [[0x80808080]]
    empty = CursorShape(np.zeros((0, 0), np.uint32), (0, 0))
    assert scale_shape(empty, HALF) is empty


# --- viewers ------------------------------------------------------------------------------


async def test_a_viewer_gets_half_the_desktop_and_clicks_land_twice_as_far() -> None:
    desktop = ArraySource(200, 120)
    source = ScaledSource(desktop, HALF)
    async with running_hub(source) as harness:
        viewer = harness.connect()
        init = await viewer.handshake()
        assert (init.width, init.height) == (100, 60)
        await viewer.full_update()
        assert shows(viewer, served(desktop.pixels))

        await viewer.send(PointerEvent(1, 30, 20), PointerEvent(0, 30, 20))
        await viewer.full_update()
        assert desktop.pointer[-2:] == [(60, 40, 1), (60, 40, 0)]

        desktop.pixels[50:53, 101:150] = (1, 2, 3, 0)  # an odd-placed change
        with trio.fail_after(10):
            while not shows(viewer, served(desktop.pixels)):
                await viewer.request()
                await viewer.next_update()


async def test_a_resize_request_is_prohibited() -> None:
    desktop = ArraySource(200, 120)
    async with running_hub(ScaledSource(desktop, HALF)) as harness:
        viewer = harness.connect()
        await viewer.handshake(encodings=(Encoding.RAW, Encoding.EXTENDED_DESKTOP_SIZE))
        assert (await next_layout(viewer)).width == 100  # the announcement
        await viewer.send(one_screen(300, 200))
        assert (await next_layout(viewer)).status == ResizeStatus.PROHIBITED
        assert desktop.resizes == []


async def test_the_demo_desktop_scaled_draws_where_the_viewer_clicked() -> None:
    demo = DemoSource((800, 600), clock=stopped_clock)
    async with open_source(source_config("demo", geometry=(800, 600), scale=0.5)) as opened:
        assert opened.size == (400, 300)
    source = ScaledSource(demo, HALF)
    async with running_hub(source) as harness:
        viewer = harness.connect()
        await viewer.handshake(encodings=SHAPES)
        await viewer.full_update()
        assert shows(viewer, served(demo.capture()))
        before = demo.capture()
        await viewer.send(PointerEvent(1, 300, 150), PointerEvent(1, 320, 150))
        await viewer.send(PointerEvent(0, 320, 150))
        with trio.fail_after(10):
            while not shows(viewer, served(demo.capture())):
                await viewer.request()
                await viewer.next_update()
        after = demo.capture()  # the stroke from (600, 300) to (640, 300) on the canvas
        assert before[300, 620, :3].tolist() == [255, 255, 255]
        assert after[300, 620, :3].tolist() == [20, 20, 20]
        assert after[300, 590, :3].tolist() == after[300, 650, :3].tolist() == [255, 255, 255]
        assert viewer.framebuffer.cursor is not None
        assert (viewer.framebuffer.cursor.width, viewer.framebuffer.cursor.height) == (6, 8)


# --- a real X display ---------------------------------------------------------------------

WIDTH, HEIGHT = 640, 480


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with private_xvfb(WIDTH, HEIGHT) as name:
        yield name


def root_pointer(display: str) -> tuple[int, int]:
    client = Xlib.display.Display(display)
    try:
        reply = client.screen().root.query_pointer()
        return reply.root_x, reply.root_y
    finally:
        client.close()


def warp(display: str, x: int, y: int) -> None:
    client = Xlib.display.Display(display)
    try:
        client.screen().root.warp_pointer(x, y)
        client.sync()
    finally:
        client.close()


def paint(display: str, seed: int) -> None:
    noise = np.random.default_rng(seed).integers(0, 256, (HEIGHT, WIDTH, 3), np.uint8)
    paint_root(display, noise)


def truth(display: str) -> np.ndarray:
    """The display as `xwd -root` sees it, scaled by half (BGR)."""
    rgb = xwd_root(display)
    bgrx = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
    bgrx[..., :3] = rgb[..., ::-1]
    return served(bgrx)


async def test_an_x_display_scaled_for_a_viewer(display: str) -> None:
    require_programs("xwd")
    paint(display, 1)
    with X11Source(display) as x11:
        source = ScaledSource(x11, HALF)
        async with running_hub(source) as harness:
            viewer = harness.connect()
            init = await viewer.handshake(encodings=SHAPES)
            assert (init.width, init.height) == (WIDTH // 2, HEIGHT // 2)
            await viewer.full_update()
            assert shows(viewer, truth(display))

            await viewer.send(PointerEvent(0, 101, 77))
            await trio.to_thread.run_sync(
                wait_for, lambda: root_pointer(display) == (202, 154), "the pointer at 2x, 2y"
            )

            await trio.to_thread.run_sync(warp, display, 300, 200)  # a program moves it
            with trio.fail_after(10):
                while viewer.framebuffer.pointer != (150, 100):
                    await viewer.request()
                    await viewer.next_update()

            paint(display, 2)  # X DAMAGE reports it: the viewer must end up exact again
            expected = await trio.to_thread.run_sync(truth, display)
            with trio.fail_after(10):
                while not shows(viewer, expected):
                    await viewer.request()
                    await viewer.next_update()


def test_at_one_nth_a_box_is_grabbed_alone_and_matches_the_whole_frame(display: str) -> None:
    paint(display, 3)
    with X11Source(display) as x11:
        assert not hasattr(ScaledSource(x11, Fraction(2, 3)), "capture_region")
        source = ScaledSource(x11, HALF)
        assert source.inject_keycode == x11.inject_keycode
        assert source.wait_for_keyboard == x11.wait_for_keyboard
        box = Box(13, 7, 50, 31)
        assert np.array_equal(source.capture_region(box), source.capture()[box.slices()])


def test_vncd_run_serves_an_x_display_scaled_to_gvnccapture(display: str, tmp_path: Path) -> None:
    """A real `vncd run` and a real viewer: gtk-vnc's gvnccapture lists no cursor shape, so
    the pointer is drawn into its picture (parked in the bottom right corner, left out)."""
    require_programs("gvnccapture", "xwd")
    paint(display, 4)
    warp(display, WIDTH - 1, HEIGHT - 1)
    shot = tmp_path / "shot.png"
    with vncd_launcher(tmp_path) as start:
        server = start(x11_source(display) + "scale = 0.5\n", VNC_DISPLAY_PORTS)
        subprocess.run(
            ["gvnccapture", f"127.0.0.1:{server.port - 5900}", str(shot)],
            check=True,
            timeout=60,
            capture_output=True,
        )
        assert "desktop scaled to 320x240" in server.log_path.read_text()
    picture = load_rgb(shot)
    assert picture.shape == (HEIGHT // 2, WIDTH // 2, 3)
    expected = truth(display)[..., ::-1]  # RGB, as the PNG
    pointer = np.zeros(picture.shape[:2], bool)
    pointer[-20:, -20:] = True
    differs = (picture != expected).any(axis=2)
    assert not (differs & ~pointer).any()


def test_a_bad_scale_stops_vncd_with_one_line_and_status_2(tmp_path: Path) -> None:
    config = tmp_path / "vncd.toml"
    config.write_text("[source]\nscale = 2\n")
    for command in ("check", "run"):
        [line] = assert_clean_errors(vncd(command, str(config)), 1)
        assert line == (
            f"vncd: error: {config}: source.scale = 2: must be a number 0.1..1.0 (the served "
            "size over the desktop's)"
        )


async def test_config_scale_is_checked() -> None:
    assert parse_config("[source]\nscale = 0.5\n", "t.toml").source.scale == 0.5
    assert parse_config("[source]\nscale = 1\n", "t.toml").source.scale == 1.0
    for value in ("0", "0.05", "1.5", "true", '"0.5"', "nan"):
        with pytest.raises(ConfigError) as raised:
            parse_config(f"[source]\nscale = {value}\n", "t.toml")
        assert raised.value.problems == (
            f"t.toml: source.scale = {value}: must be a number 0.1..1.0 (the served size over "
            "the desktop's)",
        )
