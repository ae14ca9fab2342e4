"""Playing an FBS recording (``protocol.fbs``): decoded with ``protocol``'s client role into
frames, which ``vncd replay`` serves through the normal pipeline (``vncd.sources.replay``) or
writes out as PNG files.

The recording is read a block at a time, so a long one never sits in memory whole. The
handshake at its start is answered as a viewer would (the file holds only the server's half):
the version the server named, security type None or VNC authentication (any response: the
server's verdict is in the file), a shared ClientInit.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import attrs
import numpy as np
from PIL import Image

from protocol import (
    NEED_DATA,
    ClientConnection,
    ClientInit,
    ConnectionClosed,
    Event,
    Framebuffer,
    FramebufferUpdate,
    HandshakeFailed,
    Phase,
    ProtocolError,
    ProtocolVersion,
    Rectangle,
    SecurityResult,
    SecurityTypeChosen,
    SecurityTypes,
    ServerInit,
    SetColourMapEntries,
    VncAuthChallenge,
    VncAuthResponse,
)
from protocol.encodings import Encoding
from protocol.fbs import Block, FbsError, read_blocks
from protocol.security import SecurityType

from .region import Box

#: Bytes read from the file at a time.
READ_CHUNK = 1 << 20
#: The largest picture a recording may have, each side (vncd's own desktops stop at 8192):
#: a damaged or hostile file must not make us allocate gigabytes.
MAX_SIDE = 8192
#: The rectangles that resize the picture (rfbproto 7.8.2, 7.8.3): their size is the new one.
_RESIZES = (Encoding.DESKTOP_SIZE, Encoding.EXTENDED_DESKTOP_SIZE)


class ReplayError(Exception):
    """The recording cannot be played (not FBS, damaged, or an RFB stream that does not
    decode); the message names the file and what is wrong."""


@attrs.frozen
class Change:
    """What one message of the recording changed, and when (milliseconds after its start)."""

    milliseconds: int
    boxes: list[Box]


@attrs.frozen
class Message:
    """A message that changes the picture, read but not decoded yet, and its time."""

    milliseconds: int
    event: FramebufferUpdate | SetColourMapEntries


class Playback:
    """A recording being decoded: ``framebuffer`` holds the picture so far, ``next_change``
    decodes up to the next update. Not thread-safe: one caller at a time."""

    def __init__(self, file: BinaryIO, origin: str) -> None:
        self.origin = origin
        self._file = file
        self._blocks: Iterator[Block] = read_blocks(
            iter(functools.partial(file.read, READ_CHUNK), b"")
        )
        self._ended = False  # the file's last block has been fed
        self.conn = ClientConnection()
        self.milliseconds = 0  # the time of the last block read
        init = self._handshake()
        self._check_size(init.width, init.height)
        self.name = init.name
        self.framebuffer = Framebuffer.blank(init.width, init.height)

    @classmethod
    def open(cls, path: Path) -> Playback:
        """The recording at ``path`` (ReplayError if it cannot be read or starts wrong)."""
        try:
            file = path.open("rb")
        except OSError as error:
            raise ReplayError(f"{path}: cannot read it: {error.strerror or error}") from None
        try:
            return cls(file, str(path))
        except ReplayError:
            file.close()
            raise

    @property
    def size(self) -> tuple[int, int]:
        return self.framebuffer.width, self.framebuffer.height

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Playback:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def next_message(self) -> Message | None:
        """Read (not decode) up to the next message that changes the picture; None at the
        end of the recording."""
        while (event := self._next_event()) is not None:
            if isinstance(event, FramebufferUpdate | SetColourMapEntries):
                return Message(self.milliseconds, event)
        return None

    def apply(self, message: Message) -> list[Box]:
        """Decode ``message`` into ``framebuffer``; returns the boxes it changed."""
        event = message.event
        whole = Box(0, 0, *self.size)
        try:
            if isinstance(event, SetColourMapEntries):
                self.framebuffer.set_colour_map_entries(event.first_colour, event.colours)
                return [whole]
            for rectangle in event.rectangles:
                if rectangle.encoding in _RESIZES:
                    self._check_size(rectangle.width, rectangle.height)
            self.conn.apply_update(event, self.framebuffer)
        except ProtocolError as error:
            raise self._error(error) from None
        if self.size != whole.size:
            return [Box(0, 0, *self.size)]
        boxes = [_box(rectangle).intersect(whole) for rectangle in event.rectangles]
        return [box for box in boxes if not box.empty]

    def next_change(self) -> Change | None:
        """Decode up to the next message that changes the picture; None at the end."""
        message = self.next_message()
        if message is None:
            return None
        return Change(message.milliseconds, self.apply(message))

    def _handshake(self) -> ServerInit:
        """Answer the server's half of the handshake (rfbproto 7.1-7.3) up to ServerInit."""
        version = self._next_event()
        if not isinstance(version, ProtocolVersion):
            raise self._error("the RFB stream does not start with the server's version")
        self._send(ProtocolVersion(version.major, version.minor))
        while True:
            event = self._next_event()
            if isinstance(event, ServerInit):
                return event
            if isinstance(event, HandshakeFailed):
                raise self._error(f"the recorded server refused the viewer: {event.reason}")
            if isinstance(event, SecurityResult) and not event.ok:
                raise self._error("the recorded viewer failed to authenticate")
            if isinstance(event, SecurityTypes) and self.conn.phase is Phase.SECURITY_TYPE_CHOICE:
                known = [t for t in (SecurityType.NONE, SecurityType.VNC_AUTH) if t in event.types]
                if not known:
                    raise self._error(
                        f"security types {list(event.types)}: only None and VNC "
                        "authentication can be replayed"
                    )
                self._send(SecurityTypeChosen(known[0]))
            elif isinstance(event, VncAuthChallenge):
                self._send(VncAuthResponse(bytes(16)))
            elif event is None:
                raise self._error("the recording ends before ServerInit")
            if self.conn.phase is Phase.CLIENT_INIT:
                self._send(ClientInit(shared=True))

    def _check_size(self, width: int, height: int) -> None:
        if width > MAX_SIDE or height > MAX_SIDE:
            raise self._error(f"a {width}x{height} picture is over the {MAX_SIDE} pixels a side")

    def _send(self, event: Event) -> None:
        try:
            self.conn.send(event)
        except ProtocolError as error:
            raise self._error(error) from None

    def _next_event(self) -> Event | None:
        """The next message of the stream (None at its end), feeding blocks as needed."""
        try:
            while (event := self.conn.next_event()) is NEED_DATA:
                found = next(self._blocks, None)
                if found is None:
                    self._ended = True
                    self.conn.receive_data(b"")
                else:
                    self.milliseconds = found.milliseconds
                    self.conn.receive_data(found.data)
        except FbsError as error:
            raise self._error(error) from None
        except ProtocolError as error:
            # The connection's "closed in the middle of a message", said of a file.
            raise self._error(
                "truncated: the recording ends inside a message" if self._ended else error
            ) from None
        return None if isinstance(event, ConnectionClosed) else event

    def _error(self, what: object) -> ReplayError:
        return ReplayError(f"{self.origin}: {what}")


