"""vncd.congestion: the congestion window from fence round trips, without sockets or sleeps.

Unit tests feed writes, pings and pongs by hand; the closed-loop tests run a sender against a
simulated bottleneck link (a rate and a one-way delay, pongs answered as soon as the viewer
has read the ping) and check what a user would notice: queueing delay and throughput.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vncd.congestion import (
    ANSWER_TIMEOUT,
    INITIAL_WINDOW,
    MAX_PINGS,
    MAX_WINDOW,
    MIN_RTT,
    MIN_WINDOW,
    STALL_TIMEOUT,
    Congestion,
)

FENCE_BYTES = 17  # a ServerFence with an 8-byte payload


def answered(congestion: Congestion, now: float, *, rtt: float, position: int) -> bytes:
    """Write up to ``position``, ping, and answer the ping ``rtt`` later; returns the payload."""
    congestion.sent(now, position)
    payload = congestion.ping(now)
    assert payload is not None
    congestion.pong(now + rtt, payload)
    return payload


# --- by hand ---------------------------------------------------------------------------


def test_a_fresh_link_is_open() -> None:
    congestion = Congestion()
    assert congestion.window == INITIAL_WINDOW
    assert congestion.base_rtt is None
    assert congestion.in_flight(0.0) == 0
    assert not congestion.is_congested(0.0)
    assert congestion.uncongested_at(0.0) == 0.0


def test_without_pings_nothing_is_ever_congested() -> None:
    """A viewer without Fence is never pinged, so congestion never holds it back."""
    congestion = Congestion()
    congestion.sent(0.0, 10 * MAX_WINDOW)
    assert not congestion.is_congested(0.0)


def test_the_first_pong_is_awaited_at_most_answer_timeout() -> None:
    congestion = Congestion()
    assert congestion.ping(10.0) is not None  # the probe, on an empty link
    congestion.sent(10.0, 1_000_000)  # the first full update
    assert congestion.is_congested(10.0)
    assert congestion.uncongested_at(10.0) == 10.0 + ANSWER_TIMEOUT
    assert congestion.uncongested_at(10.25) == 10.0 + ANSWER_TIMEOUT
    # A viewer that lists Fence but never answers is then simply not held back.
    assert not congestion.is_congested(10.0 + ANSWER_TIMEOUT)


def test_a_pong_measures_the_round_trip_and_acknowledges() -> None:
    congestion = Congestion()
    payload = congestion.ping(0.0)
    assert payload is not None
    congestion.sent(0.0, 1_000_000)
    congestion.pong(0.05, payload)
    assert congestion.base_rtt == pytest.approx(0.05)
    statistics = congestion.statistics()
    assert statistics.rtt == pytest.approx(0.05)
    assert statistics.pings == 0
    # The update written after the ping is still in flight; the window is full.
    assert congestion.in_flight(0.05) == 1_000_000
    assert congestion.is_congested(0.05)


def test_round_trips_are_at_least_min_rtt() -> None:
    congestion = Congestion()
    answered(congestion, 0.0, rtt=1e-6, position=100)
    assert congestion.base_rtt == MIN_RTT


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x01", b"vncd", b"xxxx\x00\x00\x00\x00", b"vncd\x00\x00\x00\x07", b"vncd" + bytes(60)],
)
def test_foreign_payloads_are_ignored(payload: bytes) -> None:
    congestion = Congestion()
    assert congestion.ping(0.0) is not None
    congestion.sent(0.0, 50_000)
    before = congestion.statistics()
    congestion.pong(0.01, payload)
    assert congestion.statistics() == before
    assert congestion.in_flight(0.01) == 50_000


def test_a_pong_twice_counts_once() -> None:
    congestion = Congestion()
    payload = answered(congestion, 0.0, rtt=0.02, position=100)
    congestion.sent(1.0, 200_000)
    before = congestion.statistics()
    congestion.pong(5.0, payload)
    assert congestion.statistics() == before


def test_an_answer_settles_the_unanswered_pings_before_it() -> None:
    """The viewer answers in stream order: earlier pings will never be answered."""
    congestion = Congestion()
    first = congestion.ping(0.0)
    congestion.sent(0.0, 1000)
    second = congestion.ping(0.0)
    assert first is not None and second is not None and first != second
    congestion.pong(0.03, second)
    assert congestion.statistics().pings == 0
    assert congestion.in_flight(0.03) == 0
    congestion.pong(0.04, first)  # too late: ignored
    assert congestion.base_rtt == pytest.approx(0.03)


def test_pings_are_limited_while_unanswered() -> None:
    congestion = Congestion()
    payloads = [congestion.ping(float(n)) for n in range(MAX_PINGS)]
    assert None not in payloads
    assert len(set(payloads)) == MAX_PINGS
    assert congestion.ping(100.0) is None


def test_the_stream_position_never_goes_back() -> None:
    congestion = Congestion()
    congestion.sent(0.0, 100)
    with pytest.raises(ValueError, match="went back"):
        congestion.sent(1.0, 99)


def test_a_due_pong_is_presumed_but_at_most_a_window_beyond_the_answers() -> None:
    congestion = Congestion()
    answered(congestion, 0.0, rtt=0.01, position=0)  # base RTT 10 ms: the window claims 1.6 MB/s
    congestion.sent(1.0, 4 * INITIAL_WINDOW)
    assert congestion.ping(1.0) is not None
    assert congestion.in_flight(1.0) == 4 * INITIAL_WINDOW
    # Due after 64 KiB at 1.6 MB/s and a round trip: then only one window counts as received.
    due = 1.0 + 4 * INITIAL_WINDOW / (INITIAL_WINDOW / 0.01) + 0.01
    assert congestion.uncongested_at(1.0) > 1.0
    assert congestion.in_flight(due) == 3 * INITIAL_WINDOW
    assert congestion.is_congested(due)


def test_a_viewer_that_stops_answering_is_given_up_on() -> None:
    congestion = Congestion()
    answered(congestion, 0.0, rtt=0.01, position=0)
    congestion.sent(1.0, 4 * INITIAL_WINDOW)
    assert congestion.ping(1.0) is not None
    clear = congestion.uncongested_at(1.0)
    assert 1.0 < clear < math.inf
    assert not congestion.is_congested(clear)
    assert congestion.in_flight(clear) < congestion.window


def test_a_stalled_viewer_is_waited_for_at_most_stall_timeout() -> None:
    """One 3 s round trip makes the window claim 5 KB/s; 10 MB written after it would take
    half an hour at that rate, but a viewer that stops answering is not waited for that long."""
    congestion = Congestion()
    answered(congestion, 0.0, rtt=3.0, position=0)
    congestion.sent(3.0, 10_000_000)
    assert congestion.uncongested_at(3.0) == pytest.approx(3.0 + STALL_TIMEOUT)


def test_fast_answers_to_full_windows_open_the_window() -> None:
    """Slow start: the window doubles every few round trips while it is used and the extra
    delay stays low."""
    congestion = Congestion()
    now, position = 0.0, 0
    for _ in range(30):
        position += congestion.window  # fill it
        answered(congestion, now, rtt=0.01, position=position)
        now += 0.011
    assert congestion.window == MAX_WINDOW
    assert congestion.statistics().slow_start


def test_unused_windows_do_not_grow() -> None:
    """Small updates never fill the window, so they say nothing about a bigger one."""
    congestion = Congestion()
    now, position = 0.0, 0
    for _ in range(30):
        position += 100
        answered(congestion, now, rtt=0.01, position=position)
        now += 0.1
    assert congestion.window == INITIAL_WINDOW


def test_rising_delay_shrinks_the_window_but_not_below_the_minimum() -> None:
    congestion = Congestion()
    answered(congestion, 0.0, rtt=0.01, position=0)
    # Then a busy link (a write every 50 ms) whose answers take half a second: 490 ms late.
    awaited: list[tuple[float, bytes]] = []
    for step in range(1, 200):
        now = step * 0.05
        while awaited and awaited[0][0] <= now:
            congestion.pong(*awaited.pop(0))
        congestion.sent(now, step * 1000)
        payload = congestion.ping(now)
        assert payload is not None
        awaited.append((now + 0.5, payload))
    assert congestion.base_rtt == pytest.approx(0.01)
    assert congestion.window == MIN_WINDOW
    assert not congestion.statistics().slow_start


def test_an_idle_link_keeps_its_window() -> None:
    congestion = Congestion()
    now, position = 0.0, 0
    for _ in range(12):
        position += congestion.window
        answered(congestion, now, rtt=0.01, position=position)
        now += 0.011
    grown = congestion.window
    assert grown > INITIAL_WINDOW
    now += 600.0  # ten quiet minutes
    position += 100
    answered(congestion, now, rtt=0.01, position=position)
    assert congestion.window >= grown
    assert not congestion.is_congested(now + 0.01)


def test_after_idle_a_clean_round_trip_relearns_the_base_rtt() -> None:
    """A changed route (here 10 → 80 ms) is noticed after a pause, from a small update."""
    congestion = Congestion()
    answered(congestion, 0.0, rtt=0.01, position=100)
    answered(congestion, 5.0, rtt=0.08, position=200)
    assert congestion.base_rtt == pytest.approx(0.08)


def test_after_idle_a_big_transfer_does_not_pass_for_the_wire() -> None:
    congestion = Congestion()
    answered(congestion, 0.0, rtt=0.01, position=100)
    answered(congestion, 5.0, rtt=0.5, position=500_000)  # the round trip timed a transfer
    assert congestion.base_rtt == pytest.approx(0.01)


def test_without_idle_the_base_rtt_only_falls() -> None:
    congestion = Congestion()
    now, position = 0.0, 0
    for rtt in (0.03, 0.02, 0.05, 0.04):
        position += 100
        answered(congestion, now, rtt=rtt, position=position)
        now += 0.01  # writing all along
    assert congestion.base_rtt == pytest.approx(0.02)


# --- invariants -------------------------------------------------------------------------

operations = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.integers(1, 3 * MAX_WINDOW)),
        st.tuples(st.just("ping"), st.just(0)),
        st.tuples(st.just("pong"), st.integers(0, 70)),  # which outstanding ping, if any
        st.tuples(st.just("wait"), st.integers(0, 3000)),  # milliseconds
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_the_window_is_bounded_and_waits_always_end(ops: list[tuple[str, int]]) -> None:
    congestion = Congestion()
    now, position = 0.0, 0
    outstanding: list[bytes] = []
    for op, value in ops:
        if op == "write":
            position += value
            congestion.sent(now, position)
        elif op == "ping":
            if (payload := congestion.ping(now)) is not None:
                outstanding.append(payload)
        elif op == "pong" and outstanding:
            index = value % len(outstanding)
            congestion.pong(now, outstanding[index])
            del outstanding[: index + 1]
        else:
            now += value / 1000
        assert MIN_WINDOW <= congestion.window <= MAX_WINDOW
        assert 0 <= congestion.in_flight(now) <= position
        clear = congestion.uncongested_at(now)
        assert congestion.is_congested(now) == (clear > now)
        assert clear < math.inf
        # Nothing else happening, the wait ends exactly then.
        assert not congestion.is_congested(clear)
        if clear > now:
            assert congestion.is_congested(now + (clear - now) / 2)
    assert not congestion.is_congested(now + 3600.0)


# --- closed loop against a simulated link ------------------------------------------------


@attrs.define
class Link:
    """One bottleneck: ``rate(t)`` bytes per second, ``delay`` seconds each way, FIFO."""

    rate: Callable[[float], float]
    delay: float
    busy_until: float = 0.0

    def write(self, now: float, size: int) -> float:
        """When the last byte written now reaches the viewer."""
        start = max(now, self.busy_until)
        self.busy_until = start + size / self.rate(start)
        return self.busy_until + self.delay


@attrs.frozen
class Run:
    #: (written, received by the viewer) for each update.
    updates: list[tuple[float, float]]
    congestion: Congestion

    def between(self, start: float, end: float) -> list[tuple[float, float]]:
        return [update for update in self.updates if start <= update[0] < end]

    def latency(self, start: float, end: float, quantile: float = 1.0) -> float:
        latencies = sorted(received - written for written, received in self.between(start, end))
        return latencies[math.ceil(quantile * len(latencies)) - 1]

    def per_second(self, start: float, end: float) -> float:
        return len(self.between(start, end)) / (end - start)


def stream(
    link: Link, size: int, seconds: float, *, fps: float = 60.0, answers: bool = True
) -> Run:
    """A screen changing all the time: an update of ``size`` bytes whenever the window allows,
    at most ``fps`` a second, each followed by a ping (a probe ping goes first)."""
    congestion = Congestion()
    now, position, next_frame = 0.0, 0, 0.0
    pongs: list[tuple[float, bytes]] = []
    updates: list[tuple[float, float]] = []

    def ping() -> None:
        nonlocal position
        payload = congestion.ping(now)
        if payload is None:
            return
        position += FENCE_BYTES
        congestion.sent(now, position)
        arrival = link.write(now, FENCE_BYTES)
        if answers:
            heapq.heappush(pongs, (arrival + link.delay, payload))

    ping()
    while now < seconds:
        while pongs and pongs[0][0] <= now:
            congestion.pong(now, heapq.heappop(pongs)[1])
        wake = max(next_frame, congestion.uncongested_at(now))
        if wake <= now:
            position += size
            congestion.sent(now, position)
            updates.append((now, link.write(now, size)))
            ping()
            next_frame = now + 1 / fps
        else:
            now = min(wake, pongs[0][0]) if pongs else wake
    return Run(updates, congestion)


def constant(rate: float) -> Callable[[float], float]:
    return lambda t: rate


def test_a_fast_link_is_not_held_back() -> None:
    """Gigabit LAN, 0.2 ms round trips, 500 KB updates (far above the initial window): every
    frame goes out at 60/s and arrives as fast as the wire allows."""
    run = stream(Link(constant(125e6), 0.0001), 500_000, 10.0)
    assert run.per_second(2, 10) == pytest.approx(60, abs=0.5)
    assert run.latency(2, 10) < 500_000 / 125e6 + 0.001


def test_a_slow_link_gets_fresh_frames_not_a_queue() -> None:
    """1 MB/s, 50 ms round trips, 50 KB updates wanted 60 times a second (3× the link): the
    link stays busy and updates wait a little, not seconds."""
    run = stream(Link(constant(1e6), 0.025), 50_000, 30.0)
    transfer = 50_000 / 1e6 + 0.025
    assert run.latency(10, 30) < transfer + 0.1
    assert run.per_second(10, 30) * 50_000 > 0.85e6
    assert run.congestion.base_rtt == pytest.approx(0.05, rel=0.05)


def test_without_flow_control_the_same_link_builds_a_queue() -> None:
    """The baseline the window is there for: seconds of stale frames after a few seconds."""
    run = stream(Link(constant(1e6), 0.025), 50_000, 5.0, answers=False)
    assert run.latency(4, 5) > 2.0


def test_a_link_that_slows_down_is_followed() -> None:
    """2 MB/s, then a quarter of that: within a few seconds latency is back to the transfer
    time, with hardly a queue."""
    link = Link(lambda t: 2e6 if t < 20 else 0.5e6, 0.02)
    run = stream(link, 40_000, 40.0)
    assert run.latency(10, 20, 0.95) < 40_000 / 2e6 + 0.02 + 0.05
    assert run.latency(25, 40) < 40_000 / 0.5e6 + 0.02 + 0.05
    assert run.per_second(25, 40) * 40_000 > 0.8 * 0.5e6


def test_a_link_that_speeds_up_is_used() -> None:
    link = Link(lambda t: 0.5e6 if t < 10 else 4e6, 0.02)
    run = stream(link, 40_000, 30.0)
    assert run.per_second(20, 30) == pytest.approx(60, abs=0.5)


def test_a_long_fat_link_fills_most_of_its_pipe() -> None:
    """600 ms round trips: the window grows towards the bandwidth-delay product, and the
    queue Vegas keeps while probing for more stays well below the wire's delay."""
    run = stream(Link(constant(1e6), 0.3), 20_000, 40.0)
    assert run.per_second(20, 40) * 20_000 > 0.75e6
    assert run.latency(20, 40, 0.5) < 0.3 + 0.02 + 0.05
    assert run.latency(20, 40) < 0.3 + 0.02 + 0.2


def test_a_viewer_that_never_answers_is_not_held_back() -> None:
    run = stream(Link(constant(2e6), 0.02), 20_000, 10.0, answers=False)
    assert run.per_second(2, 10) == pytest.approx(60, abs=0.5)
    assert run.congestion.statistics().pings == MAX_PINGS
