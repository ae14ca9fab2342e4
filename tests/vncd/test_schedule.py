"""vncd.schedule and vncd.fences: when a viewer gets updates, and the answers to its fences.

Pure: time is an argument, so every rule is checked without sockets or sleeps. The
properties at the end drive a scheduler the way the session's writer does.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import BGRX, EndOfContinuousUpdates, Fence, KeyEvent, SetPixelFormat
from protocol.encodings import Encoding
from vncd.congestion import ANSWER_TIMEOUT, INITIAL_WINDOW, STALL_TIMEOUT
from vncd.fences import FenceFlag, FenceReplies, reply_to
from vncd.region import Box
from vncd.schedule import MAX_BOXES, Decision, Pending, Reason, UpdateScheduler

FULL = Box(0, 0, 640, 480)
CORNER = Box(0, 0, 64, 48)
PERIOD = 1 / 60
FENCE_ENCODINGS = [Encoding.RAW, Encoding.FENCE]
ALL_ENCODINGS = [Encoding.RAW, Encoding.FENCE, Encoding.CONTINUOUS_UPDATES]


def announced(**kwargs: float) -> UpdateScheduler:
    """A scheduler for a viewer that lists Fence and ContinuousUpdates."""
    scheduler = UpdateScheduler(**kwargs)
    scheduler.encodings(0.0, ALL_ENCODINGS)
    return scheduler


def send(scheduler: UpdateScheduler, now: float, has_damage: bool = True) -> Pending:
    assert scheduler.decide(now, has_damage).send
    return scheduler.take(now)


# --- fences.py ------------------------------------------------------------------------


def test_a_fence_request_is_answered_with_its_payload_and_the_flags_we_honour() -> None:
    unknown = 1 << 5
    request = Fence(FenceFlag.REQUEST | FenceFlag.BLOCK_BEFORE | unknown, b"abc")
    assert reply_to(request) == Fence(FenceFlag.BLOCK_BEFORE, b"abc")
    everything = FenceFlag.REQUEST | FenceFlag.BLOCK_BEFORE | FenceFlag.BLOCK_AFTER
    assert reply_to(Fence(everything | FenceFlag.SYNC_NEXT, b"")) == Fence(
        FenceFlag.BLOCK_BEFORE | FenceFlag.BLOCK_AFTER | FenceFlag.SYNC_NEXT, b""
    )


def test_a_fence_response_is_not_answered() -> None:
    assert reply_to(Fence(FenceFlag.BLOCK_BEFORE, b"vncd\x00\x00\x00\x01")) is None


def test_fence_replies_go_at_once() -> None:
    replies = FenceReplies()
    assert replies.handled(Fence(FenceFlag.REQUEST, b"1")) == (Fence(0, b"1"),)
    assert replies.handled(KeyEvent(True, 0x61)) == ()


def test_a_sync_next_reply_waits_for_the_next_message() -> None:
    """rfbproto SyncNext: the reply marks the point where the next message took effect."""
    replies = FenceReplies()
    sync = Fence(FenceFlag.REQUEST | FenceFlag.SYNC_NEXT, b"s")
    assert replies.handled(sync) == ()
    assert replies.handled(SetPixelFormat(BGRX)) == (Fence(FenceFlag.SYNC_NEXT, b"s"),)
    assert replies.handled(KeyEvent(True, 0x61)) == ()


def test_a_fence_after_a_sync_next_fence_is_answered_first() -> None:
    replies = FenceReplies()
    replies.handled(Fence(FenceFlag.REQUEST | FenceFlag.SYNC_NEXT, b"1"))
    assert replies.handled(Fence(FenceFlag.REQUEST | FenceFlag.BLOCK_AFTER, b"2")) == (
        Fence(FenceFlag.BLOCK_AFTER, b"2"),
        Fence(FenceFlag.SYNC_NEXT, b"1"),
    )


def test_two_sync_next_fences_in_a_row_lose_no_reply() -> None:
    replies = FenceReplies()
    replies.handled(Fence(FenceFlag.REQUEST | FenceFlag.SYNC_NEXT, b"1"))
    assert replies.handled(Fence(FenceFlag.REQUEST | FenceFlag.SYNC_NEXT, b"2")) == (
        Fence(FenceFlag.SYNC_NEXT, b"1"),
    )
    assert replies.handled(KeyEvent(False, 0x61)) == (Fence(FenceFlag.SYNC_NEXT, b"2"),)


def test_a_pong_releases_a_held_reply_but_is_not_answered() -> None:
    replies = FenceReplies()
    replies.handled(Fence(FenceFlag.REQUEST | FenceFlag.SYNC_NEXT, b"1"))
    assert replies.handled(Fence(FenceFlag.BLOCK_BEFORE, b"pong")) == (
        Fence(FenceFlag.SYNC_NEXT, b"1"),
    )


# --- announcements ----------------------------------------------------------------------


def test_a_viewer_without_fence_is_announced_nothing_and_never_pinged() -> None:
    scheduler = UpdateScheduler()
    assert scheduler.encodings(0.0, [Encoding.RAW, Encoding.CONTINUOUS_UPDATES]) == ()
    assert not scheduler.fences
    scheduler.request(False, FULL)
    send(scheduler, 0.0)
    scheduler.sent(0.0, 10 * INITIAL_WINDOW)
    assert scheduler.ping(0.0) is None
    scheduler.request(True, FULL)
    assert scheduler.decide(1.0, True).send  # nothing measured, nothing held back


def test_fence_and_continuous_updates_are_announced_once_in_order() -> None:
    scheduler = UpdateScheduler()
    probe, end = scheduler.encodings(0.0, ALL_ENCODINGS)
    assert isinstance(probe, Fence)
    assert probe.flags == FenceFlag.REQUEST | FenceFlag.BLOCK_BEFORE
    assert end == EndOfContinuousUpdates()
    assert scheduler.encodings(1.0, ALL_ENCODINGS) == ()
    # The probe is a ping: its answer measures the wire.
    scheduler.pong(0.03, probe.payload)
    assert scheduler.congestion.base_rtt == pytest.approx(0.03)


def test_continuous_updates_are_offered_only_with_fences() -> None:
    """Like TigerVNC: without round trips nothing would pace them."""
    scheduler = UpdateScheduler()
    assert scheduler.encodings(0.0, [Encoding.CONTINUOUS_UPDATES]) == ()
    (probe,) = scheduler.encodings(0.0, FENCE_ENCODINGS)
    assert isinstance(probe, Fence)
    assert scheduler.encodings(0.0, ALL_ENCODINGS) == (EndOfContinuousUpdates(),)


def test_continuous_updates_never_offered_are_ignored() -> None:
    scheduler = UpdateScheduler()
    scheduler.encodings(0.0, FENCE_ENCODINGS)
    assert scheduler.continuous(True, FULL) == ()
    assert scheduler.continuous(False, FULL) == ()  # no EndOfContinuousUpdates to a stranger
    assert scheduler.continuous_area is None
    assert scheduler.decide(0.0, True) == Decision(Reason.NO_REQUEST)


# --- requests -----------------------------------------------------------------------------


def test_an_incremental_request_waits_for_damage() -> None:
    scheduler = UpdateScheduler()
    assert scheduler.decide(0.0, True) == Decision(Reason.NO_REQUEST)
    scheduler.request(True, FULL)
    assert scheduler.area == (FULL,)
    assert scheduler.decide(0.0, False) == Decision(Reason.NOTHING_TO_SEND)
    assert scheduler.take(0.0) == Pending(refresh=(), area=(FULL,))
    assert scheduler.decide(1.0, True) == Decision(Reason.NO_REQUEST)


def test_a_non_incremental_request_is_answered_on_a_static_screen() -> None:
    scheduler = UpdateScheduler()
    scheduler.request(False, CORNER)
    assert scheduler.area == ()
    assert send(scheduler, 0.0, has_damage=False) == Pending(refresh=(CORNER,), area=())
    assert scheduler.decide(1.0, False) == Decision(Reason.NO_REQUEST)


def test_an_empty_non_incremental_request_is_still_answered() -> None:
    """rfbproto: "an empty area can still solicit a FramebufferUpdate"."""
    scheduler = UpdateScheduler()
    scheduler.request(False, Box(0, 0, 0, 0))
    assert send(scheduler, 0.0, has_damage=False).refresh == (Box(0, 0, 0, 0),)


def test_one_update_answers_every_outstanding_request() -> None:
    scheduler = UpdateScheduler()
    scheduler.request(False, CORNER)
    scheduler.request(True, FULL)
    scheduler.request(True, FULL)
    assert send(scheduler, 0.0) == Pending(refresh=(CORNER,), area=(FULL,))
    assert scheduler.decide(1.0, True) == Decision(Reason.NO_REQUEST)


def test_requested_areas_are_merged() -> None:
    scheduler = UpdateScheduler()
    scheduler.request(True, CORNER)
    scheduler.request(True, Box(10, 10, 5, 5))  # inside: adds nothing
    assert scheduler.area == (CORNER,)
    scheduler.request(True, FULL)  # covers it
    assert scheduler.area == (FULL,)
    scheduler.take(0.0)
    boxes = [Box(10 * n, 5 * n, 4, 4) for n in range(MAX_BOXES + 1)]
    for box in boxes[:MAX_BOXES]:
        scheduler.request(True, box)
    assert scheduler.area == tuple(boxes[:MAX_BOXES])
    scheduler.request(True, boxes[MAX_BOXES])
    assert scheduler.area == (Box(0, 0, 10 * MAX_BOXES + 4, 5 * MAX_BOXES + 4),)


# --- continuous updates --------------------------------------------------------------------


def test_continuous_updates_send_damage_without_requests() -> None:
    scheduler = announced()
    assert scheduler.continuous(True, CORNER) == ()
    assert scheduler.area == (CORNER,)
    for frame in range(5):
        assert send(scheduler, frame * PERIOD) == Pending(refresh=(), area=(CORNER,))
    assert scheduler.decide(1.0, False) == Decision(Reason.NOTHING_TO_SEND)


def test_continuous_updates_ignore_incremental_requests_but_honour_the_others() -> None:
    """rfbproto EnableContinuousUpdates: incremental requests are ignored while it is on;
    non-incremental ones are honoured even outside its area."""
    scheduler = announced()
    scheduler.request(True, FULL)
    scheduler.continuous(True, CORNER)
    assert scheduler.area == (CORNER,)  # the outstanding request is dropped too
    scheduler.request(True, FULL)
    assert scheduler.area == (CORNER,)
    outside = Box(100, 100, 10, 10)
    scheduler.request(False, outside)
    assert send(scheduler, 0.0, has_damage=False) == Pending(refresh=(outside,), area=(CORNER,))


def test_enabling_again_replaces_the_area() -> None:
    scheduler = announced()
    scheduler.continuous(True, CORNER)
    scheduler.continuous(True, FULL)
    assert scheduler.area == (FULL,)


def test_disabling_continuous_updates_is_always_confirmed() -> None:
    """rfbproto: EndOfContinuousUpdates "must be sent out even if continuous updates were
    already disabled"."""
    scheduler = announced()
    scheduler.continuous(True, FULL)
    assert scheduler.continuous(False, FULL) == (EndOfContinuousUpdates(),)
    assert scheduler.decide(0.0, True) == Decision(Reason.NO_REQUEST)
    assert scheduler.continuous(False, FULL) == (EndOfContinuousUpdates(),)
    scheduler.request(True, FULL)  # requests count again
    assert scheduler.decide(0.0, True).send


