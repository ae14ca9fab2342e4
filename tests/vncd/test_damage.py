"""Sources say when and where the desktop changed (``wait_for_damage``): the demo desktop from
its own drawing (autojump clock), X11 from the DAMAGE extension on a real Xvfb."""

from __future__ import annotations

import os
import random
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import numpy as np
import pytest
import trio
import trio.testing
import Xlib.display
from hypothesis import given, settings
from hypothesis import strategies as st
from Xlib import X
from Xlib.xobject.drawable import Drawable

from tests.requirements import require_programs
from vncd import keysyms
from vncd.frames import FrameBus, Wakeup
from vncd.region import MAX_BOXES, Box
from vncd.sources import DemoSource, SourceError, X11Source

from ._xvfb import private_xvfb, wait_for
from .sourcekit import press, type_text

EPOCH = 1_700_000_000.25  # the demo's wall clock at Trio time 0: a quarter into a second


def uncovered(boxes: list[Box], before: np.ndarray, after: np.ndarray) -> int:
    """How many pixels changed from ``before`` to ``after`` outside every box."""
    changed = (before != after).any(axis=2)
    for box in boxes:
        changed[box.slices()] = False
    return int(changed.sum())


def within(boxes: list[Box], area: Box) -> bool:
    return all(area.contains(box) for box in boxes)


# --- demo ---------------------------------------------------------------------------------

