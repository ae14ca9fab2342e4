"""One viewer's desktop size: ExtendedDesktopSize news and SetDesktopSize requests.

A session owns one ``ViewerLayout``. Its reader reports what the viewer said (SetEncodings,
a full FramebufferUpdateRequest, SetDesktopSize); its writer asks whether layout news is due
and takes the rectangles. The news says which size the viewer now has, so the pixels that
follow it are for that size. All viewers of a desktop share one ``DesktopResize``: who may
resize it (``[source] resize``), up to what size (``[source] max_size``), and who last did.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import attrs

from protocol import Rectangle, Screen, SetDesktopSize
from protocol.encodings import Encoding
from protocol.encodings.pseudo import ResizeReason, ResizeStatus, extended_desktop_size

from .frames import FrameBus
from .sources.base import Source, SourceError

log = logging.getLogger(__name__)

#: Largest width or height a viewer may ask for: one 8192 x 8192 BGRX frame is 256 MiB.
MAX_DESKTOP_SIDE = 8192

#: [source] resize: who may resize the desktop. "first" is the viewer connected longest among
#: those that may control it (a view-only viewer never may, so it never blocks the others).
RESIZE_POLICIES = ("any", "first", "none")


@attrs.frozen
class ResizeAnswer:
    """What to tell a viewer about its SetDesktopSize: the status, and the source's size
    right after the request (a successful answer waits for a frame of that size)."""

    status: ResizeStatus
    size: tuple[int, int]


@attrs.define(eq=False)
class DesktopResize:
    """Shared by all viewers of a desktop: the rules for SetDesktopSize, the viewers in the
    order they connected (for ``policy = "first"``), and the last viewer whose request
    succeeded with the size it got, so the others are told "another viewer asked"
    (ExtendedDesktopSize reason 2) when that size arrives."""

    policy: str = "any"  # one of RESIZE_POLICIES
    max_size: tuple[int, int] = (MAX_DESKTOP_SIDE, MAX_DESKTOP_SIDE)
    viewers: list[ViewerLayout] = attrs.Factory(list)
    last_viewer: ViewerLayout | None = None
    last_size: tuple[int, int] = (0, 0)

    def join(self, viewer: ViewerLayout) -> None:
        self.viewers.append(viewer)

    def leave(self, viewer: ViewerLayout) -> None:
        if viewer in self.viewers:
            self.viewers.remove(viewer)

    def first(self) -> ViewerLayout | None:
        """The viewer connected longest among those that may control the desktop."""
        return next((viewer for viewer in self.viewers if not viewer.view_only), None)

    def refusal(
        self, viewer: ViewerLayout, request: SetDesktopSize, view_only: bool
    ) -> ResizeStatus | None:
        """Why ``viewer``'s request is refused (rfbproto 7.5.11's statuses), or None: who
        asks first, then whether the layout makes sense, then whether it fits."""
        if view_only or self.policy == "none":
            return ResizeStatus.PROHIBITED
        if self.policy == "first" and self.first() is not viewer:
            return ResizeStatus.PROHIBITED
        if not valid_layout(request):
            return ResizeStatus.INVALID_LAYOUT
        max_width, max_height = self.max_size
        if request.width > max_width or request.height > max_height:
            return ResizeStatus.OUT_OF_RESOURCES
        return None


def valid_layout(request: SetDesktopSize) -> bool:
    """rfbproto 7.5.11 / 'Screen Model': a sane size, at least one screen, unique screen
    ids, and every screen non-empty and inside the requested framebuffer."""
    width, height = request.width, request.height
    ids = {screen.id for screen in request.screens}
    return (
        1 <= width <= MAX_DESKTOP_SIDE
        and 1 <= height <= MAX_DESKTOP_SIDE
        and len(ids) == len(request.screens) > 0
        and all(
            screen.width
            and screen.height
            and screen.x + screen.width <= width
            and screen.y + screen.height <= height
            for screen in request.screens
        )
    )


@attrs.define(eq=False)
class ViewerLayout:
    """The size one viewer has been told and the ExtendedDesktopSize rectangles it is owed."""

    source: Source
    bus: FrameBus
    desktop: DesktopResize
    peer: str  # for log lines
    #: Called when the viewer's size changes: its picture is gone, the next update is whole.
    forget_viewer: Callable[[], None]
    size: tuple[int, int] = (0, 0)
    view_only: bool = False  # as admitted
    #: The viewer takes ExtendedDesktopSize rectangles (and so may ask to resize).
    extended: bool = False
    announce_pending: bool = False  # ExtendedDesktopSize reason 0 is due
    answers: list[ResizeAnswer] = attrs.Factory(list)

    def join(self, view_only: bool) -> None:
        """The viewer is admitted: from now on it counts for ``policy = "first"``."""
        self.view_only = view_only
        self.desktop.join(self)

    def leave(self) -> None:
        self.desktop.leave(self)

    # --- from the reader ------------------------------------------------------------

    def set_encodings(self, encodings: Sequence[int]) -> None:
        """SetEncodings: tell the viewer at once that it may resize (noVNC waits for this)."""
        self.extended = Encoding.EXTENDED_DESKTOP_SIZE in encodings
        self.announce_pending = self.extended

    def full_request(self) -> None:
        """rfbproto 'ExtendedDesktopSize': a full FramebufferUpdateRequest is answered with
        the layout, so a viewer can always learn it."""
        self.announce_pending = self.extended

    def resize(self, request: SetDesktopSize, view_only: bool) -> bool:
        """rfbproto 7.5.11: try the request and queue the answer; everyone sees the new size
        through the usual frame-size change.  True if an answer is now owed."""
        status = self.try_resize(request, view_only)
        log.info("%s: asked for %dx%d: %s", self.peer, request.width, request.height, status.name)
        if self.extended:
            self.answers.append(ResizeAnswer(status, self.source.size))
        return self.extended

    def try_resize(self, request: SetDesktopSize, view_only: bool) -> ResizeStatus:
        refusal = self.desktop.refusal(self, request, view_only)
        if refusal is not None:
            return refusal
        try:
            if not self.source.resize(request.width, request.height):
                return ResizeStatus.PROHIBITED
        except SourceError as error:
            log.warning("%s: resizing the desktop failed: %s", self.peer, error)
            return ResizeStatus.OUT_OF_RESOURCES
        self.desktop.last_viewer, self.desktop.last_size = self, self.source.size
        return ResizeStatus.OK

    # --- for the writer -------------------------------------------------------------

    def answer_ready(self, answer: ResizeAnswer, size: tuple[int, int]) -> bool:
        """A refusal goes at once; a success once frames have the new size, or once the
        source moved on to another size (another request overtook it)."""
        return (
            answer.status != ResizeStatus.OK
            or size == answer.size
            or self.source.size != answer.size
        )

    def due(self) -> bool:
        """An ExtendedDesktopSize rectangle is owed: an announcement, an answer, or a new
        frame size."""
        frame = self.bus.latest
        if frame is None or not self.extended:
            return False
        size = (frame.width, frame.height)
        return (
            self.announce_pending
            or size != self.size
            or bool(self.answers and self.answer_ready(self.answers[0], size))
        )

    def take_news(self) -> list[Rectangle]:
        """The owed ExtendedDesktopSize rectangles; afterwards the viewer's size is the
        latest frame's.  Must run right before the session builds its update with no await
        between, so the pixels that follow are for the size announced."""
        frame = self.bus.latest
        assert frame is not None  # due() said so
        size = (frame.width, frame.height)
        news = []
        while self.answers and self.answer_ready(self.answers[0], size):
            status = self.answers.pop(0).status
            if status == ResizeStatus.OK:
                self.set_size(size)
            # A refusal's size fields are undefined; we repeat the size the viewer has.
            news.append(self.layout(ResizeReason.THIS_CLIENT, status))
        if self.announce_pending or size != self.size:
            asked = self.desktop
            reason = ResizeReason.SERVER
            if size != self.size and asked.last_viewer not in (None, self):
                reason = ResizeReason.OTHER_CLIENT if asked.last_size == size else reason
            self.set_size(size)
            news.append(self.layout(reason, ResizeStatus.OK))
        self.announce_pending = False
        return news

    def set_size(self, size: tuple[int, int]) -> None:
        """The viewer now has ``size`` (told by ExtendedDesktopSize or DesktopSize)."""
        if size != self.size:
            self.size = size
            self.forget_viewer()

    def layout(self, reason: ResizeReason, status: ResizeStatus) -> Rectangle:
        """The viewer's size as one screen (id 0) covering the whole framebuffer."""
        width, height = self.size
        return extended_desktop_size(
            width, height, [Screen(0, 0, 0, width, height)], reason, status
        )