# --- frame clock ---------------------------------------------------------------------------


def test_the_first_update_after_idle_goes_at_once() -> None:
    scheduler = announced()
    scheduler.continuous(True, FULL)
    send(scheduler, 10.0)
    assert scheduler.decide(10.005, True) == Decision(Reason.FRAME_CLOCK, 10.0 + PERIOD)
    send(scheduler, 10.0 + PERIOD)
    # A slot without an update: the clock restarts with the next change, at once.
    send(scheduler, 10.0 + 3.5 * PERIOD)
    assert scheduler.decide(10.0 + 4 * PERIOD, True).until == pytest.approx(10 + 4.5 * PERIOD)


def test_the_frame_rate_is_configurable() -> None:
    scheduler = announced(max_fps=30)
    scheduler.continuous(True, FULL)
    send(scheduler, 0.0)
    assert scheduler.decide(0.02, True) == Decision(Reason.FRAME_CLOCK, 1 / 30)
    with pytest.raises(ValueError):
        UpdateScheduler(max_fps=0)


def test_a_source_at_the_frame_rate_gets_every_frame_despite_jitter() -> None:
    """A 60 Hz animation whose frames arrive up to 4 ms early or late: the clock keeps its
    grid, so no frame is merged into the next and none waits more than the jitter."""
    scheduler = announced()
    scheduler.continuous(True, FULL)
    jitter = random.Random(8)
    sent = 0
    for frame in range(600):
        arrives = 1.0 + frame * PERIOD + jitter.uniform(-0.004, 0.004)
        decision = scheduler.decide(arrives, True)
        now = arrives if decision.send else decision.until
        assert now is not None and now - arrives <= 0.008
        send(scheduler, now)
        sent += 1
    assert sent == 600


