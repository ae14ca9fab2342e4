"""The bench's measuring viewer, built on ``protocol.ClientConnection``, and a pool that
drives many of them from one thread.

A ``Viewer`` does what a simple viewer does: it asks for BGRX pixels and a given encoding
list, takes a full update, and (``auto_request``) keeps exactly one incremental
FramebufferUpdateRequest outstanding, sending the next one as soon as an update has arrived
and before decoding it, so the server is never kept waiting on our decoder. Every rectangle
is decoded into the viewer's framebuffer (``apply_update``), so the client pays the decode
cost a real viewer pays and every figure rests on decoded pixels. The one exception is a viewer
connected with ``decode=False``, which only parses and counts what arrives: the bench's two
cores cannot decode ten streams of 60 frames/s, and a viewer that falls behind would ask for
fewer updates than a real viewer on a machine of its own. Every viewer counts the rectangles
it received per encoding (``rectangles``), which tells e.g. whether a server sent CopyRect or
Open H.264 at all.

Handshakes run on the caller's thread with blocking sockets; afterwards a ``ViewerPool``
thread reads every viewer's socket (a selector, no thread per viewer) and calls each
viewer's ``on_update`` hook after each decoded update. The hook and the waits in
``Viewer`` share one lock per viewer, because a ``ClientConnection`` is not thread-safe.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

from protocol import (
    BGRX,
    NEED_DATA,
    ClientConnection,
    ClientInit,
    ConnectionClosed,
    Framebuffer,
    FramebufferUpdate,
    FramebufferUpdateRequest,
    HandshakeFailed,
    PointerEvent,
    ProtocolError,
    ProtocolVersion,
    SecurityResult,
    SecurityTypeChosen,
    SecurityTypes,
    ServerInit,
    SetEncodings,
    SetPixelFormat,
)
from protocol.encodings import Encoding

#: Encoding lists the bench asks for. VIEWER is what TigerVNC's viewer asks for by default
#: on a fast link (Tight first, JPEG quality 8, compression level 2), then the usual others.
RAW = (Encoding.RAW,)
HEXTILE = (Encoding.HEXTILE,)
ZRLE = (Encoding.ZRLE,)
TIGHT_LOSSLESS = (Encoding.TIGHT,)
TIGHT_JPEG = (Encoding.TIGHT, Encoding.JPEG_QUALITY_LEVEL_8)
COPYRECT_TIGHT = (Encoding.COPY_RECT, Encoding.TIGHT)
H264 = (Encoding.OPEN_H264,)
VIEWER = (
    Encoding.TIGHT,
    Encoding.ZRLE,
    Encoding.HEXTILE,
    Encoding.RAW,
    Encoding.JPEG_QUALITY_LEVEL_8,
    Encoding.COMPRESS_LEVEL_2,
)

_SECURITY_NONE = 1
_RECEIVE = 1 << 20


class Refused(Exception):
    """The server did not complete the handshake (or refused the viewer outright)."""


#: Called on the pool thread, with the viewer's lock held, after each decoded update:
#: (viewer, the perf_counter time decoding finished).
UpdateHook = Callable[["Viewer", float], None]


class Viewer:
    """One connection; see the module docstring. Construct with ``connect``."""

    def __init__(self, sock: socket.socket, conn: ClientConnection, init: ServerInit) -> None:
        self.sock = sock
        self.conn = conn
        self.width, self.height = init.width, init.height
        self.name = init.name
        self.framebuffer = Framebuffer.blank(init.width, init.height)
        self.lock = threading.Condition()
        self.auto_request = True
        self.decode = True
        self.on_update: UpdateHook | None = None
        self.updates = 0  # updates that carried at least one rectangle (decoded, or counted)
        self.last_update = time.perf_counter()  # when the last one was decoded (or counted)
        self.closed = False
        self.error: str | None = None
        self.outstanding = 0  # FramebufferUpdateRequests not answered yet
        self.unsolicited = 0  # updates that answered no request (a server bug)
        self.rectangles: Counter[int] = Counter()  # encoding number → rectangles received

    # --- main thread --------------------------------------------------------------------

    def request(self, incremental: bool) -> None:
        """Ask for the whole screen (incremental: only what changes)."""
        with self.lock:
            self._send(FramebufferUpdateRequest(incremental, 0, 0, self.width, self.height))

    def point(self, x: int, y: int) -> None:
        """A pointer event (no buttons): tells servers that draw the cursor into the
        framebuffer that this viewer has a pointer of its own."""
        with self.lock:
            self._send(PointerEvent(0, x, y))

    def wait_updates(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` updates have been decoded (or the viewer closed)."""
        with self.lock:
            return self.lock.wait_for(lambda: self.updates >= count or self.closed, timeout) and (
                self.updates >= count
            )

    def bytes_received(self) -> int:
        with self.lock:
            return self.conn.statistics().bytes_received

    # --- pool thread --------------------------------------------------------------------

    def _send(self, event: object) -> None:
        self.sock.sendall(self.conn.send(event))  # type: ignore[arg-type]
        if isinstance(event, FramebufferUpdateRequest):
            self.outstanding += 1

    def pump(self) -> None:
        """Read what has arrived and handle every complete message."""
        try:
            data = self.sock.recv(_RECEIVE)
        except OSError as error:
            data = b""
            self.error = self.error or f"receive: {error}"
        with self.lock:
            try:
                self.conn.receive_data(data)
                while (event := self.conn.next_event()) is not NEED_DATA:
                    if isinstance(event, FramebufferUpdate):
                        self._update(event)
                    elif isinstance(event, ConnectionClosed):
                        self.closed = True
                        break
            except (ProtocolError, OSError) as error:
                self.error = self.error or f"{type(error).__name__}: {error}"
                self.closed = True
            self.lock.notify_all()

    def _update(self, update: FramebufferUpdate) -> None:
        # Without ContinuousUpdates (never asked for here) each update answers one request.
        if self.outstanding:
            self.outstanding -= 1
        else:
            self.unsolicited += 1
        if self.auto_request:
            self._send(FramebufferUpdateRequest(True, 0, 0, self.width, self.height))
        self.rectangles.update(rectangle.encoding for rectangle in update.rectangles)
        if self.decode:
            self.conn.apply_update(update, self.framebuffer)
        if update.rectangles:
            self.updates += 1
            self.last_update = time.perf_counter()
            if self.on_update is not None:
                self.on_update(self, self.last_update)


