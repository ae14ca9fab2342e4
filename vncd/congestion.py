"""How much one viewer's link can take, measured with fence round trips.

After each update the server sends a Fence request with BlockBefore (rfbproto "ServerFence"):
the viewer answers it only once everything before it has been received and processed, so the
answer (a "pong") says that the stream up to that position has arrived, and how long that
took. The idea is TigerVNC's (common/rfb/Congestion.cxx): TCP Vegas on top of a reliable
stream, where the signal is delay, not loss.

- The **base RTT** is the shortest round trip seen since the link was last idle: the wire.
- The **window** is how many bytes may be unacknowledged before the next update must wait.
  ``window / base RTT`` is the rate the window claims, and a model of the send queue drains
  our writes at that rate, so each ping gets a due time: when its pong comes back if the
  claim is right. How late the pong is past that due time is the extra delay: queues the
  window did not account for, in the network, the kernel or a slow viewer.
- Every few pongs the window is adjusted (Vegas): doubled while the extra delay stays low
  (slow start), then grown in steps while it stays low and shrunk while it is high. Growing
  is judged only on pings sent with the window full, since only those show it was too small.
- A pong that is due counts as arrived (TigerVNC: "the pong should be here any second"), so
  big updates pipeline instead of each waiting a round trip; but only up to a window beyond
  what pongs really confirmed, so a link that suddenly slows is not flooded on the model's
  word while the pongs that would tell are stuck in its queue. A pong overdue by twice its
  predicted round trip and ``ANSWER_TIMEOUT`` more (``STALL_TIMEOUT`` at most) is given up,
  and a viewer that has never answered is not held back after ``ANSWER_TIMEOUT``: nothing
  waits forever.

Times are seconds (floats, any monotonic clock); positions are the total bytes written.
Differences from TigerVNC, besides the bounded presumption above: an idle link keeps its
window (TigerVNC falls back to the initial window and slow start, which costs round trips
exactly when a burst follows a pause); the base RTT is re-learnt after idle only from a clean
ping (little data ahead of it), not from one that timed a big transfer; a cut is at most a
halving; and the first pong is awaited for at most ``ANSWER_TIMEOUT``, not forever.
"""

from __future__ import annotations

import math
import struct
from collections import deque

import attrs

#: TCP's initial window since RFC 6928 is ten segments, about 14.6 KB; TigerVNC uses 16 KiB.
INITIAL_WINDOW = 16 * 1024
#: About three segments, TCP's smallest useful window (TigerVNC's value).
MIN_WINDOW = 4 * 1024
#: Linux's default largest send buffer (net.ipv4.tcp_wmem): beyond it the kernel blocks anyway.
MAX_WINDOW = 4 * 1024 * 1024
#: Congestion avoidance grows and shrinks the window by this much per adjustment.
WINDOW_STEP = 4 * 1024
#: Pongs per adjustment: the smallest of a few delays ignores jitter.
SAMPLES = 3
#: Extra delays (seconds past the due time) steering the window: below LOW it grows by two
#: steps, below TARGET by one (and slow start keeps doubling), above HIGH it shrinks by one.
#: A few milliseconds over the wire is the goal, since a window that is exactly right cannot
#: be told apart from one that is too small. These are latencies a user notices, so they are
#: absolute, not relative to the RTT.
LOW_DELAY = 0.005
TARGET_DELAY = 0.025
HIGH_DELAY = 0.050
#: An extra delay above this (and above half the base RTT) is a spike: the window is cut in
#: proportion, by at most half, and slow start ends.
SPIKE_DELAY = 0.100
#: Round trips are counted as at least this: the writer's wake-ups are not finer, and a base
#: RTT of a few microseconds would claim an absurd rate.
MIN_RTT = 0.001
#: Everything answered and nothing written for this long (and two base RTTs) make the link
#: idle: the next clean round trip starts a new base RTT.
IDLE = 0.1
#: A ping with at most this many bytes unanswered ahead of it is clean: its round trip is
#: the wire's, not a transfer's, so after idle it may replace the base RTT.
CLEAN_BYTES = 1024
#: How long the first pong is awaited before the viewer is taken not to answer fences; later
#: pings are given up this long past twice their predicted round trip,
ANSWER_TIMEOUT = 1.0
#: ... or after this long at most, however slow the model thinks the link is.
STALL_TIMEOUT = 10.0
#: Pings awaiting an answer; a viewer that stops answering is not sent more.
MAX_PINGS = 64

#: A ping's payload: b"vncd" and a sequence number, echoed by the viewer (rfbproto "ClientFence").
_PAYLOAD = struct.Struct(">4sI")
_MAGIC = b"vncd"


