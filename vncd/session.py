"""One viewer: the handshake, then a reader task and a writer task in the session's nursery.

The reader turns bytes into protocol events and acts on them at once: input is injected,
clipboard text goes to the clipboard bus, requests, continuous-updates and fences go to the
viewer's ``UpdateScheduler``, replies are queued in the ordered outbox, and the writer is
woken. The writer is the only task that sends: it sends what the outbox holds (fence replies,
EndOfContinuousUpdates, clipboard text, layout news, the bell) and, when the scheduler says an
update is due, the damage accumulated since the last one. A viewer that stops reading blocks
only its own writer; capture and other viewers carry on, its damage accumulates and only its
newest clipboard text is kept.
"""

from __future__ import annotations

import collections
import itertools
import logging
import math
import time

import attrs
import numpy as np
import trio

from protocol import (
    BGRX,
    Bell,
    ConnectionClosed,
    EnableContinuousUpdates,
    Event,
    Fence,
    FramebufferUpdate,
    FramebufferUpdateRequest,
    KeyEvent,
    PixelFormat,
    PointerEvent,
    ProtocolError,
    QemuAudio,
    QemuExtendedKeyEvent,
    Rectangle,
    ServerConnection,
    SetColourMapEntries,
    SetDesktopSize,
    SetEncodings,
    SetPixelFormat,
    XvpMessage,
)
from protocol._pixelformat import colour_map_entries
from protocol.encodings import EncodeSettings, Encoding, is_lossy, settings_from_encodings
from protocol.encodings.copyrect import copy_rect
from protocol.encodings.pseudo import desktop_size

from .channel import Channel, Refused
from .clipboard import FROM_VIEWER, ViewerClipboard, provide_limit
from .cursor import CursorView, around
from .fences import FenceFlag, FenceReplies
from .frames import Subscription, Wakeup
from .groups import leaves
from .guard import Slot
from .handshake import Admission, admit
from .hub import Hub
from .input import InputState
from .logs import ConnectionSummary
from .metrics import encoding_name
from .moves import Move
from .notices import NoticeView
from .policy import USER_INPUT, TimeLimits
from .recording import SessionRecording
from .refresh import LossyAreas
from .region import Box, bounds, subtract_all
from .resize import ViewerLayout
from .schedule import Reason, UpdateScheduler
from .updates import (
    Audience,
    UpdateBuilder,
    choose_encoding,
    lossless_encoding,
    lossless_settings,
)

log = logging.getLogger(__name__)


#: Replies (fence answers, EndOfContinuousUpdates) a viewer may have waiting in the outbox:
#: a viewer that keeps asking but never reads is not read from either once this many wait,
#: so its requests cannot grow the server's memory.
MAX_OUTBOX = 256
#: Events the reader handles before it lets other tasks run.
READ_BATCH = 64


#: Messages that only reach the desktop: the writer need not look again after them.
INPUT_EVENTS = (KeyEvent, PointerEvent, QemuExtendedKeyEvent)
#: Each session's number, unique while the process runs (`vncd clients`, `vncd disconnect ID`).
SESSION_IDS = itertools.count(1)


