"""Recording what a viewer is sent, as an FBS 001.000 file (``protocol.fbs``): the format
rfbproxy and TightVNC's RfbPlayer were written for, which ``vncd replay`` plays.

The session's channel hands every message it encodes to ``SessionRecording.tap`` (plain RFB,
before TLS or RSA-AES wrap it). Only the messages of RFB 3.3 go into the file
(FramebufferUpdate, SetColourMapEntries, Bell, ServerCutText): fence replies, continuous-updates
news and the extended clipboard answer the viewer's own messages, which the file does not
hold, and FBS players know nothing of them.

A file must decode without the viewer's messages, so it starts with a ServerInit in the pixel
format the updates that follow are encoded in, and at a point where the picture is sent
whole and a fresh decoder can follow: with the session's first update, or, later (on demand,
or after the viewer changed its pixel format), once the session has been asked to send its
whole picture again with fresh Tight streams (Tight's reset bits tell the viewer as well).
Zlib, ZRLE and H.264 keep one stream for the whole connection, which cannot be restarted: a
file for such a viewer can only start with its session.

Writing happens in a thread of the file's own, behind a bounded buffer: a slow disk never
delays the viewer; when more than ``max_buffer`` bytes wait, recording that session stops
with one log line.
"""

from __future__ import annotations

import collections
import datetime
import enum
import logging
import os
import re
import string
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

import attrs
import trio

from protocol import (
    Bell,
    Event,
    FramebufferUpdate,
    PixelFormat,
    ServerConnection,
    ServerCutText,
    ServerInit,
    SetColourMapEntries,
)
from protocol.encodings import ENCODERS, Encoding
from protocol.fbs import HEADER, block_parts, start_stream

log = logging.getLogger(__name__)

#: The messages a recording holds: those every FBS player knows (RFB 3.3, rfbproto 7.6.1-4).
RECORDED = (FramebufferUpdate, SetColourMapEntries, Bell, ServerCutText)
#: Encodings whose one compression stream spans the connection, with no way to restart it:
#: a file that starts after such a rectangle was sent could not be decoded.
CONTINUOUS = frozenset({Encoding.ZLIB, Encoding.ZRLE, Encoding.OPEN_H264})
#: The fields a file name pattern may use.
NAME_FIELDS = ("time", "peer")
DEFAULT_FILE_NAME = "{time}-{peer}.fbs"
#: The last time a file can hold (its blocks' U32 milliseconds): 49.7 days after its start.
MAX_MILLISECONDS = 0xFFFFFFFF


class RecordingError(Exception):
    """A recording cannot start; the message says why."""


def check_file_name(pattern: str) -> str:
    """``pattern`` if it makes a plain file name from {time} and {peer}; ValueError if not."""
    try:
        fields = [
            field for _, field, _, _ in string.Formatter().parse(pattern) if field is not None
        ]
    except ValueError as error:
        raise ValueError(f"is not a valid pattern ({error})") from None
    unknown = [field for field in fields if field not in NAME_FIELDS]
    if unknown:
        raise ValueError(f"uses {{{unknown[0]}}}: the fields are {{time}} and {{peer}}")
    name = file_name(pattern, datetime.datetime(2026, 1, 2, 3, 4, 5), "127.0.0.1:5900")
    if not name or "/" in name or name in (".", ".."):
        raise ValueError('must make a file name (no "/"), e.g. "{time}-{peer}.fbs"')
    return pattern


def file_name(pattern: str, when: datetime.datetime, peer: str) -> str:
    """A recording's name: {time} as 20260102-030405, {peer} as 127.0.0.1-5900."""
    spelled = re.sub(r"[^A-Za-z0-9.]+", "-", peer).strip("-")
    return pattern.format(time=when.strftime("%Y%m%d-%H%M%S"), peer=spelled or "viewer")


@attrs.frozen
class RecordingSettings:
    """[recording] as sessions use it."""

    directory: Path | None = None  # None: no recordings
    all_sessions: bool = False
    file_name: str = DEFAULT_FILE_NAME
    max_buffer: int = 64 << 20  # bytes waiting for the disk before a recording stops