def _box(rectangle: Rectangle) -> Box:
    return Box(rectangle.x, rectangle.y, rectangle.width, rectangle.height)


def export_png(playback: Playback, directory: Path, every_ms: int = 0) -> list[Path]:
    """Write the picture after each update as ``directory/MILLISECONDS.png`` (at most one per
    ``every_ms`` of recording time, and always the last picture); returns the files."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    last_written = -1  # the time of the last file written; -1: none yet
    pending: int | None = None  # the time of a picture not written yet
    while (change := playback.next_change()) is not None:
        pending = change.milliseconds
        if last_written < 0 or pending - last_written >= every_ms:
            _add(written, write_png(playback.framebuffer.pixels, directory, pending))
            last_written, pending = pending, None
    if pending is not None:
        _add(written, write_png(playback.framebuffer.pixels, directory, pending))
    return written


def _add(written: list[Path], path: Path) -> None:
    """A later picture of the same millisecond replaced the file."""
    if not written or written[-1] != path:
        written.append(path)


def write_png(pixels: np.ndarray, directory: Path, milliseconds: int) -> Path:
    """One BGRX picture as RGB PNG, named by its time (zero-padded, so names sort by time)."""
    path = directory / f"{milliseconds:09d}.png"
    Image.fromarray(np.ascontiguousarray(pixels[:, :, 2::-1])).save(path)
    return path