# --- congestion -----------------------------------------------------------------------------


def test_each_update_is_followed_by_one_ping() -> None:
    scheduler = announced()
    scheduler.continuous(True, FULL)
    assert scheduler.ping(0.0) is None  # nothing taken yet
    send(scheduler, 0.0)
    scheduler.sent(0.0, 5000)
    ping = scheduler.ping(0.0)
    assert ping is not None
    assert ping.flags == FenceFlag.REQUEST | FenceFlag.BLOCK_BEFORE
    assert scheduler.ping(0.0) is None


def test_a_full_window_holds_updates_until_the_pong() -> None:
    scheduler = UpdateScheduler()
    (probe,) = scheduler.encodings(0.0, FENCE_ENCODINGS)
    assert isinstance(probe, Fence)
    scheduler.sent(0.0, 17)
    scheduler.pong(0.02, probe.payload)
    scheduler.request(False, FULL)
    send(scheduler, 0.02)
    scheduler.sent(0.02, 1_000_000)
    ping = scheduler.ping(0.02)
    assert ping is not None
    scheduler.request(True, FULL)
    decision = scheduler.decide(0.1, True)
    assert decision.reason is Reason.CONGESTED
    assert decision.until == scheduler.congestion.uncongested_at(0.1)
    scheduler.pong(0.5, ping.payload)
    assert scheduler.decide(0.5, True).send