class Spool:
    """One file, written by a thread of its own so that ``put`` never waits for the disk.

    The thread creates ``path`` with mode 0600, since it shows the screen (never over an
    existing file: ``-2``, ``-3``... are tried before the suffix), writes what was put in
    order, and closes the file after ``close``.
    ``put`` refuses (False) once more than ``max_buffer`` bytes wait; ``error`` is set when
    the file could not be opened or written."""

    def __init__(
        self,
        path: Path,
        max_buffer: int,
        opener: Callable[[Path], tuple[Path, BinaryIO]] | None = None,
    ) -> None:
        self.path = path
        self.error: str | None = None
        self._max_buffer = max_buffer
        self._opener = opener or _open_new
        self._chunks: collections.deque[bytes] = collections.deque()
        self._waiting = 0
        self._closing = False
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"recording {path.name}")
        self._thread.start()

    def put(self, *chunks: bytes) -> bool:
        """Queue ``chunks`` for the file, all or (over the limit) none."""
        size = sum(map(len, chunks))
        with self._ready:
            if self._waiting + size > self._max_buffer:
                return False
            self._chunks.extend(chunks)
            self._waiting += size
            self._ready.notify()
        return True

    @property
    def waiting(self) -> int:
        return self._waiting

    def close(self) -> None:
        """Finish: the thread writes what waits, closes the file and ends."""
        with self._ready:
            self._closing = True
            self._ready.notify()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self.path, file = self._opener(self.path)
        except OSError as error:
            self._failed(f"cannot create it: {error.strerror or error}")
            return
        with file:
            while True:
                with self._ready:
                    while not self._chunks and not self._closing:
                        self._ready.wait()
                    chunks, self._chunks = self._chunks, collections.deque()
                    closing = self._closing
                try:
                    for chunk in chunks:
                        file.write(chunk)
                        with self._ready:
                            self._waiting -= len(chunk)
                    file.flush()
                except OSError as error:
                    self._failed(f"cannot write it: {error.strerror or error}")
                    return
                if closing and not self._chunks:
                    return

    def _failed(self, message: str) -> None:
        with self._ready:
            self.error = message
            self._chunks.clear()
            self._waiting = 0


def _open_new(path: Path) -> tuple[Path, BinaryIO]:
    """``path`` created anew (mode 0600), or the first of ``stem-2.suffix``,
    ``stem-3.suffix``... that does not exist yet."""
    for number in range(1, 1000):
        candidate = path if number == 1 else path.with_stem(f"{path.stem}-{number}")
        try:
            descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        return candidate, os.fdopen(descriptor, "wb")
    raise FileExistsError(f"{path} and 998 more names like it exist")


class _Restart(enum.Enum):
    """Where a file that starts midway is: the session was not asked to restart its
    picture; was asked in the batch being tapped (the rest of it was built before); or
    was asked earlier, so what comes now decodes from scratch."""

    NONE = enum.auto()
    ASKED = enum.auto()
    DONE = enum.auto()