@attrs.frozen
class _Ping:
    sequence: int
    sent_at: float
    position: int
    #: How long the modelled queue needed to drain before this ping left; None before the
    #: first pong, when there is no model yet. Due time: sent_at + queued + base RTT.
    queued: float | None
    #: The window was full when it left: its delay says whether a bigger window fits.
    full: bool
    #: Little was unanswered ahead of it (CLEAN_BYTES).
    clean: bool


@attrs.frozen
class CongestionStatistics:
    """A snapshot for ``/metrics``."""

    window: int
    base_rtt: float | None
    rtt: float | None
    pings: int
    slow_start: bool


@attrs.define
class Congestion:
    """The congestion window of one viewer's link, fed with writes, pings and pongs."""

    window: int = attrs.field(default=INITIAL_WINDOW, init=False)
    #: None until the first pong.
    base_rtt: float | None = attrs.field(default=None, init=False)
    _position: int = attrs.field(default=0, init=False)
    _acked: int = attrs.field(default=0, init=False)
    _last_write: float = attrs.field(default=-math.inf, init=False)
    _last_pong: float = attrs.field(default=-math.inf, init=False)
    #: When the modelled send queue empties; inf until the first pong starts the model.
    _clear_at: float = attrs.field(default=math.inf, init=False)
    #: Set when the link went idle: pings sent from then on start a new base RTT.
    _base_stale_since: float | None = attrs.field(default=None, init=False)
    _pings: deque[_Ping] = attrs.field(factory=deque, init=False)
    _sequence: int = attrs.field(default=0, init=False)
    _rtt: float | None = attrs.field(default=None, init=False)
    _slow_start: bool = attrs.field(default=True, init=False)
    _adjusted_at: float = attrs.field(default=-math.inf, init=False)
    _samples: int = attrs.field(default=0, init=False)
    _min_delay: float = attrs.field(default=math.inf, init=False)
    _min_full_delay: float = attrs.field(default=math.inf, init=False)

    def sent(self, now: float, position: int) -> None:
        """Bytes were written: ``position`` is the total written so far."""
        if position < self._position:
            raise ValueError(f"stream position went back from {self._position} to {position}")
        if position == self._position:
            return
        if self.base_rtt is not None:
            quiet = now - max(self._last_write, self._last_pong)
            if self._acked == self._position and quiet >= max(IDLE, 2 * self.base_rtt):
                self._base_stale_since = now
            self._clear_at = max(now, self._clear_at) + (position - self._position) / self._rate
        self._position = position
        self._last_write = now

    def ping(self, now: float) -> bytes | None:
        """The payload of a ping to write now (a Fence with Request and BlockBefore), marking
        everything written so far; None while too many pings await an answer."""
        if len(self._pings) >= MAX_PINGS:
            return None
        queued = None if self.base_rtt is None else max(0.0, self._clear_at - now)
        full = self.in_flight(now) >= self.window
        clean = self._position - self._acked <= CLEAN_BYTES
        self._pings.append(_Ping(self._sequence, now, self._position, queued, full, clean))
        payload = _PAYLOAD.pack(_MAGIC, self._sequence)
        self._sequence = (self._sequence + 1) & 0xFFFFFFFF
        return payload

    def pong(self, now: float, payload: bytes) -> None:
        """The viewer answered a fence; payloads that are not an awaited ping are ignored."""
        if len(payload) != _PAYLOAD.size:
            return
        magic, sequence = _PAYLOAD.unpack(payload)
        if magic != _MAGIC or all(ping.sequence != sequence for ping in self._pings):
            return
        # The viewer answers in stream order: pings before this one will never be answered.
        while (ping := self._pings.popleft()).sequence != sequence:
            pass
        rtt = max(MIN_RTT, now - ping.sent_at)
        self._rtt = rtt
        self._last_pong = now
        since = self._base_stale_since
        renew = since is not None and ping.clean and ping.sent_at >= since
        if renew:
            self._base_stale_since = None
        if renew or self.base_rtt is None or rtt < self.base_rtt:
            self.base_rtt = rtt
        self._acked = max(self._acked, ping.position)
        # Whatever was written after the acknowledged position needs at most this long from
        # now: good news about the rate is adopted at once, so the model cannot drift away.
        self._clear_at = min(self._clear_at, now + (self._position - self._acked) / self._rate)
        if ping.queued is None or ping.sent_at < self._adjusted_at:
            return  # no model yet, or sent under an older window: says nothing about this one
        delay = max(0.0, rtt - ping.queued - self.base_rtt)
        self._min_delay = min(self._min_delay, delay)
        if ping.full:
            self._min_full_delay = min(self._min_full_delay, delay)
        self._samples += 1
        if self._samples >= SAMPLES:
            self._adjust(now)

    def in_flight(self, now: float) -> int:
        """Bytes written and not yet known (or presumed) to be received."""
        if self.base_rtt is None:
            return self._position - self._acked
        return self._position - self._acked_at(now)

    def is_congested(self, now: float) -> bool:
        """Whether the next update should wait: the window is full."""
        if self.base_rtt is None and (
            not self._pings or now >= self._pings[0].sent_at + ANSWER_TIMEOUT
        ):
            return False  # nothing measured, or a viewer that does not answer fences
        return self.in_flight(now) >= self.window

    def uncongested_at(self, now: float) -> float:
        """When the window has room again unless a pong comes sooner (``now`` if it has).

        Always finite: pongs are presumed at their due time (up to a window's worth) and
        given up some time after it; the first one is awaited ``ANSWER_TIMEOUT`` at most. A
        time, not a delay, so that waiting until it is exact (``now + (t - now)`` can fall
        short of ``t``).
        """
        if not self.is_congested(now):
            return now
        if self.base_rtt is None:
            return self._pings[0].sent_at + ANSWER_TIMEOUT
        needed = self._position - self.window  # the window has room once acked passes this
        moments = sorted(
            {moment for due, give_up, _ in self._deadlines() for moment in (due, give_up)}
        )
        return next(t for t in moments if t > now and self._acked_at(t) > needed)

    def statistics(self) -> CongestionStatistics:
        return CongestionStatistics(
            window=self.window,
            base_rtt=self.base_rtt,
            rtt=self._rtt,
            pings=len(self._pings),
            slow_start=self._slow_start,
        )

    def _deadlines(self) -> list[tuple[float, float, int]]:
        """(due, given up at, position) for each modelled ping and the bytes after the last.

        Due: when the pong should arrive if the window's rate is right. Given up: past twice
        that predicted round trip and ``ANSWER_TIMEOUT`` more, or ``STALL_TIMEOUT``, so a
        slow link's late pongs are still awaited but a viewer that stopped answering cannot
        block for good.
        """
        assert self.base_rtt is not None
        marks = [
            (ping.sent_at, ping.sent_at + ping.queued + self.base_rtt, ping.position)
            for ping in self._pings
            if ping.queued is not None
        ]
        if self._position > self._acked:
            marks.append((self._last_write, self._clear_at + self.base_rtt, self._position))
        return [
            (due, sent + min(2 * (due - sent) + ANSWER_TIMEOUT, STALL_TIMEOUT), position)
            for sent, due, position in marks
        ]

    def _acked_at(self, t: float) -> int:
        """The acknowledged position at time ``t`` if no pong comes first (with a base RTT):
        what pongs said; what the model presumes from due times, but at most a window beyond
        that, so a link that suddenly slows is not flooded on the model's word while the
        pongs that would tell are stuck in its queue; and what was given up on."""
        acked = presumed = self._acked
        for due, give_up, position in self._deadlines():
            if t >= due:
                presumed = max(presumed, position)
            if t >= give_up:
                acked = max(acked, position)
        return max(acked, min(presumed, self._acked + self.window))

    @property
    def _rate(self) -> float:
        """Bytes per second the window claims (only with a base RTT)."""
        assert self.base_rtt is not None
        return self.window / self.base_rtt

    def _adjust(self, now: float) -> None:
        """Vegas, as TigerVNC's updateCongestion, with the cuts bounded to a halving."""
        assert self.base_rtt is not None
        base, delay, full_delay = self.base_rtt, self._min_delay, self._min_full_delay
        window = self.window
        spike = delay > SPIKE_DELAY and delay > base / 2
        if spike or (self._slow_start and delay > TARGET_DELAY):
            # The window that would have kept the delay at the wire's, but at most a halving.
            window = max(window // 2, int(window * base / (base + delay)))
            self._slow_start = False
        elif self._slow_start:
            if full_delay < TARGET_DELAY:
                window *= 2
        elif delay > HIGH_DELAY:
            window -= WINDOW_STEP
        elif full_delay < LOW_DELAY:
            window += 2 * WINDOW_STEP
        elif full_delay < TARGET_DELAY:
            window += WINDOW_STEP
        self.window = min(MAX_WINDOW, max(MIN_WINDOW, window))
        self._adjusted_at = now
        self._samples = 0
        self._min_delay = self._min_full_delay = math.inf