def test_a_viewer_that_never_answers_waits_once_at_most_answer_timeout() -> None:
    scheduler = announced()  # the probe is never answered
    scheduler.continuous(True, FULL)
    send(scheduler, 0.0)
    scheduler.sent(0.0, 1_000_000)
    scheduler.ping(0.0)
    assert scheduler.decide(0.1, True) == Decision(Reason.CONGESTED, ANSWER_TIMEOUT)
    for frame in range(60):
        now = ANSWER_TIMEOUT + frame * PERIOD
        send(scheduler, now)
        scheduler.sent(now, 1_000_000 * (frame + 2))
        scheduler.ping(now)


def test_a_viewer_that_drops_fence_is_no_longer_held_back() -> None:
    scheduler = announced()
    scheduler.continuous(True, FULL)
    send(scheduler, 0.0)
    scheduler.sent(0.0, 1_000_000)
    scheduler.ping(0.0)
    assert scheduler.decide(0.1, True).reason is Reason.CONGESTED
    scheduler.encodings(0.1, [Encoding.RAW, Encoding.CONTINUOUS_UPDATES])
    assert scheduler.decide(0.1, True).send


# --- properties -----------------------------------------------------------------------------

steps = st.lists(
    st.one_of(
        st.tuples(st.just("incremental"), st.sampled_from([FULL, CORNER])),
        st.tuples(st.just("refresh"), st.sampled_from([FULL, CORNER, Box(0, 0, 0, 0)])),
        st.tuples(st.just("continuous"), st.sampled_from([FULL, CORNER, None])),
        st.tuples(st.just("damage"), st.booleans()),
        st.tuples(st.just("pong"), st.integers(0, 10)),
        st.tuples(st.just("wait"), st.integers(0, 50)),  # milliseconds
        st.tuples(st.just("write"), st.integers(0, 2_000_000)),  # an update, if allowed
    ),
    max_size=120,
)