class SessionRecording:
    """One session's recording state: ``tap`` sees every message the session encodes;
    ``start`` and ``stop`` turn recording on and off (by configuration, or on demand)."""

    def __init__(
        self,
        settings: RecordingSettings,
        peer: str,
        conn: ServerConnection,
        name: str,
        restart_picture: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.peer = peer
        self.conn = conn
        self.name = name
        #: Asks the session to send its whole picture again, with fresh Tight streams.
        self.restart_picture = restart_picture
        self.spool: Spool | None = None
        self.active = False  # recording is on (a file is open, or waits for its start)
        self._pixels_sent = False  # some update carried pixels (the viewer holds a picture)
        self._continuous = False  # a Zlib, ZRLE or H.264 stream has started
        self._restart = _Restart.NONE
        self._format: PixelFormat | None = None  # the open file's
        self._started_at = 0.0  # trio.current_time() at the open file's start

    @property
    def path(self) -> Path | None:
        """The file being written (None while waiting for the picture to start it with)."""
        return self.spool.path if self.spool is not None else None

    def start(self) -> None:
        """Record from the next whole picture on. RecordingError when there is no
        directory, or when the viewer's updates use a stream a file cannot join midway."""
        directory = self.settings.directory
        if directory is None:
            raise RecordingError("recording.directory is not set")
        if self._continuous:
            raise RecordingError(
                "this viewer's encoding (Zlib, ZRLE or H.264) keeps one stream for the whole "
                'connection: only a recording that starts with the session (sessions = "all") '
                "can decode it"
            )
        if not self.active:
            self.active = True
            log.info("%s: recording into %s", self.peer, directory)

    def stop(self, reason: str = "") -> None:
        """Stop recording (the file keeps what was recorded)."""
        if self.spool is not None:
            self.spool.close()
            log.info(
                "%s: recording %s ended%s",
                self.peer,
                self.spool.path,
                f": {reason}" if reason else "",
            )
            self.spool = None
        self.active = False

    def tap(self, events: Sequence[Event], encoded: Sequence[bytes]) -> None:
        """Messages on their way to the viewer with their bytes, as the channel encodes them
        together: at most one update, built after everything in the batches before."""
        if self._restart is _Restart.ASKED:
            self._restart = _Restart.DONE  # this batch was built after the request
        for event, data in zip(events, encoded, strict=True):
            if isinstance(event, RECORDED):
                self._take(event, data)

    def _take(self, event: Event, data: bytes) -> None:
        carries_pixels = isinstance(event, SetColourMapEntries) or (
            isinstance(event, FramebufferUpdate) and _has_pixels(event)
        )
        if carries_pixels and self.active and self.spool is None:
            self._begin()
        elif carries_pixels and self.spool is not None and self.conn.pixel_format != self._format:
            # The file's ServerInit names one pixel format: the rest goes into a new file.
            self.stop("the viewer changed its pixel format")
            if self._continuous:
                log.info("%s: recording stopped: a new file could not decode its stream", self.peer)
            else:
                self.active = True
                self._begin()  # asks for a new picture; this one is not recorded
        if isinstance(event, FramebufferUpdate):
            self._pixels_sent = self._pixels_sent or carries_pixels
            self._continuous = self._continuous or any(
                rectangle.encoding in CONTINUOUS for rectangle in event.rectangles
            )
        if self.spool is not None:
            self._write(data)

    def _begin(self) -> None:
        """Open a file if a fresh decoder can follow from this message on; else ask the
        session for a whole picture with fresh streams, and open it with the first batch
        built after that."""
        if self._restart is _Restart.ASKED:
            return
        if self._pixels_sent and self._restart is not _Restart.DONE:
            self._restart = _Restart.ASKED
            self.restart_picture()
            return
        self._restart = _Restart.NONE
        pixel_format = self.conn.pixel_format
        size = self.conn.framebuffer_size
        assert pixel_format is not None and size is not None  # after ServerInit
        directory = self.settings.directory
        assert directory is not None  # start() checked
        when = datetime.datetime.now()
        path = directory / file_name(self.settings.file_name, when, self.peer)
        self.spool = Spool(path, self.settings.max_buffer)
        self._format = pixel_format
        self._started_at = trio.current_time()
        init = ServerInit(*size, pixel_format, self.name)
        self.spool.put(HEADER)
        self._write(start_stream(init)[1])

    def _write(self, data: bytes) -> None:
        spool = self.spool
        assert spool is not None
        if spool.error is not None:
            self.stop(spool.error)
            return
        milliseconds = round((trio.current_time() - self._started_at) * 1000)
        if milliseconds > MAX_MILLISECONDS:
            self.stop("FBS counts time in 32 bits of milliseconds, which ran out")
            return
        if not spool.put(*block_parts(data, milliseconds)):
            waiting = spool.waiting
            self.stop(f"the disk did not keep up ({waiting >> 20} MiB waiting)")


def _has_pixels(update: FramebufferUpdate) -> bool:
    """Whether an update carries pixels (not only a new size, cursor or other news)."""
    return any(rectangle.encoding in _PIXEL_ENCODINGS for rectangle in update.rectangles)


#: Rectangles that draw pixels (CopyRect too); the others are pseudo-encodings.
_PIXEL_ENCODINGS = frozenset(ENCODERS) | {Encoding.COPY_RECT}