WIDTH, HEIGHT = 800, 600
PAD = Box(0, 34, WIDTH * 2 // 5 + 20, HEIGHT - 34 - 28)  # left of the body, below the title
CANVAS = Box(WIDTH * 2 // 5, 34, WIDTH * 3 // 5, HEIGHT - 34 - 28)
STATUS = Box(0, HEIGHT - 28, WIDTH, 28)
CLOCK = Box(WIDTH // 2, 0, WIDTH // 2, 34)  # at the right of the title bar


def trio_wall_clock() -> float:
    """The demo's clock, run by Trio's (autojump) clock."""
    return EPOCH + trio.current_time()


@pytest.fixture
async def demo() -> DemoSource:
    """Async, so that it starts inside the test's Trio run (its clock is Trio's)."""
    return DemoSource((WIDTH, HEIGHT), clock=trio_wall_clock)


async def damage_of(demo: DemoSource) -> tuple[list[Box], np.ndarray]:
    """What the next wait reports, and the frame after it."""
    return await demo.wait_for_damage(), demo.capture()


async def test_demo_reports_damage(demo: DemoSource) -> None:
    assert demo.reports_damage


async def test_typing_is_reported_in_the_pad(
    demo: DemoSource, autojump_clock: trio.testing.MockClock
) -> None:
    before = demo.capture()
    type_text(demo, "Hi!")
    press(demo, keysyms.RETURN)
    boxes, after = await damage_of(demo)
    assert trio.current_time() == 0  # at once, not at the next tick
    assert uncovered(boxes, before, after) == 0 and not np.array_equal(before, after)
    assert within(boxes, PAD) and len(boxes) == 1


async def test_a_paste_is_reported_in_the_pad(
    demo: DemoSource, autojump_clock: trio.testing.MockClock
) -> None:
    before = demo.capture()
    demo.set_clipboard("pasted\ttext\nand a line")
    boxes, after = await damage_of(demo)
    assert uncovered(boxes, before, after) == 0 and within(boxes, PAD)


async def test_a_stroke_is_reported_as_few_boxes(
    demo: DemoSource, autojump_clock: trio.testing.MockClock
) -> None:
    before = demo.capture()
    x, y = 600, 300
    for step in range(200):  # a long drag, as a viewer sends it: one event per motion
        demo.inject_pointer(x + step // 2, y + step % 40, 1)
    demo.inject_pointer(x + 100, y, 0)
    boxes, after = await damage_of(demo)
    assert uncovered(boxes, before, after) == 0
    assert len(boxes) <= 2  # the stroke, and the pointer readout in the status bar
    assert all(CANVAS.contains(box) or STATUS.contains(box) for box in boxes)


async def test_pointer_motion_is_reported_in_the_status_bar(
    demo: DemoSource, autojump_clock: trio.testing.MockClock
) -> None:
    before = demo.capture()
    demo.inject_pointer(100, 100, 0)
    boxes, after = await damage_of(demo)
    assert uncovered(boxes, before, after) == 0 and boxes == [STATUS]


async def test_scattered_dots_stay_a_short_list(
    demo: DemoSource, autojump_clock: trio.testing.MockClock
) -> None:
    before = demo.capture()
    rng = random.Random(3)
    for _ in range(300):  # clicks without a drag: each a dot of its own
        x, y = rng.randrange(CANVAS.x, CANVAS.right), rng.randrange(CANVAS.y, CANVAS.bottom)
        demo.inject_pointer(x, y, 1)
        demo.inject_pointer(x, y, 0)
    boxes, after = await damage_of(demo)
    assert uncovered(boxes, before, after) == 0 and len(boxes) <= MAX_BOXES


async def test_resize_reports_the_whole_new_frame(
    demo: DemoSource, autojump_clock: trio.testing.MockClock
) -> None:
    assert demo.resize(640, 400)
    assert await demo.wait_for_damage() == [Box(0, 0, 640, 400)]


async def test_the_clock_ticks_once_a_second_and_nothing_else_changes(
    demo: DemoSource, autojump_clock: trio.testing.MockClock
) -> None:
    before = demo.capture()
    with trio.move_on_after(0.74):  # the next second starts at 0.75
        await demo.wait_for_damage()
        pytest.fail("damage reported before the clock ticked")
    boxes, after = await damage_of(demo)
    assert trio.current_time() == pytest.approx(0.75)
    assert uncovered(boxes, before, after) == 0 and not np.array_equal(before, after)
    assert len(boxes) == 1 and within(boxes, CLOCK)
    for second in (1.75, 2.75):
        assert await demo.wait_for_damage() == boxes
        assert trio.current_time() == pytest.approx(second)


async def test_capture_draws_nothing(
    demo: DemoSource, autojump_clock: trio.testing.MockClock
) -> None:
    """A capture shows what was reported: the clock moves in wait_for_damage only."""
    first = demo.capture()
    await trio.sleep(5)
    assert np.array_equal(first, demo.capture())
    await demo.wait_for_damage()
    assert not np.array_equal(first, demo.capture())


async def test_a_cancelled_wait_loses_nothing(
    demo: DemoSource, autojump_clock: trio.testing.MockClock
) -> None:
    before = demo.capture()
    with trio.move_on_after(0.1):
        await demo.wait_for_damage()
    type_text(demo, "x")
    with trio.CancelScope() as scope:
        scope.cancel()
        await demo.wait_for_damage()
    boxes, after = await damage_of(demo)
    assert uncovered(boxes, before, after) == 0 and boxes


demo_inputs = st.lists(
    st.one_of(
        st.tuples(st.just("key"), st.integers(0, 0xFFFF), st.booleans()),
        st.tuples(
            st.just("pointer"), st.integers(-50, 850), st.integers(-50, 650), st.integers(0, 0x7F)
        ),
        st.tuples(st.just("paste"), st.text(max_size=30)),
        st.tuples(st.just("resize"), st.integers(1, 900), st.integers(1, 700)),
    ),
    max_size=30,
)


@settings(max_examples=100, deadline=None)
@given(events=demo_inputs)
def test_any_input_is_covered_by_the_damage(events: list[tuple]) -> None:
    demo = DemoSource((WIDTH, HEIGHT), clock=lambda: EPOCH)  # a clock that never ticks
    before = demo.capture()
    for kind, *arguments in events:
        if kind == "key":
            demo.inject_key(*arguments)
        elif kind == "pointer":
            demo.inject_pointer(*arguments)
        elif kind == "paste":
            demo.set_clipboard(*arguments)
        else:
            demo.resize(*arguments)

    async def next_damage() -> list[Box]:
        with trio.move_on_after(10):
            return await demo.wait_for_damage()
        return []

    boxes = trio.run(next_damage, clock=trio.testing.MockClock(autojump_threshold=0))
    after = demo.capture()
    if after.shape != before.shape:
        assert Box(0, 0, after.shape[1], after.shape[0]) in boxes
    else:
        assert uncovered(boxes, before, after) == 0
    assert len(boxes) <= MAX_BOXES
    assert all(Box(0, 0, *demo.size).contains(box) and not box.empty for box in boxes)


# --- X11: DAMAGE on a real Xvfb -----------------------------------------------------------

X_WIDTH, X_HEIGHT = 640, 480
TIMEOUT = 10.0
QUIET = 0.5  # a wait that reports nothing for this long means a static screen


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with private_xvfb(X_WIDTH, X_HEIGHT) as name:
        yield name


@pytest.fixture
async def source(display: str) -> AsyncIterator[X11Source]:
    with X11Source(display) as source:
        assert source.reports_damage
        source.inject_pointer(X_WIDTH - 1, X_HEIGHT - 1, 0)
        yield source


@pytest.fixture
def painter(x_client: Xlib.display.Display) -> Xlib.display.Display:
    return x_client


def fill(painter: Xlib.display.Display, drawable: Drawable, box: Box, colour: int) -> None:
    """FillRectangle with ``colour`` (0xRRGGBB) and wait until the server has done it."""
    context = drawable.create_gc(foreground=colour)
    drawable.fill_rectangle(context, box.x, box.y, box.width, box.height)
    context.free()
    painter.sync()


async def next_damage(source: X11Source) -> list[Box]:
    with trio.fail_after(TIMEOUT):
        return await source.wait_for_damage()


async def settle(source: X11Source) -> None:
    """Take damage until the screen has been static for QUIET seconds."""
    while True:
        with trio.move_on_after(QUIET) as quiet:
            await source.wait_for_damage()
        if quiet.cancelled_caught:
            return


def covers(boxes: list[Box], box: Box) -> bool:
    """Whether the boxes together cover every pixel of ``box``."""
    canvas = np.zeros((X_HEIGHT, X_WIDTH), bool)
    canvas[box.slices()] = True
    for other in boxes:
        canvas[other.slices()] = False
    return not canvas.any()


async def test_drawing_on_the_root_window_is_reported(
    source: X11Source, painter: Xlib.display.Display
) -> None:
    await settle(source)
    drawn = Box(100, 50, 64, 48)
    started = time.perf_counter()
    fill(painter, painter.screen().root, drawn, 0xFF0000)
    boxes = await next_damage(source)
    latency = time.perf_counter() - started
    assert covers(boxes, drawn)
    assert sum(box.area for box in boxes) <= 2 * drawn.area  # where, not just when
    assert latency < 0.5, latency  # typically well under a millisecond


async def test_drawing_in_a_child_window_is_reported(
    source: X11Source, painter: Xlib.display.Display
) -> None:
    """DAMAGE on the root includes what inferior windows draw (damageproto, section 3)."""
    window = painter.screen().root.create_window(
        200, 150, 300, 200, 0, X.CopyFromParent, background_pixel=0x202020, override_redirect=True
    )
    window.map()
    painter.sync()
    mapped = await next_damage(source)  # mapping paints the window's background
    assert covers(mapped, Box(200, 150, 300, 200))
    fill(painter, window, Box(10, 20, 30, 40), 0x00FF00)
    boxes = await next_damage(source)
    assert covers(boxes, Box(210, 170, 30, 40))
    assert within(boxes, Box(200, 150, 300, 200))
    window.destroy()
    painter.sync()


async def test_a_static_screen_reports_nothing(source: X11Source) -> None:
    await settle(source)
    with trio.move_on_after(2 * QUIET) as quiet:
        await source.wait_for_damage()
    assert quiet.cancelled_caught
    source.inject_pointer(10, 10, 0)  # Xvfb's cursor is not in the framebuffer: no damage
    with trio.move_on_after(QUIET) as quiet:
        await source.wait_for_damage()
    assert quiet.cancelled_caught


async def test_many_draws_coalesce_into_few_boxes(
    source: X11Source, painter: Xlib.display.Display
) -> None:
    await settle(source)
    root = painter.screen().root
    context = root.create_gc(foreground=0x3366CC)
    rng = random.Random(5)
    drawn = []
    for _ in range(2000):
        box = Box(rng.randrange(X_WIDTH - 8), rng.randrange(X_HEIGHT - 8), 8, 8)
        root.fill_rectangle(context, box.x, box.y, box.width, box.height)
        drawn.append(box)
    for _ in range(2000):  # the same spot over and over: one box
        root.fill_rectangle(context, 5, 5, 20, 20)
    painter.sync()
    boxes = []
    with trio.move_on_after(QUIET):
        while True:  # it may come in more than one report; each is short
            reported = await source.wait_for_damage()
            assert len(reported) <= MAX_BOXES
            boxes += reported
    assert all(covers(boxes, box) for box in [*drawn, Box(5, 5, 20, 20)])


async def test_xterm_output_is_covered(
    source: X11Source, painter: Xlib.display.Display, display: str
) -> None:
    """Everything a real client draws is inside the reported boxes: an xterm (a child
    window of the root, no window manager) echoing typed text."""
    require_programs("xterm")
    xterm = subprocess.Popen(
        ["xterm", "-geometry", "40x8+20+20", "-e", "cat"],
        env={**os.environ, "DISPLAY": display},
    )
    try:
        fill(painter, painter.screen().root, Box(0, 0, X_WIDTH, X_HEIGHT), 0)
        source.inject_pointer(60, 60, 0)  # focus follows the pointer
        wait_for(lambda: source.capture()[30, 30, :3].any(), "xterm on the screen")
        await settle(source)
        before = source.capture()
        type_text(source, "hello damage")
        boxes = await next_damage(source)
        with trio.move_on_after(QUIET):
            while True:
                boxes += await source.wait_for_damage()
        after = source.capture()
        assert not np.array_equal(before, after)
        assert uncovered(boxes, before, after) == 0
    finally:
        xterm.kill()
        xterm.wait()


async def test_a_wait_cancelled_with_its_fetch_in_flight_loses_nothing(
    source: X11Source, painter: Xlib.display.Display
) -> None:
    """The painter grabs the server (which then serves no other client) once the damage is
    reported: the wait sends its region fetch, gets no answer, and is cancelled; the next
    wait takes the answer up."""
    await settle(source)
    drawn = Box(40, 200, 10, 10)
    fill(painter, painter.screen().root, drawn, 0xFFFFFF)
    painter.grab_server()
    painter.sync()
    with trio.move_on_after(QUIET) as stuck:
        await source.wait_for_damage()
    painter.ungrab_server()
    painter.sync()
    assert stuck.cancelled_caught
    assert covers(await next_damage(source), drawn)


async def test_losing_the_display_is_a_source_error() -> None:
    with private_xvfb(320, 200) as name:
        source = X11Source(name)
    with pytest.raises(SourceError, match="lost X display"):
        await next_damage(source)
    source.close()


def test_without_damage_the_source_is_polled(display: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real = Xlib.display.Display.has_extension
    monkeypatch.setattr(
        Xlib.display.Display, "has_extension", lambda x, name: name != "DAMAGE" and real(x, name)
    )
    with X11Source(display) as source:
        assert not source.reports_damage
        with pytest.raises(RuntimeError, match="does not report damage"):
            trio.run(source.wait_for_damage)


async def test_x_damage_drives_the_frame_bus(
    source: X11Source, painter: Xlib.display.Display
) -> None:
    """The bus captures once for a new subscriber, then only when X reports damage: nothing on
    a static screen, at once (well inside one frame period) after a drawing."""
    await settle(source)
    bus = FrameBus(source, max_fps=60)
    wakeup = Wakeup()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bus.run)
        subscription = bus.subscribe(wakeup)
        with trio.fail_after(TIMEOUT):
            while not subscription.has_damage():
                await wakeup.wait()
        subscription.take_damage()
        captured = bus.statistics().frames_captured
        with trio.move_on_after(2 * QUIET):
            await wakeup.wait()
        assert bus.statistics().frames_captured == captured, "a static screen was captured"
        drawn = Box(300, 200, 64, 48)
        started = time.perf_counter()
        fill(painter, painter.screen().root, drawn, 0x3366CC)
        with trio.fail_after(TIMEOUT):
            while not subscription.has_damage():
                await wakeup.wait()
        latency = time.perf_counter() - started
        frame, boxes = subscription.take_damage()
        assert boxes == [drawn]  # exact: found once, on the bus
        assert (frame.pixels[drawn.slices()][..., :3] == (0xCC, 0x66, 0x33)).all()
        assert latency < 0.5, latency
        nursery.cancel_scope.cancel()
