"""One viewer: the handshake, then a reader task and a writer task in the session's nursery.

The reader turns bytes into protocol events and acts on them at once (input is injected,
clipboard text goes to the clipboard bus, requests and settings are recorded, the writer is
woken). The writer is the only task that sends: it waits until the viewer wants an update and
there is something to send, or until clipboard text waits for the viewer, builds the update
in a worker thread and writes it. A viewer that stops reading blocks only its own writer;
capture and other viewers carry on, its damage accumulates and only its newest clipboard
text is kept.
"""

from __future__ import annotations

import logging
import os

import attrs
import numpy as np
import trio

from protocol import (
    BGRX,
    NEED_DATA,
    ClientCutText,
    ClientInit,
    ConnectionClosed,
    EnableContinuousUpdates,
    Event,
    Fence,
    FramebufferUpdate,
    FramebufferUpdateRequest,
    HandshakeFailed,
    KeyEvent,
    PixelFormat,
    PointerEvent,
    ProtocolError,
    ProtocolVersion,
    QemuAudio,
    QemuExtendedKeyEvent,
    SecurityResult,
    SecurityTypeChosen,
    SecurityTypes,
    ServerConnection,
    ServerCutText,
    ServerInit,
    SetColourMapEntries,
    SetDesktopSize,
    SetEncodings,
    SetPixelFormat,
    VncAuthChallenge,
    VncAuthResponse,
    XvpMessage,
)
from protocol._pixelformat import colour_map_entries
from protocol.encodings import EncodeSettings, Encoding, settings_from_encodings
from protocol.encodings.pseudo import desktop_size
from protocol.security import SecurityType
from protocol.security.vncauth import check_response

from .clipboard import ClipboardBus, ClipboardInbox
from .frames import FrameBus, Subscription, Wakeup
from .groups import leaves
from .region import Box
from .resize import LastResize, ViewerLayout
from .sources.base import Source
from .updates import UpdateBuilder, choose_encoding

log = logging.getLogger(__name__)

#: A viewer must finish the handshake within this time, so idle half-open connections
#: cannot hold connection slots.
HANDSHAKE_SECONDS = 30.0
RECEIVE_CHUNK = 65536


@attrs.frozen
class Access:
    """Who may connect and how: passwords ("" = none) and limits."""

    password: str = ""
    view_only_password: str = ""
    max_connections: int = 16
    max_cut_text: int = 1 << 20
    max_encodings: int = 1024


@attrs.define
class Hub:
    """What all sessions share: the source, the frame bus, the clipboard bus and the set of
    live sessions.  Whoever runs the hub runs ``bus.run()`` and ``clipboard.run()``."""

    source: Source
    bus: FrameBus
    access: Access
    name: str
    encodings: frozenset[int]  # the pixel encodings we offer (see updates.offered_encodings)
    sessions: set[Session] = attrs.Factory(set)
    #: Who last resized the desktop, for the sessions' ExtendedDesktopSize reasons.
    last_resize: LastResize = attrs.Factory(LastResize)
    clipboard: ClipboardBus = attrs.Factory(
        lambda hub: ClipboardBus(hub.source, hub.access.max_cut_text), takes_self=True
    )


class Refused(Exception):
    """The handshake ended without a session (bad password, too many viewers...)."""


