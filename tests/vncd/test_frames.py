"""The frame bus: exact damage computed once per frame, capture driven by the desktop's damage
(or polling), nothing captured while nobody watches, a frame clock; and damage regions."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

import numpy as np
import pytest
import trio

from vncd.frames import Frame, FrameBus, Subscription, Wakeup, changed_boxes
from vncd.moves import Move
from vncd.region import MAX_BOXES, Box, Region

from .cover import cover_count
from .harness import ArraySource, inline


class DamageSource(ArraySource):
    """A desktop that says where it changed, like X DAMAGE."""

    reports_damage = True

    def __init__(self) -> None:
        super().__init__()
        self.captures = 0
        self.regions: list[Box] = []
        self._reported: list[Box] = []
        self._changed = trio.Event()

    def paint(self, box: Box, value: int) -> None:
        self.pixels[box.slices()] = value
        self._reported.append(box)
        self._changed.set()

    def capture(self) -> np.ndarray:
        self.captures += 1
        return super().capture()

    def capture_region(self, box: Box) -> np.ndarray:
        self.regions.append(box)
        return self.pixels[box.slices()].copy()

    async def wait_for_damage(self) -> list[Box]:
        await self._changed.wait()
        self._changed = trio.Event()
        boxes, self._reported = self._reported, []
        return boxes


def test_changed_boxes_are_exact_and_only_looked_for_where_told() -> None:
    old = np.zeros((100, 200, 4), np.uint8)
    new = old.copy()
    new[10:12, 20:25] = 9
    new[70, 150] = 9
    new[..., 3] = 255  # the padding byte does not count
    assert sorted(changed_boxes(old, new, [Box(0, 0, 200, 100)]), key=lambda b: b.y) == [
        Box(20, 10, 5, 2),
        Box(150, 70, 1, 1),
    ]
    assert changed_boxes(old, new, [Box(100, 50, 100, 50)]) == [Box(150, 70, 1, 1)]
    assert changed_boxes(old, new, [Box(0, 50, 100, 50)]) == []


def test_changed_boxes_keep_far_apart_changes_apart() -> None:
    old = np.zeros((256, 256, 4), np.uint8)
    new = old.copy()
    new[0, 0] = new[255, 255] = 1
    boxes = changed_boxes(old, new, [Box(0, 0, 256, 256)])
    assert sorted(boxes, key=lambda b: b.y) == [Box(0, 0, 1, 1), Box(255, 255, 1, 1)]


def test_region_merges_touching_boxes_and_keeps_distant_ones() -> None:
    region = Region()
    region.add(Box(0, 0, 10, 10))
    region.add(Box(10, 0, 10, 10))
    region.add(Box(5, 5, 2, 2))  # inside
    region.add(Box(1000, 1000, 10, 10))
    assert sorted(region.boxes, key=lambda b: b.x) == [Box(0, 0, 20, 10), Box(1000, 1000, 10, 10)]


def test_region_with_too_many_boxes_becomes_their_bounds() -> None:
    region = Region()
    for index in range(MAX_BOXES + 1):
        region.add(Box(index * 200, index * 200, 1, 1))
    assert region.boxes == [Box(0, 0, MAX_BOXES * 200 + 1, MAX_BOXES * 200 + 1)]


def test_region_take_within_keeps_what_lies_outside() -> None:
    region = Region()
    region.add(Box(0, 0, 10, 10))
    region.add(Box(500, 500, 10, 10))
    assert region.take(Box(0, 0, 100, 100)) == [Box(0, 0, 10, 10)]
    assert region.boxes == [Box(500, 500, 10, 10)]
    assert region.take(Box(505, 0, 100, 1000)) == [Box(505, 500, 5, 10)]
    assert region.boxes == [Box(500, 500, 5, 10)]
    assert region.take() == [Box(500, 500, 5, 10)] and not region


def test_box_subtract_leaves_exactly_the_outside() -> None:
    box, hole = Box(0, 0, 10, 10), Box(3, 4, 2, 3)
    parts = box.subtract(hole)
    covered = np.zeros((10, 10), int)
    for part in [*parts, hole]:
        covered[part.slices()] += 1
    assert (covered == 1).all() and len(parts) == 4
    assert box.subtract(Box(20, 20, 5, 5)) == [box] and box.subtract(box) == []


@contextlib.asynccontextmanager
async def watched(
    source: DamageSource, max_fps: float = 60
) -> AsyncIterator[tuple[FrameBus, Subscription]]:
    """A running bus over ``source`` and one subscriber that has taken its first (whole)
    frame."""
    bus = FrameBus(source, run_sync=inline, max_fps=max_fps)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bus.run)
        subscription = bus.subscribe(Wakeup())
        await trio.sleep(1)
        subscription.take_damage()
        yield bus, subscription
        nursery.cancel_scope.cancel()


@pytest.fixture
def source() -> DamageSource:
    return DamageSource()


async def test_nothing_is_captured_while_nobody_watches(source, autojump_clock) -> None:
    bus = FrameBus(source, run_sync=inline, max_fps=60)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bus.run)
        source.paint(Box(0, 0, 5, 5), 1)
        await trio.sleep(5)
        assert source.captures == 0
        nursery.cancel_scope.cancel()


async def test_a_static_screen_is_captured_once_then_only_on_damage(source, autojump_clock) -> None:
    bus = FrameBus(source, run_sync=inline, max_fps=60)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bus.run)
        subscription = bus.subscribe(Wakeup())
        await trio.sleep(5)
        assert source.captures == 1
        frame, boxes = subscription.take_damage()
        assert boxes == [frame.box]  # a new viewer gets everything
        source.paint(Box(30, 40, 3, 2), 7)
        await trio.sleep(1)
        assert bus.statistics().frames_captured == 2
        frame, boxes = subscription.take_damage()
        assert boxes == [Box(30, 40, 3, 2)]
        assert (frame.pixels[40:42, 30:33] == 7).all()
        assert not subscription.has_damage()
        nursery.cancel_scope.cancel()


async def test_the_frame_clock_caps_captures_and_coalesces(source, autojump_clock) -> None:
    async with watched(source, max_fps=10) as (bus, subscription):
        start = bus.statistics().frames_captured
        for step in range(100):  # 100 changes a second for one second
            source.paint(Box(step, 0, 1, 1), 200)
            await trio.sleep(0.01)
        await trio.sleep(0.2)
        assert bus.statistics().frames_captured - start <= 12  # one at once, then one every 0.1 s
        _, boxes = subscription.take_damage()
        assert boxes == [Box(0, 0, 100, 1)]  # every change, merged


async def test_the_first_change_after_idle_is_captured_at_once(source, autojump_clock) -> None:
    bus = FrameBus(source, run_sync=inline, max_fps=1)
    wakeup = Wakeup()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bus.run)
        subscription = bus.subscribe(wakeup)
        await trio.sleep(10)
        subscription.take_damage()
        source.paint(Box(0, 0, 1, 1), 3)
        started = trio.current_time()
        await wakeup.wait()
        assert trio.current_time() - started < 0.01
        nursery.cancel_scope.cancel()


async def test_a_source_without_damage_is_polled_at_max_fps(autojump_clock) -> None:
    source = ArraySource()
    bus = FrameBus(source, run_sync=inline, max_fps=20)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bus.run)
        subscription = bus.subscribe(Wakeup())
        await trio.sleep(0.5)
        subscription.take_damage()
        source.pixels[5, 6] ^= 1
        await trio.sleep(0.2)  # a few polls, whatever their phase
        _, boxes = subscription.take_damage()
        assert boxes == [Box(6, 5, 1, 1)]
        captured = bus.statistics().frames_captured
        await trio.sleep(1)
        assert 18 <= bus.statistics().frames_captured - captured <= 21
        nursery.cancel_scope.cancel()


async def test_a_viewer_joining_after_unwatched_changes_sees_them(source, autojump_clock) -> None:
    bus = FrameBus(source, run_sync=inline, max_fps=60)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bus.run)
        first = bus.subscribe(Wakeup())
        await trio.sleep(1)
        bus.unsubscribe(first)
        source.paint(Box(0, 0, 4, 4), 99)
        await trio.sleep(1)
        second = bus.subscribe(Wakeup())
        await trio.sleep(1)
        frame, boxes = second.take_damage()
        assert boxes == [frame.box] and (frame.pixels[:4, :4] == 99).all()
        nursery.cancel_scope.cancel()


class LeavingSource(DamageSource):
    """Runs ``leave`` as the bus next asks for damage: right after it took a report, before
    its capture loop has looked at it."""

    def __init__(self) -> None:
        super().__init__()
        self.leave: Callable[[], None] | None = None

    async def wait_for_damage(self) -> list[Box]:
        if self.leave is not None:
            self.leave()
            self.leave = None
        return await super().wait_for_damage()


async def test_damage_reported_just_before_the_last_viewer_left_is_not_lost(
    autojump_clock,
) -> None:
    source = LeavingSource()
    bus = FrameBus(source, run_sync=inline, max_fps=60)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bus.run)
        first = bus.subscribe(Wakeup())
        await trio.sleep(1)
        source.leave = lambda: bus.unsubscribe(first)
        source.paint(Box(0, 0, 4, 4), 99)
        await trio.sleep(1)
        bus.subscribe(Wakeup())
        await trio.sleep(1)
        assert bus.latest is not None and (bus.latest.pixels[:4, :4] == 99).all()
        nursery.cancel_scope.cancel()


async def test_small_damage_is_grabbed_alone_and_patched_in(source, autojump_clock) -> None:
    async with watched(source) as (bus, subscription):
        first = bus.latest
        source.paint(Box(30, 40, 3, 2), 7)
        source.paint(Box(100, 100, 4, 4), 9)
        await trio.sleep(1)
        assert source.captures == 1  # the first, whole; then only the two boxes
        assert sorted(source.regions, key=lambda box: box.x) == [
            Box(30, 40, 3, 2),
            Box(100, 100, 4, 4),
        ]
        frame, boxes = subscription.take_damage()
        assert frame.serial == first.serial + 1
        assert sorted(boxes, key=lambda box: box.x) == [Box(30, 40, 3, 2), Box(100, 100, 4, 4)]
        np.testing.assert_array_equal(frame.pixels, source.pixels)


async def test_large_or_outside_damage_is_grabbed_whole(source, autojump_clock) -> None:
    async with watched(source) as (_, subscription):
        source.paint(Box(0, 0, 200, 100), 5)  # most of the 200x120 screen
        await trio.sleep(1)
        assert source.captures == 2 and source.regions == []
        source.pixels = np.zeros((150, 250, 4), np.uint8)  # the desktop grew...
        source.paint(Box(0, 0, 250, 150), 1)  # ...and says so in its new size
        await trio.sleep(1)
        frame, boxes = subscription.take_damage()
        assert (frame.width, frame.height) == (250, 150) and boxes == [frame.box]


async def test_a_viewer_never_sees_a_frame_older_than_its_arrival(source, autojump_clock) -> None:
    """Changes made while nobody watched were never captured: the last frame is stale, and a
    new viewer waits for a fresh one instead of being shown it."""
    bus = FrameBus(source, run_sync=inline, max_fps=60)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bus.run)
        first = bus.subscribe(Wakeup())
        await trio.sleep(1)
        old, _ = first.take_damage()
        bus.unsubscribe(first)
        source.paint(Box(0, 0, 10, 10), 42)
        await trio.sleep(1)
        second = bus.subscribe(Wakeup())
        assert not second.has_damage()  # nothing to show until the fresh capture
        await trio.sleep(0.1)
        frame, boxes = second.take_damage()
        assert boxes == [frame.box] and frame.serial > old.serial
        assert (frame.pixels[:10, :10] == 42).all()
        nursery.cancel_scope.cancel()


async def test_a_whole_capture_that_found_nothing_leaves_patching_intact(
    source, autojump_clock
) -> None:
    """Large damage with no real change (a window redrawn as it was) is captured whole and
    published nowhere; the next small change must still land in the published frame."""
    async with watched(source) as (_, subscription):
        source.paint(Box(0, 0, 200, 120), 3)  # a new buffer is published
        await trio.sleep(1)
        subscription.take_damage()
        source.paint(Box(0, 0, 200, 120), 3)  # painted as it was: captured whole, unused
        await trio.sleep(1)
        assert not subscription.has_damage()
        source.paint(Box(5, 5, 2, 2), 250)  # then a small change, grabbed alone
        await trio.sleep(1)
        frame, boxes = subscription.take_damage()
        assert boxes == [Box(5, 5, 2, 2)] and (frame.pixels[5:7, 5:7] == 250).all()


class _LatestOnly:
    """What a subscription reads of its bus: the latest frame."""

    def __init__(self) -> None:
        self.latest = Frame(np.zeros((100, 200, 4), np.uint8), 1)


def copying_subscription() -> Subscription:
    subscription = Subscription(_LatestOnly(), Wakeup())
    subscription.accepts_moves = True
    subscription.take_damage()  # the first, whole update went
    return subscription


SCROLL = Move(0, -10, (Box(0, 0, 200, 90),))  # everything up by 10 rows
CHANGED = [Box(0, 0, 200, 100)]


def test_a_move_becomes_a_copy_and_only_the_rest_stays_damage():
    subscription = copying_subscription()
    subscription.add_damage(CHANGED, SCROLL)
    assert subscription.take_copy() == Move(0, -10, (Box(0, 0, 200, 90),))
    assert subscription.take_damage()[1] == [Box(0, 90, 200, 10)]


def test_a_copy_reads_no_pixel_the_viewer_has_not_been_sent():
    subscription = copying_subscription()
    subscription.add_damage([Box(0, 50, 200, 5)])  # pending: the viewer shows old rows there
    subscription.add_damage(CHANGED, SCROLL)
    copy = subscription.take_copy()
    assert copy is not None and Box(0, 40, 200, 5) not in copy.boxes
    covered = cover_count(copy.boxes, 100, 200)
    assert not covered[40:45].any() and covered[:40].all() and covered[45:90].all()
    damage = cover_count(subscription.take_damage()[1], 100, 200)
    assert damage[40:45].all() and damage[90:].all()


@pytest.mark.parametrize("accepts", [True, False])
def test_a_copy_that_cannot_go_is_sent_as_pixels(accepts):
    """A viewer that stopped taking CopyRect, or a request for part of the screen only."""
    subscription = copying_subscription()
    subscription.add_damage(CHANGED, SCROLL)
    subscription.accepts_moves = accepts
    assert subscription.take_copy(within=Box(0, 0, 200, 50) if accepts else None) is None
    assert cover_count(subscription.take_damage()[1], 100, 200).all()


def test_one_copy_per_update_the_next_move_goes_as_pixels():
    subscription = copying_subscription()
    subscription.add_damage(CHANGED, SCROLL)
    subscription.add_damage(CHANGED, SCROLL)
    assert subscription.take_copy() == Move(0, -10, (Box(0, 0, 200, 90),))
    assert subscription.take_damage()[1] == [Box(0, 0, 200, 100)]


async def test_a_whole_grab_finds_what_the_desktop_drew_after_its_report(
    source, autojump_clock
) -> None:
    """A big report makes the bus grab the whole screen; what the desktop drew meanwhile,
    outside the report, is in that grab, so it must be published now: its own report comes
    when the buffer holds it already, and it would never be sent (a dragged window's edge)."""
    async with watched(source) as (_, subscription):
        source.pixels[100:110, 0:20] = 3  # drawn, not reported yet
        source.paint(Box(0, 0, 200, 60), 5)  # half the screen: grabbed whole
        await trio.sleep(0.1)
        assert source.regions == []  # no box grabbed alone
        damage = cover_count(subscription.take_damage()[1], 120, 200)
        assert damage[100:110, 0:20].all()


async def test_a_box_keeps_its_version_until_something_in_it_changes(
    source, autojump_clock
) -> None:
    """Viewers that encode the same boxes of the same version share one encoding: the
    version must change with any pixel in the boxes and with nothing outside them."""
    async with watched(source) as (bus, _):
        still, left, right = Box(0, 64, 200, 56), Box(0, 0, 64, 32), Box(128, 0, 64, 32)
        before = bus.version([still])
        source.paint(left, 1)
        await trio.sleep(0.1)
        after_left = bus.version([left])
        source.paint(Box(130, 5, 1, 1), 2)  # one pixel of the right box
        await trio.sleep(0.1)
        assert bus.version([still]) == before
        assert bus.version([left]) == after_left > before
        assert bus.version([right]) > after_left
        assert bus.version([still, left, right]) == bus.version([right])