def connect(
    port: int,
    encodings: Sequence[int],
    *,
    timeout: float = 10.0,
    pointer: bool = False,
    auto_request: bool = True,
    decode: bool = True,
) -> Viewer:
    """Connect to 127.0.0.1:``port`` without a password, as a shared viewer; ask for BGRX,
    ``encodings`` and a full update. ``pointer``: then send a pointer event to the bottom-right
    corner (where the bench keeps the X pointer). ``auto_request``: keep an incremental
    request outstanding from the first update on. ``decode``: decode what arrives (else only
    count it; the framebuffer stays blank). Raises ``Refused``."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as error:
        raise Refused(f"connect: {error}") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn = ClientConnection()
    deadline = time.monotonic() + timeout

    def next_event() -> object:
        while (event := conn.next_event()) is NEED_DATA:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            conn.receive_data(sock.recv(_RECEIVE))
        if isinstance(event, HandshakeFailed | ConnectionClosed):
            raise Refused(f"{type(event).__name__}: {getattr(event, 'reason', '')}".strip(": "))
        return event

    try:
        version = next_event()
        assert isinstance(version, ProtocolVersion)
        sock.sendall(conn.send(ProtocolVersion(3, 8 if version.minor >= 8 else version.minor)))
        types = next_event()
        assert isinstance(types, SecurityTypes)
        if _SECURITY_NONE not in types.types:
            raise Refused(f"no security type None offered: {types.types}")
        if conn.version != (3, 3):
            sock.sendall(conn.send(SecurityTypeChosen(_SECURITY_NONE)))
        if conn.version == (3, 8):
            result = next_event()
            assert isinstance(result, SecurityResult)
            if not result.ok:
                raise Refused(f"security failed: {result.reason}")
        sock.sendall(conn.send(ClientInit(shared=True)))
        init = next_event()
        assert isinstance(init, ServerInit)
    except (OSError, ProtocolError, AssertionError) as error:
        sock.close()
        raise Refused(f"handshake: {type(error).__name__}: {error}") from None
    except Refused:
        sock.close()
        raise
    sock.settimeout(None)
    viewer = Viewer(sock, conn, init)
    viewer.auto_request = auto_request
    viewer.decode = decode
    viewer._send(SetPixelFormat(BGRX))
    viewer._send(SetEncodings(tuple(encodings)))
    if pointer:
        viewer._send(PointerEvent(0, init.width - 1, init.height - 1))
    viewer._send(FramebufferUpdateRequest(False, 0, 0, init.width, init.height))
    return viewer


def wait_quiet(viewers: Sequence[Viewer], quiet: float, limit: float) -> bool:
    """Wait until no viewer has decoded an update for ``quiet`` seconds (at most ``limit``):
    the end of the burst after connecting (first frames, and servers that refresh areas
    sent lossy once they are still). False if the screen never went quiet."""
    deadline = time.perf_counter() + limit
    while True:
        now = time.perf_counter()
        latest = max((viewer.last_update for viewer in viewers), default=0.0)
        if now - latest >= quiet:
            return True
        if now >= deadline:
            return False
        time.sleep(min(0.1, quiet - (now - latest)))


class ViewerPool:
    """One thread that reads every added viewer's socket and decodes what arrives."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._pending: list[tuple[str, Viewer]] = []
        self._pending_lock = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="viewer-pool", daemon=True)
        self._thread.start()

    def add(self, viewer: Viewer) -> Viewer:
        self._post("add", viewer)
        return viewer

    def close(self, viewer: Viewer) -> None:
        """Disconnect ``viewer`` (on the pool thread, which owns the socket from now on)."""
        self._post("close", viewer)

    def stop(self) -> None:
        """Close every viewer and end the thread."""
        self._stopping = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        self._thread.join(10)
        for key in list(self._selector.get_map().values()):
            with contextlib.suppress(OSError):
                key.fileobj.close()  # type: ignore[union-attr]
        self._selector.close()
        self._wake_w.close()

    def _post(self, action: str, viewer: Viewer) -> None:
        with self._pending_lock:
            self._pending.append((action, viewer))
        self._wake_w.send(b"x")

    def _run(self) -> None:
        while not self._stopping:
            for key, _ in self._selector.select(0.5):
                if key.fileobj is self._wake_r:
                    self._wake_r.recv(4096)
                    self._apply_pending()
                    continue
                viewer: Viewer = key.data
                viewer.pump()
                if viewer.closed:
                    self._drop(viewer)

    def _apply_pending(self) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, []
        for action, viewer in pending:
            if action == "add" and not viewer.closed:
                self._selector.register(viewer.sock, selectors.EVENT_READ, viewer)
            elif action == "close":
                self._drop(viewer)

    def _drop(self, viewer: Viewer) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(viewer.sock)
        with contextlib.suppress(OSError):
            viewer.sock.close()
        with viewer.lock:
            viewer.closed = True
            viewer.lock.notify_all()