class Session:
    """One connected viewer, from the first byte to the close."""

    def __init__(self, stream: trio.abc.Stream, hub: Hub, peer: str) -> None:
        self.stream = stream
        self.hub = hub
        self.peer = peer
        self.conn = ServerConnection(
            max_cut_text=hub.access.max_cut_text, max_encodings=hub.access.max_encodings
        )
        self.view_only = False
        self.shared = True
        self.pixel_format: PixelFormat = BGRX
        self.encodings: tuple[int, ...] = ()
        self.settings = EncodeSettings()
        self.wakeup = Wakeup()
        self.clipboard = ClipboardInbox(self.wakeup)
        self.update_wanted = False
        self.refresh: list[Box] = []
        self.colour_map_pending = False
        self.forget_viewer_pending = False
        self.held_keys: set[int] = set()
        self.pointer: tuple[int, int, int] = (0, 0, 0)  # x, y, button mask last injected
        self.builder = UpdateBuilder()
        self.layout = ViewerLayout(
            hub.source, hub.bus, hub.last_resize, peer, self.builder.forget_viewer
        )
        self._cancel_scope: trio.CancelScope | None = None

    # --- plumbing -------------------------------------------------------------------

    async def next_event(self) -> Event:
        while True:
            event = self.conn.next_event()
            if event is not NEED_DATA:
                return event
            self.conn.receive_data(await self.stream.receive_some(RECEIVE_CHUNK))

    async def send(self, *events: Event) -> None:
        await self.stream.send_all(b"".join(self.conn.send(event) for event in events))

    async def expect(self, kind: type[Event]) -> Event:
        event = await self.next_event()
        if not isinstance(event, kind):
            raise Refused(f"expected {kind.__name__}, got {type(event).__name__}")
        return event

    def close(self, reason: str) -> None:
        """Disconnect this viewer (from any task)."""
        log.info("%s: closing: %s", self.peer, reason)
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()

    # --- life cycle -----------------------------------------------------------------

    async def run(self) -> None:
        """Serve the viewer until it leaves or breaks the protocol; never raises for
        anything the viewer does."""
        with trio.CancelScope() as self._cancel_scope:
            try:
                with trio.fail_after(HANDSHAKE_SECONDS):
                    await self.handshake()
                self.hub.sessions.add(self)
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
                self.hub.sessions.discard(self)
                self.release_input()
        with trio.CancelScope(shield=True), trio.move_on_after(1):
            await self.stream.aclose()

    async def handshake(self) -> None:
        """rfbproto 7.1–7.3: version, security, ClientInit, ServerInit."""
        await self.send(ProtocolVersion(3, 8))
        await self.expect(ProtocolVersion)
        if len(self.hub.sessions) >= self.hub.access.max_connections:
            await self.send(HandshakeFailed("too many connections"))
            raise Refused("too many connections")
        access = self.hub.access
        security = SecurityType.VNC_AUTH if access.password else SecurityType.NONE
        await self.send(SecurityTypes((security,)))
        if self.conn.version >= (3, 7):
            await self.expect(SecurityTypeChosen)
        if security == SecurityType.VNC_AUTH:
            await self.authenticate()
        elif self.conn.version >= (3, 8):
            await self.send(SecurityResult(ok=True))
        client_init = await self.expect(ClientInit)
        self.shared = client_init.shared
        if not self.shared:
            for other in list(self.hub.sessions):
                other.close("another viewer asked for exclusive access")
        width, height = self.hub.source.size
        self.layout.size = (width, height)
        await self.send(ServerInit(width, height, BGRX, self.hub.name))
        log.info(
            "%s: connected (RFB %d.%d%s%s)",
            self.peer,
            *self.conn.version,
            ", view-only" if self.view_only else "",
            "" if self.shared else ", exclusive",
        )

    async def authenticate(self) -> None:
        """VNC authentication (7.2.2): the full password, or the view-only one."""
        challenge = os.urandom(16)
        await self.send(VncAuthChallenge(challenge))
        response = (await self.expect(VncAuthResponse)).response
        access = self.hub.access
        if check_response(challenge, response, access.password):
            self.view_only = False
        elif access.view_only_password and check_response(
            challenge, response, access.view_only_password
        ):
            self.view_only = True
        else:
            await self.send(SecurityResult(ok=False, reason="authentication failed"))
            raise Refused("authentication failed")
        await self.send(SecurityResult(ok=True))

    async def serve(self) -> None:
        subscription = self.hub.bus.subscribe(self.wakeup)
        self.hub.clipboard.join(self.clipboard)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.read_loop, nursery.cancel_scope)
                nursery.start_soon(self.write_loop, subscription)
        finally:
            self.hub.clipboard.leave(self.clipboard)
            self.hub.bus.unsubscribe(subscription)

    # --- reader ---------------------------------------------------------------------

    async def read_loop(self, cancel_scope: trio.CancelScope) -> None:
        while True:
            event = await self.next_event()
            if isinstance(event, ConnectionClosed):
                log.info("%s: viewer disconnected", self.peer)
                cancel_scope.cancel()
                return
            self.handle(event)

    def handle(self, event: Event) -> None:
        match event:
            case FramebufferUpdateRequest(incremental=incremental):
                if not incremental:
                    self.refresh.append(Box(event.x, event.y, event.width, event.height))
                    self.layout.full_request()
                self.update_wanted = True
                self.wakeup.set()
            case (
                KeyEvent(down=down, keysym=keysym) | QemuExtendedKeyEvent(down=down, keysym=keysym)
            ):
                self.inject_key(keysym, down)
            case PointerEvent(button_mask=mask, x=x, y=y):
                self.inject_pointer(x, y, mask)
            case SetPixelFormat(pixel_format=pixel_format):
                self.pixel_format = pixel_format
                self.colour_map_pending = not pixel_format.true_colour
                self.forget_viewer_pending = True
                self.wakeup.set()
            case SetEncodings(encodings=encodings):
                self.encodings = encodings
                self.settings = settings_from_encodings(encodings)
                self.layout.set_encodings(encodings)
                self.wakeup.set()
            case SetDesktopSize():
                if self.layout.resize(event, self.view_only):
                    self.wakeup.set()
            case ClientCutText(text=text):
                # View-only viewers receive the desktop's clipboard but cannot set it.
                if self.view_only:
                    log.debug("%s: clipboard from a view-only viewer ignored", self.peer)
                else:
                    self.hub.clipboard.set_from_viewer(text, self.clipboard)
            case EnableContinuousUpdates() | Fence() | XvpMessage() | QemuAudio():
                # We announce none of these extensions, so a viewer should not send them;
                # accept them quietly rather than drop a viewer that does.
                log.debug("%s: ignoring %s", self.peer, type(event).__name__)
            case _:
                raise Refused(f"unexpected {type(event).__name__} after the handshake")

    def inject_key(self, keysym: int, down: bool) -> None:
        if self.view_only:
            return
        if down:
            self.held_keys.add(keysym)
        else:
            self.held_keys.discard(keysym)
        self.hub.source.inject_key(keysym, down)

    def inject_pointer(self, x: int, y: int, mask: int) -> None:
        if self.view_only:
            return
        width, height = self.hub.source.size
        self.pointer = (min(x, width - 1), min(y, height - 1), mask)
        self.hub.source.inject_pointer(*self.pointer)

    def release_input(self) -> None:
        """Keys and buttons still held when the viewer leaves would stay down on the desktop."""
        try:
            for keysym in sorted(self.held_keys):
                self.hub.source.inject_key(keysym, False)
            x, y, mask = self.pointer
            if mask:
                self.hub.source.inject_pointer(x, y, 0)
        except Exception:  # the desktop may be gone already; nothing more to release
            log.exception("%s: releasing held keys and buttons failed", self.peer)
        self.held_keys.clear()

    # --- writer ---------------------------------------------------------------------

    def update_due(self, subscription: Subscription) -> bool:
        """A frame exists and the viewer has an update or a palette due."""
        return self.hub.bus.latest is not None and (
            self.colour_map_pending
            or (self.update_wanted and bool(self.refresh or subscription.has_damage()))
        )

    async def write_loop(self, subscription: Subscription) -> None:
        while True:
            while not (
                self.clipboard.pending or self.layout.due() or self.update_due(subscription)
            ):
                await self.wakeup.wait()
            out: list[Event] = []
            if (text := self.clipboard.take()) is not None:
                out.append(ServerCutText(text))
            if self.layout.due():
                # rfbproto: an update with ExtendedDesktopSize carries no pixel data, so it
                # goes alone, ahead of the pixels (and answers even without a request).
                out.append(FramebufferUpdate(self.layout.take_news()))
            if self.update_due(subscription):
                if self.colour_map_pending:
                    self.colour_map_pending = False
                    out.append(SetColourMapEntries(0, colour_map_entries()))
                if self.update_wanted:
                    update = await self.build_update(subscription)
                    if update is not None:
                        out.append(update)
                        self.update_wanted = False
            if out:
                await self.send(*out)

    async def build_update(self, subscription: Subscription) -> FramebufferUpdate | None:
        frame, damage = subscription.take_damage()
        refresh, self.refresh = self.refresh, []
        if self.forget_viewer_pending:
            self.forget_viewer_pending = False
            self.builder.forget_viewer()
        pixels = frame.pixels
        rectangles = []
        if (frame.width, frame.height) != self.layout.size:
            if Encoding.DESKTOP_SIZE in self.encodings:
                self.layout.set_size((frame.width, frame.height))
                rectangles.append(desktop_size(frame.width, frame.height))
            else:
                pixels = fit(pixels, self.layout.size)
                damage = None
        rectangles += await trio.to_thread.run_sync(
            self.builder.build,
            pixels,
            damage,
            refresh,
            self.pixel_format,
            choose_encoding(self.encodings, self.pixel_format, self.hub.encodings),
            self.settings,
        )
        return FramebufferUpdate(rectangles) if rectangles else None


def fit(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Crop or pad (black) a frame to a viewer that cannot follow a size change."""
    width, height = size
    fitted = np.zeros((height, width, 4), dtype=np.uint8)
    rows, columns = min(height, pixels.shape[0]), min(width, pixels.shape[1])
    fitted[:rows, :columns] = pixels[:rows, :columns]
    return fitted