class Writer:
    """Drives a scheduler as the session's writer does, and checks every update it sends
    against its own record of what the viewer asked for."""

    def __init__(self, fences: bool, max_fps: float) -> None:
        self.scheduler = UpdateScheduler(max_fps=max_fps)
        self.now = 0.0
        self.position = 0
        self.pings: list[bytes] = []
        self.updates: list[float] = []
        self.damage = False
        self.requested = False  # an incremental request since the last update
        self.refresh: list[Box] = []
        self.continuous = False
        for event in self.scheduler.encodings(0.0, ALL_ENCODINGS if fences else []):
            self.wrote(event)

    def wrote(self, event: object, size: int = 17) -> None:
        self.position += size
        self.scheduler.sent(self.now, self.position)
        if isinstance(event, Fence):
            self.pings.append(event.payload)

    def apply(self, step: str, value: object) -> None:
        scheduler = self.scheduler
        match step, value:
            case "incremental", Box() as box:
                scheduler.request(True, box)
                self.requested |= not self.continuous
            case "refresh", Box() as box:
                scheduler.request(False, box)
                self.refresh.append(box)
            case "continuous", Box() | None as area:
                for event in scheduler.continuous(area is not None, area or FULL):
                    self.wrote(event, 1)
                if scheduler.fences:  # offered: it takes effect
                    self.continuous = area is not None
                    self.requested &= not self.continuous
            case "damage", bool(damage):
                self.damage = damage
            case "pong", int(index) if self.pings:
                index %= len(self.pings)
                scheduler.pong(self.now, self.pings[index])
                del self.pings[: index + 1]
            case "wait", int(milliseconds):
                self.now += milliseconds / 1000
            case "write", int(size):
                self.write(size)

    def write(self, size: int) -> Pending | None:
        decision = self.scheduler.decide(self.now, self.damage)
        if decision.until is not None:
            assert decision.until > self.now
        if not decision.send:
            return None
        allowed = self.refresh or (self.damage and (self.requested or self.continuous))
        assert allowed, "an update nobody asked for"
        pending = self.scheduler.take(self.now)
        assert set(pending.refresh) <= set(self.refresh)
        self.updates.append(self.now)
        self.refresh.clear()
        self.requested = False
        self.damage = False
        self.wrote(pending, size)
        if (ping := self.scheduler.ping(self.now)) is not None:
            self.wrote(ping)
        return pending


@settings(max_examples=300, deadline=None)
@given(steps, st.booleans(), st.sampled_from([60.0, 30.0, 24.0]))
def test_updates_are_asked_for_and_within_the_frame_rate(
    script: list[tuple[str, object]], fences: bool, max_fps: float
) -> None:
    writer = Writer(fences, max_fps)
    for step, value in script:
        writer.apply(step, value)
    # Any n consecutive updates span more than n - 2 periods: at most max_fps + 1 in a
    # second, max_fps a second in the long run.
    period = 1 / max_fps
    times = writer.updates
    for first in range(len(times)):
        for n in range(1, len(times) - first):
            assert times[first + n] - times[first] > (n - 1) * period - 1e-9
        in_one_second = [t for t in times[first:] if t < times[first] + 1.0]
        assert len(in_one_second) <= max_fps + 1


@settings(max_examples=300, deadline=None)
@given(steps, st.booleans(), st.sampled_from([FULL, CORNER, Box(0, 0, 0, 0)]))
def test_a_non_incremental_request_is_always_answered(
    script: list[tuple[str, object]], fences: bool, box: Box
) -> None:
    """Whatever came before (unanswered pings, a full window), a refresh goes out by itself:
    the writer only ever waits for a time, and not for long."""
    writer = Writer(fences, 60.0)
    for step, value in script:
        writer.apply(step, value)
    writer.apply("refresh", box)
    asked = writer.now
    while (pending := writer.write(100_000)) is None:
        decision = writer.scheduler.decide(writer.now, writer.damage)
        assert decision.until is not None, decision
        writer.now = decision.until
    assert any(box.intersect(other) == box for other in pending.refresh)
    assert writer.now - asked <= STALL_TIMEOUT + PERIOD
