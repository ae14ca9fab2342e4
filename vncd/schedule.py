"""When one viewer gets its next update: a pure scheduler for the session's writer.

One ``UpdateScheduler`` per viewer is fed what the reader learns (requests, continuous
updates, encodings, fence answers) and what the writer wrote, and answers ``decide``: send an
update now, wait until a time, or wait for an event. Time is an argument, so the rules below
are tested without sockets or sleeps.

- **Permission** (rfbproto "FramebufferUpdateRequest", "EnableContinuousUpdates"): an update
  goes when a request is outstanding or continuous updates are on. A non-incremental request
  is answered even if nothing changed; incremental ones only with damage. While continuous
  updates are on, incremental requests are ignored, as rfbproto requires.
- **Frame clock**: at most one update per slot of ``1 / max_fps`` seconds. The first update
  after an idle slot goes at once and starts the clock there (TigerVNC waits half a period,
  which is its whole latency on a quiet screen). While updates keep coming the slots stay on
  that grid instead of restarting at each send, so a source that changes exactly
  ``max_fps`` times a second with some jitter still gets every frame: an update that is a
  little late takes its slot, one a little early waits for the next. Hence the bound: any
  ``n`` consecutive updates span more than ``(n - 2) / max_fps`` seconds, so a window of one
  second holds at most ``max_fps + 1`` and the long-run rate is ``max_fps``.
- **Congestion** (vncd.congestion): for viewers that list the Fence pseudo-encoding, each
  update is followed by a ping, and an update waits while the congestion window is full:
  until a pong makes room, or until the time the model gives, which is always finite (a
  lost or ignored pong never stalls a viewer for good).
- **Announcements** (rfbproto "Fence Pseudo-encoding", "ContinuousUpdates Pseudo-encoding"):
  the first SetEncodings with Fence is answered with a fence (our first ping), the first with
  ContinuousUpdates with EndOfContinuousUpdates. Like TigerVNC, continuous updates are only
  offered together with fences: without round trips nothing would stop them filling a slow
  link's buffers, while a request-driven viewer paces itself.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Collection

import attrs

from protocol import EndOfContinuousUpdates, Event, Fence
from protocol.encodings import Encoding

from .congestion import Congestion
from .fences import FenceFlag
from .region import Box, bounds

#: Requested areas remembered one by one before they are merged into their bounding box;
#: sending more than asked is harmless, remembering without bound is not.
MAX_BOXES = 16


class Reason(enum.Enum):
    """Why ``decide`` answered as it did."""

    SEND = "send"
    #: No request outstanding and continuous updates off: wait for the viewer.
    NO_REQUEST = "no request"
    #: Allowed, but no damage and no refresh: wait for damage.
    NOTHING_TO_SEND = "nothing to send"
    #: Wait until ``until`` (or an event), the frame clock's next slot.
    FRAME_CLOCK = "frame clock"
    #: Wait until ``until`` or a pong, whichever comes first: the congestion window is full.
    CONGESTED = "congested"


@attrs.frozen
class Decision:
    """``send``, or a wait: until a time (``until``) or, if None, for the next event."""

    reason: Reason
    until: float | None = None

    @property
    def send(self) -> bool:
        return self.reason is Reason.SEND


@attrs.frozen
class Pending:
    """What one update must cover, from ``take``."""

    #: Areas to send whole, changed or not (non-incremental requests); may hold empty boxes,
    #: whose answer is an update with no pixels.
    refresh: tuple[Box, ...]
    #: Where damage goes out: incremental requests and the continuous-updates area.
    area: tuple[Box, ...]


@attrs.define
class UpdateScheduler:
    """Decides when one viewer's writer sends pixel updates (see the module docstring).

    The writer's loop::

        decision = scheduler.decide(now, has_damage)  # damage inside scheduler.area?
        if decision.send:
            pending = scheduler.take(now)  # refresh whole, damage clipped to pending.area
            write the update; scheduler.sent(now, total bytes written)
            if (ping := scheduler.ping(now)) is not None:
                write the ping; scheduler.sent(now, total bytes written)
        else:
            wait for an event (request, damage, pong), until decision.until if it is set
    """

    max_fps: float = attrs.field(default=60.0, validator=attrs.validators.gt(0))
    congestion: Congestion = attrs.Factory(Congestion)
    #: The viewer's last SetEncodings listed Fence: its updates are pinged and paced.
    fences: bool = attrs.field(default=False, init=False)
    #: Continuous updates are on, for this area (EnableContinuousUpdates).
    continuous_area: Box | None = attrs.field(default=None, init=False)
    _fence_announced: bool = attrs.field(default=False, init=False)
    _continuous_announced: bool = attrs.field(default=False, init=False)
    _requested: list[Box] = attrs.field(factory=list, init=False)
    _refresh: list[Box] = attrs.field(factory=list, init=False)
    #: Start of the frame clock's next slot.
    _next_frame: float = attrs.field(default=-math.inf, init=False)
    _ping_due: bool = attrs.field(default=False, init=False)

    # --- what the reader learns -------------------------------------------------------

    def encodings(self, now: float, numbers: Collection[int]) -> tuple[Event, ...]:
        """SetEncodings: returns the announcements to send, in order."""
        self.fences = Encoding.FENCE in numbers
        announce: list[Event] = []
        if self.fences and not self._fence_announced:
            self._fence_announced = True
            if (probe := self._ping(now)) is not None:
                announce.append(probe)
        if (
            self.fences
            and Encoding.CONTINUOUS_UPDATES in numbers
            and not self._continuous_announced
        ):
            self._continuous_announced = True
            announce.append(EndOfContinuousUpdates())
        return tuple(announce)

    def request(self, incremental: bool, box: Box) -> None:
        """FramebufferUpdateRequest (rfbproto 7.5.3)."""
        if not incremental:
            _remember(self._refresh, box)
        elif self.continuous_area is None:
            _remember(self._requested, box)

    def continuous(self, enable: bool, box: Box) -> tuple[Event, ...]:
        """EnableContinuousUpdates: returns what to send (EndOfContinuousUpdates on disable).

        Ignored from a viewer that was never offered it: one that does not know the
        extension must not get its messages.
        """
        if not self._continuous_announced:
            return ()
        if enable:
            # "The coordinates must be replaced with the last message seen."
            self.continuous_area = box
            self._requested.clear()
            return ()
        # "Must also immediately send out a EndOfContinuousUpdates message ... even if
        # continuous updates were already disabled."
        self.continuous_area = None
        return (EndOfContinuousUpdates(),)

    def pong(self, now: float, payload: bytes) -> None:
        """A Fence without the Request bit from the viewer: the answer to a ping."""
        self.congestion.pong(now, payload)

    # --- what the writer asks and tells ---------------------------------------------------

    @property
    def area(self) -> tuple[Box, ...]:
        """Where damage may be sent now; ``decide``'s ``has_damage`` is about this area."""
        continuous = () if self.continuous_area is None else (self.continuous_area,)
        return (*self._requested, *continuous)

    def decide(self, now: float, has_damage: bool) -> Decision:
        """Send now, or how long to wait. ``has_damage``: the viewer has damage in ``area``."""
        if not (self._refresh or self.area):
            return Decision(Reason.NO_REQUEST)
        if not (self._refresh or has_damage):
            return Decision(Reason.NOTHING_TO_SEND)
        until, reason = self._next_frame, Reason.FRAME_CLOCK
        if self.fences and self.congestion.is_congested(now):
            clear = self.congestion.uncongested_at(now)
            if clear > until:
                until, reason = clear, Reason.CONGESTED
        if until > now:
            return Decision(reason, until)
        return Decision(Reason.SEND)

    def take(self, now: float) -> Pending:
        """An update goes now (after ``decide`` said so): what it covers. The requests it
        answers are forgotten and the frame clock moves on."""
        period = 1 / self.max_fps
        if now >= self._next_frame + period:
            self._next_frame = now + period  # a slot went unused: restart the clock here
        else:
            self._next_frame += period
        pending = Pending(tuple(self._refresh), self.area)
        self._refresh.clear()
        self._requested.clear()
        self._ping_due = True
        return pending

    def sent(self, now: float, position: int) -> None:
        """The writer wrote bytes: ``position`` is the total written to this viewer so far.
        Call it after every write, updates or not: all of them fill the link."""
        self.congestion.sent(now, position)

    def ping(self, now: float) -> Fence | None:
        """The ping to write right after the update just taken (once its bytes were counted
        with ``sent``), or None."""
        if not self._ping_due:
            return None
        self._ping_due = False
        return self._ping(now) if self.fences else None

    def _ping(self, now: float) -> Fence | None:
        # BlockBefore: the viewer answers once it has processed the update, so a slow viewer
        # slows its updates like a slow link does.
        payload = self.congestion.ping(now)
        if payload is None:
            return None
        return Fence(FenceFlag.REQUEST | FenceFlag.BLOCK_BEFORE, payload)


def _remember(boxes: list[Box], box: Box) -> None:
    """Add a requested area: one inside another adds nothing, and too many are merged."""
    if any(other.contains(box) for other in boxes):
        return
    boxes[:] = [other for other in boxes if not box.contains(other)]
    boxes.append(box)
    if len(boxes) > MAX_BOXES:
        boxes[:] = [bounds(boxes)]
