"""A recording TCP proxy between a viewer and vncd: what did the viewer really receive?

A viewer's screenshot shows that the pixels arrived, not how. The tap forwards bytes unchanged
and parses both directions with the protocol package, so a test can check which encoding
every rectangle used, which encodings the viewer asked for and which pixel format it chose.

Two state machines mirror each conversation: a ``ServerConnection`` parses the viewer's bytes
and a ``ClientConnection`` parses vncd's; every event one of them parses is also "sent" on the
other, so both walk the same phases (and the client side learns the viewer's SetPixelFormat,
which sizes rectangle payloads). A chunk is parsed before it is forwarded, so the answer to a
message is never parsed before the message itself: ``messages`` lists both directions in an
order that respects cause and effect (a fence's answer after the fence, an update sent in reply
to a request after the request), which is what flow-control tests read.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator

import attrs
import numpy as np

from protocol import (
    NEED_DATA,
    ClientConnection,
    ConnectionClosed,
    Event,
    FramebufferUpdate,
    PixelFormat,
    Rectangle,
    ServerConnection,
    SetEncodings,
    SetPixelFormat,
)
from protocol.encodings import ENCODERS

_CHUNK = 1 << 16
#: Ports the tap listens on: above VNC_DISPLAY_PORTS, vncd's (5990..6399), so a tap
#: can never take the port of a vncd that is still starting, and below 5900 + 1000 so that
#: display-number viewers (gvnccapture's host:N) reach them.
_TAP_PORTS = range(6400, 6900)


@attrs.frozen
class Message:
    """One parsed message, and which side sent it."""

    from_viewer: bool
    event: Event


@attrs.define
class Recording:
    """What passed through the tap on one connection, in order."""

    encoding_lists: list[tuple[int, ...]] = attrs.Factory(list)
    pixel_formats: list[PixelFormat] = attrs.Factory(list)
    rectangles: list[Rectangle] = attrs.Factory(list)
    #: Every message parsed, both directions, in causal order.
    messages: list[Message] = attrs.Factory(list)
    error: str | None = None

    def pixel_rectangles(self) -> list[Rectangle]:
        """Rectangles that carry pixels (not pseudo-encodings such as LastRect)."""
        return [r for r in self.rectangles if r.encoding in ENCODERS]

    def encodings_used(self) -> Counter[int]:
        return Counter(r.encoding for r in self.pixel_rectangles())

    def last_painter(self, width: int, height: int) -> np.ndarray:
        """(height, width) index into ``pixel_rectangles()`` of the rectangle that painted
        each pixel last; -1 where none did yet."""
        painter = np.full((height, width), -1, dtype=np.int64)
        for index, r in enumerate(self.pixel_rectangles()):
            painter[r.y : r.y + r.height, r.x : r.x + r.width] = index
        return painter

    def covers(self, width: int, height: int) -> bool:
        """Whether the pixel rectangles so far painted the whole framebuffer."""
        return bool((self.last_painter(width, height) >= 0).all())


class _Mirror:
    """Both parsers of one connection; each chunk is parsed under one lock, in order. The
    first failure is recorded and ends the parsing, not the forwarding: the test reports it
    instead of a viewer that hangs."""

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        self.from_viewer = ServerConnection()
        self.from_vncd = ClientConnection()
        self.lock = threading.Lock()

    def feed(self, data: bytes, *, from_viewer: bool) -> None:
        with self.lock:
            if self.recording.error is not None:
                return
            parser, other = (
                (self.from_viewer, self.from_vncd)
                if from_viewer
                else (self.from_vncd, self.from_viewer)
            )
            try:
                parser.receive_data(data)
                while (event := parser.next_event()) is not NEED_DATA:
                    if isinstance(event, ConnectionClosed):
                        return
                    self._record(event, from_viewer)
                    other.send(event)
            except Exception as error:  # any failure is the test's to report, not the pump's
                side = "viewer" if from_viewer else "vncd"
                self.recording.error = f"the tap cannot follow what {side} sent: {error!r}"

    def _record(self, event: Event, from_viewer: bool) -> None:
        self.recording.messages.append(Message(from_viewer, event))
        match event:
            case SetEncodings(encodings=encodings):
                self.recording.encoding_lists.append(tuple(encodings))
            case SetPixelFormat(pixel_format=pixel_format):
                self.recording.pixel_formats.append(pixel_format)
            case FramebufferUpdate(rectangles=rectangles):
                self.recording.rectangles.extend(rectangles)


class RfbTap:
    """Listens on ``port`` (>= 5900, so display-number viewers reach it too) and forwards
    every connection to vncd on ``upstream_port``, recording each in ``recordings``."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.recordings: list[Recording] = []
        self._listener = _listen()
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = [self._listener]
        self._threads: list[threading.Thread] = []

    def only_recording(self) -> Recording:
        """The recording of the one connection a test made."""
        assert len(self.recordings) == 1, f"{len(self.recordings)} connections went through"
        return self.recordings[0]

    def _accept_loop(self) -> None:
        while True:
            try:
                viewer, _ = self._listener.accept()
            except OSError:  # closed by close()
                return
            recording = Recording()
            self.recordings.append(recording)
            self._sockets.append(viewer)
            try:
                vncd = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError as error:
                recording.error = f"cannot reach vncd: {error}"
                viewer.close()
                continue
            self._sockets.append(vncd)
            mirror = _Mirror(recording)
            for source, sink, from_viewer in ((viewer, vncd, True), (vncd, viewer, False)):
                self._start(_pump, source, sink, mirror, from_viewer)

    def _start(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def start(self) -> None:
        self._start(self._accept_loop)

    def close(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(5)


def _listen() -> socket.socket:
    """A listening socket on a free port of ``_TAP_PORTS`` (bound at once: no race)."""
    for port in _TAP_PORTS:
        try:
            return socket.create_server(("127.0.0.1", port))
        except OSError:
            continue
    raise RuntimeError(f"no free port in {_TAP_PORTS}")


def _pump(source: socket.socket, sink: socket.socket, mirror: _Mirror, from_viewer: bool) -> None:
    """Copy one direction, parsing each chunk before passing it on."""
    try:
        while data := source.recv(_CHUNK):
            mirror.feed(data, from_viewer=from_viewer)
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:  # the other direction or close() tore the connection down
        pass


@contextlib.contextmanager
def rfb_tap(upstream_port: int) -> Iterator[RfbTap]:
    """An RfbTap in front of vncd's ``upstream_port`` for the duration of the block."""
    tap = RfbTap(upstream_port)
    tap.start()
    try:
        yield tap
    finally:
        tap.close()