class Session:
    """One connected viewer, from the first byte to the close."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        hub: Hub,
        peer: str,
        slot: Slot | None = None,
        transport: str = "tcp",
    ) -> None:
        self.stream = stream
        self.hub = hub
        self.id = next(SESSION_IDS)
        self.peer = peer
        self.transport = transport  # "tcp", "tls", "websocket" or "wss"
        self.started = trio.current_time()
        self.admission: Admission | None = None  # once the handshake has admitted it
        #: Its place among the connections not authenticated yet (vncd.guard); none given
        #: (tests): the peer counts as its address and nothing is counted.
        self.slot = slot or Slot(None, peer)
        self.channel = Channel(
            stream,
            ServerConnection(
                max_cut_text=hub.access.max_cut_text,
                max_encodings=hub.access.max_encodings,
                max_clipboard=provide_limit(hub.access.max_cut_text),
            ),
        )
        self.input = InputState(hub.source, peer, hub.control)
        self.exclusive = False  # holds the desktop alone (vncd.handshake.join)
        self.limits = TimeLimits(hub.viewers.idle_timeout, hub.viewers.max_session)
        self.pixel_format: PixelFormat = BGRX
        self.encodings: tuple[int, ...] = ()
        self.settings = EncodeSettings()
        self.audience: Audience | None = None  # counted in hub.audiences while serving
        self.wakeup = Wakeup()
        self.clipboard = ViewerClipboard(hub.clipboard, self.wakeup, peer)
        self.cursor = CursorView(hub.cursor, self.wakeup)
        self.notices = NoticeView(hub.notices, self.wakeup, self.channel.conn)
        self.scheduler = UpdateScheduler(max_fps=hub.max_fps)
        self.fence_replies = FenceReplies()
        #: Non-pixel messages, in the order they must reach the viewer.
        self.outbox: collections.deque[Event] = collections.deque()
        self.outbox_taken = Wakeup()  # the writer took the outbox: the reader may go on
        self.colour_map_pending = False
        self.picture_lost = False  # the viewer's picture is unusable: send all of it
        self.lossy = LossyAreas(hub.lossless_refresh)  # where the picture is not exact yet
        self.builder = UpdateBuilder(
            hub.shared_encodings, hub.worker_encoders, hub.run_sync, hub.meters.encoded
        )
        self.subscription: Subscription | None = None  # while serving
        self.layout = ViewerLayout(hub.source, hub.bus, hub.resize, peer, self.forget_picture)
        self.recording = SessionRecording(
            hub.recording, peer, self.channel.conn, hub.name, self.restart_picture
        )
        self.channel.tap = self.recording.tap
        self._cancel_scope: trio.CancelScope | None = None

    @property
    def view_only(self) -> bool:
        return self.input.view_only

    def close(self, reason: str) -> None:
        """Disconnect this viewer (from any task)."""
        log.info("%s: closing: %s", self.peer, reason)
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()

    def forget_picture(self) -> None:
        """The viewer's picture is gone (new size or pixel format): the next update is whole."""
        self.picture_lost = True

    def restart_picture(self) -> None:
        """Send the whole picture again, decodable without what came before (a recording
        starts with it: vncd.recording)."""
        self.forget_picture()
        self.colour_map_pending = not self.pixel_format.true_colour
        self.builder.forget_client()

    def start_recording(self) -> None:
        """Record this viewer's updates from its next whole picture on (on demand; raises
        vncd.recording.RecordingError with the reason when it cannot)."""
        if not self.recording.active:
            self.recording.start()
            self.forget_picture()  # an update soon, for the recording to start from
            self.wakeup.set()

    def stop_recording(self) -> None:
        self.recording.stop("asked to stop")

    def current_audience(self) -> Audience:
        encoding = choose_encoding(self.encodings, self.pixel_format, self.hub.encodings)
        return Audience(encoding, self.pixel_format, self.settings)

    def join_audience(self, audience: Audience | None) -> None:
        """Count this viewer among those with ``audience`` (None: among none)."""
        if self.audience is not None:
            self.hub.audiences[self.audience] -= 1
            if not self.hub.audiences[self.audience]:
                del self.hub.audiences[self.audience]
        self.audience = audience
        if audience is not None:
            self.hub.audiences[audience] += 1

    # --- life cycle -----------------------------------------------------------------

    async def run(self) -> None:
        """Serve the viewer until it leaves or breaks the protocol; never raises for
        anything the viewer does."""
        with trio.CancelScope() as self._cancel_scope:
            try:
                with trio.fail_after(self.hub.access.handshake_seconds):
                    admission = self.admission = await admit(self.channel, self.hub, self)
                self.limits.start(trio.current_time())
                self.input.view_only = admission.view_only
                self.layout.size = admission.size
                self.layout.join(admission.view_only)
                log.info(
                    "%s: connected (RFB %d.%d%s%s)",
                    self.peer,
                    *self.channel.conn.version,
                    ", view-only" if admission.view_only else "",
                    ", exclusive" if self.exclusive else "",
                )
                self.join_audience(self.current_audience())
                if self.hub.recording.all_sessions:
                    self.recording.start()
                await self.serve()
            # except*: errors from the reader and writer tasks arrive in exception groups.
            except* Refused as refusals:
                log.info("%s: refused: %s", self.peer, next(leaves(refusals)))
            except* trio.TooSlowError:
                log.info("%s: handshake timed out", self.peer)
            except* ProtocolError as errors:
                log.info("%s: protocol error: %s", self.peer, next(leaves(errors)))
            except* (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError) as lost:
                error = next(leaves(lost))
                log.info("%s: connection lost: %s", self.peer, error or type(error).__name__)
            finally:
                self.recording.stop()
                self.hub.sessions.discard(self)
                self.layout.leave()
                self.join_audience(None)
                self.input.release()
                self.summary().log(log)
        with trio.CancelScope(shield=True), trio.move_on_after(1):
            await self.stream.aclose()

    def summary(self) -> ConnectionSummary:
        """The connection so far, for its last log line: bytes are RFB's (a security
        handler's own messages, TLS and WebSocket framing aside)."""
        admission, counted = self.admission, self.channel.conn.statistics()
        return ConnectionSummary(
            peer=self.peer,
            transport=self.transport,
            security=admission.security if admission else "",
            user=admission.user if admission else "",
            encodings=tuple(map(encoding_name, self.encodings)),
            duration_seconds=trio.current_time() - self.started,
            bytes_sent=counted.bytes_sent,
            bytes_received=counted.bytes_received,
        )

    async def serve(self) -> None:
        subscription = self.subscription = self.hub.bus.subscribe(self.wakeup)
        subscription.accepts_moves = Encoding.COPY_RECT in self.encodings
        self.hub.clipboard.join(self.clipboard)
        self.hub.cursor.join(self.cursor)
        self.hub.notices.join(self.notices)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.read_loop, nursery.cancel_scope)
                nursery.start_soon(self.write_loop, subscription)
                nursery.start_soon(self.enforce_limits)
        finally:
            self.hub.notices.leave(self.notices)
            self.hub.cursor.leave(self.cursor)
            self.hub.clipboard.leave(self.clipboard)
            self.hub.bus.unsubscribe(subscription)

    async def enforce_limits(self) -> None:
        """Disconnect the viewer once idle or in session too long ([viewers], vncd.policy)."""
        while (deadline := self.limits.deadline()) is not None:
            await trio.sleep_until(deadline)
            if (reason := self.limits.expired(trio.current_time())) is not None:
                self.close(reason)
                return

    # --- reader ---------------------------------------------------------------------

    async def read_loop(self, cancel_scope: trio.CancelScope) -> None:
        for handled in itertools.count(1):
            while len(self.outbox) >= MAX_OUTBOX:
                await self.outbox_taken.wait()
            event = await self.channel.next_event()
            if isinstance(event, ConnectionClosed):
                log.info("%s: viewer disconnected", self.peer)
                cancel_scope.cancel()
                return
            self.handle(event)
            if handled % READ_BATCH == 0:
                # Buffered events are taken without an await: a viewer streaming small
                # messages (thousands of requests in one read) must let others run.
                await trio.lowlevel.checkpoint()

    def handle(self, event: Event) -> None:
        if isinstance(event, USER_INPUT):
            self.limits.input(trio.current_time())
        self.act_on(event)
        # rfbproto "ClientFence": replies wait for the messages their flags say they follow.
        self.outbox.extend(self.fence_replies.handled(event))
        if self.outbox or self.may_move_writer(event):
            self.wakeup.set()

    def may_move_writer(self, event: Event) -> bool:
        """Whether ``event`` can change what the writer does next: input never does, and an
        incremental request only when there is damage or a lossy area to answer it with
        (else the damage, when it comes, wakes the writer, which then finds the request)."""
        if isinstance(event, INPUT_EVENTS):
            return False
        if isinstance(event, FramebufferUpdateRequest) and event.incremental:
            return (
                self.subscription is None
                or self.subscription.has_damage()
                or bool(self.lossy)
                or self.cursor.news()
                or self.notices.news()
            )
        return True

    def act_on(self, event: Event) -> None:
        match event:
            case FramebufferUpdateRequest(incremental=incremental):
                if not incremental:
                    self.layout.full_request()
                box = Box(event.x, event.y, event.width, event.height)
                self.scheduler.request(incremental, box)
            case KeyEvent(down=down, keysym=keysym):
                self.input.key(keysym, down)
            case QemuExtendedKeyEvent(down=down, keysym=keysym, keycode=keycode):
                self.input.qemu_key(keysym, keycode, down)
            case PointerEvent(button_mask=mask, x=x, y=y):
                if self.input.pointer_event(x, y, mask):
                    self.cursor.moved_by_viewer(*self.input.pointer[:2])
            case SetPixelFormat(pixel_format=pixel_format):
                self.pixel_format = pixel_format
                self.join_audience(self.current_audience())
                self.colour_map_pending = not pixel_format.true_colour
                self.forget_picture()
            case SetEncodings(encodings=encodings):
                self.encodings = encodings
                self.settings = settings_from_encodings(encodings)
                self.join_audience(self.current_audience())
                self.layout.set_encodings(encodings)
                self.cursor.set_encodings(encodings)
                self.notices.set_encodings(encodings)
                self.outbox.extend(self.clipboard.set_encodings(encodings))
                if self.subscription is not None:
                    self.subscription.accepts_moves = Encoding.COPY_RECT in encodings
                self.outbox.extend(self.scheduler.encodings(trio.current_time(), encodings))
            case EnableContinuousUpdates(enable=enable):
                box = Box(event.x, event.y, event.width, event.height)
                self.outbox.extend(self.scheduler.continuous(enable, box))
            case Fence(flags=flags) if not flags & FenceFlag.REQUEST:
                self.scheduler.pong(trio.current_time(), event.payload)
            case Fence():
                pass  # a request: FenceReplies answers it in order
            case SetDesktopSize():
                self.layout.resize(event, self.view_only)
            case _ if isinstance(event, FROM_VIEWER):
                # View-only viewers (and, under single-controller, those not in control)
                # receive the desktop's clipboard but cannot set it.
                may_set = self.input.may_set_clipboard()
                self.outbox.extend(self.clipboard.received(event, may_set))
            case XvpMessage() | QemuAudio():
                # We announce neither extension, so a viewer should not send them; accept
                # them quietly rather than drop a viewer that does.
                log.debug("%s: ignoring %s", self.peer, type(event).__name__)
            case _:
                raise Refused(f"unexpected {type(event).__name__} after the handshake")

    # --- writer ---------------------------------------------------------------------

    async def write_loop(self, subscription: Subscription) -> None:
        """Send what the outbox holds, and updates when the scheduler says so; else wait for
        the reader, the frame bus or the clipboard (or the time the scheduler names)."""
        meters = self.hub.meters
        deferred = False  # an update is waiting for the congestion window
        while True:
            now = trio.current_time()
            area = bounds(self.scheduler.area)
            refresh_at = self.lossy.due_at()
            if self.hub.bus.latest is not None and (moved := self.cursor.overlay_damage()):
                frame = self.hub.bus.latest.box
                subscription.add_damage([box.intersect(frame) for box in moved])
            has_damage = (
                subscription.has_damage(area)
                or self.cursor.news()
                or self.notices.news()
                or self.picture_lost
                or self.colour_map_pending
                or (refresh_at is not None and refresh_at <= now)
            )
            decision = self.scheduler.decide(now, has_damage)
            if decision.reason is Reason.CONGESTED and not deferred:
                meters.updates_deferred += 1
            deferred = decision.reason is Reason.CONGESTED
            until = decision.until
            if decision.reason is Reason.NOTHING_TO_SEND and refresh_at is not None:
                until = refresh_at  # nothing changed: the lossy areas go exact then
            out: list[Event] = list(self.outbox)
            self.outbox.clear()
            self.outbox_taken.set()
            out += self.clipboard.take(self.channel.conn.extended_clipboard)
            if self.notices.take_bell():
                out.append(Bell())
            if self.layout.due():
                # rfbproto: an update with ExtendedDesktopSize carries no pixel data, so it
                # goes alone, ahead of the pixels (and answers even without a request).
                out.append(FramebufferUpdate(self.layout.take_news()))
            updated = False
            changed_since = None  # the oldest change this update carries, if any
            if decision.send and self.hub.bus.latest is not None:
                if self.colour_map_pending:
                    self.colour_map_pending = False
                    out.append(SetColourMapEntries(0, colour_map_entries()))
                waiting_since = subscription.changed_since
                update = await self.build_update(subscription, now)
                if subscription.changed_since != waiting_since:  # it took the damage
                    changed_since = waiting_since
                meters.sent(update.rectangles)
                out.append(update)
                updated = True
            if not out:
                with trio.move_on_at(math.inf if until is None else until):
                    await self.wakeup.wait()
                continue
            data = self.channel.encode(*out)
            if updated:
                # The ping follows the update: its answer says the viewer has processed it.
                self.scheduler.sent(now, self.channel.bytes_sent + len(data))
                if (ping := self.scheduler.ping(now)) is not None:
                    data += self.channel.encode(ping)
            await self.channel.write(data)
            self.scheduler.sent(trio.current_time(), self.channel.bytes_sent)
            if changed_since is not None:
                meters.written(time.perf_counter() - changed_since)  # Subscription's clock

    async def build_update(self, subscription: Subscription, now: float) -> FramebufferUpdate:
        """The update the scheduler allowed: the pending copy, damage inside its area, the
        refreshed areas whole (an update with no rectangles answers a request for an empty
        area), and lossy areas that stood still sent again exactly."""
        pending = self.scheduler.take(now)
        if self.picture_lost:
            self.picture_lost = False
            self.lossy = LossyAreas(self.hub.lossless_refresh)
            subscription.add_damage(None)
        copy = subscription.take_copy(bounds(pending.area) if pending.area else None)
        frame = self.hub.bus.latest
        assert frame is not None  # the writer checked
        refresh = [box.intersect(frame.box) for box in pending.refresh]
        if refresh:
            self.builder.restart_video()
        for box in refresh:
            subscription.take_damage(box)  # sent whole anyway
        boxes = refresh
        if pending.area:
            frame, damage = subscription.take_damage(bounds(pending.area))
            boxes += damage
        pixels, version = frame.pixels, self.hub.bus.version(boxes)
        rectangles = self.notices.take() + self.cursor.take(self.pixel_format)
        if (frame.width, frame.height) != self.layout.size:
            copy = None  # copies were found between frames of the new size
            if Encoding.DESKTOP_SIZE in self.encodings:
                self.layout.set_size((frame.width, frame.height))
                rectangles.append(desktop_size(frame.width, frame.height))
                boxes = [frame.box]
            else:
                pixels, version = fit(pixels, self.layout.size), None
                boxes = [Box(0, 0, *self.layout.size)]
        if copy is not None:
            rectangles += self.copy_rectangles(copy)
            boxes += [box.intersect(frame.box) for box in self.cursor.copied(copy)]
        boxes = [box for box in boxes if not box.empty]
        exact = subtract_all(self.lossy.due(now), boxes)
        patch = self.cursor.pointer_patch(pixels, boxes + exact)
        before: list[Box] = []
        if patch is not None:
            before, boxes = around(boxes, patch[0])
            exact = subtract_all(exact, [patch[0]])
        audience = self.audience
        assert audience is not None  # joined while serving
        others = self.hub.audiences[audience] > 1
        pixel_rectangles = []
        if before:
            pixel_rectangles += await self.builder.build(
                pixels, version, before, self.pixel_format, audience.encoding, self.settings, others
            )
        if patch is not None:
            pixel_rectangles += await self.pointer_rectangles(*patch)
        pixel_rectangles += await self.builder.build(
            pixels, version, boxes, self.pixel_format, audience.encoding, self.settings, others
        )
        if exact:
            encoding = lossless_encoding(
                audience.encoding, self.encodings, self.pixel_format, self.hub.encodings
            )
            settings = lossless_settings(self.settings)
            if version is not None:
                version = self.hub.bus.version(exact)
            pixel_rectangles = pixel_rectangles + await self.builder.build(
                pixels, version, exact, self.pixel_format, encoding, settings, others
            )
        for rectangle in pixel_rectangles:
            box = Box(rectangle.x, rectangle.y, rectangle.width, rectangle.height)
            self.lossy.sent(box, is_lossy(rectangle), now)
        return FramebufferUpdate(rectangles + pixel_rectangles)

    async def pointer_rectangles(self, box: Box, drawn: np.ndarray) -> list[Rectangle]:
        """The drawn pointer's ``box``, encoded from ``drawn`` (its pixels with the pointer)
        for this viewer alone."""
        assert self.audience is not None  # joined while serving
        rectangles = await self.builder.build(
            drawn,
            None,
            [Box(0, 0, box.width, box.height)],
            self.pixel_format,
            self.audience.encoding,
            self.settings,
            False,
        )
        return [attrs.evolve(r, x=r.x + box.x, y=r.y + box.y) for r in rectangles]

    def copy_rectangles(self, copy: Move) -> list[Rectangle]:
        """CopyRect rectangles for ``copy`` (rfbproto 7.7.2); lossy pixels move with it."""
        self.lossy.copied(copy.dx, copy.dy, copy.boxes)
        rectangles = []
        for box in copy.boxes:
            source = copy.source(box)
            rectangles.append(copy_rect(box.x, box.y, box.width, box.height, source.x, source.y))
        return rectangles


def fit(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Crop or pad (black) a frame to a viewer that cannot follow a size change."""
    width, height = size
    fitted = np.zeros((height, width, 4), dtype=np.uint8)
    rows, columns = min(height, pixels.shape[0]), min(width, pixels.shape[1])
    fitted[:rows, :columns] = pixels[:rows, :columns]
    return fitted
