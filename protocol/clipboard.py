"""The Extended Clipboard (rfbproto 'Extended Clipboard Pseudo-Encoding'): its flags, the codec
of the data after a cut text message's negative length, and the text format's conversions.

Once the client has advertised the pseudo-encoding, ``ClientCutText``/``ServerCutText`` with a
negative length carry ``abs(length)`` bytes: a U32 flags word (format bits 0-15, action bits
24-31), then what the action needs. The connection tracks the advertisement (``State``) and
parses both directions into the events re-exported here.

Provide data is one zlib stream (a fresh one per message) of U32 size + data per format, in
bit order. A few KB of zlib can claim gigabytes, so it is inflated only as far as the items
announce and never beyond ``max_inflated`` bytes in all; past that the message becomes
``ClipboardDropped``, as rfbproto lets a receiver ignore what it cannot hold.
"""

from __future__ import annotations

import enum
import struct
import zlib

from ._errors import RemoteProtocolError
from ._events import (
    ClipboardCaps,
    ClipboardDropped,
    ClipboardNotify,
    ClipboardPeek,
    ClipboardProvide,
    ClipboardRequest,
    Event,
)

__all__ = [
    "EVENTS",
    "ClipboardAction",
    "ClipboardCaps",
    "ClipboardDropped",
    "ClipboardFormat",
    "ClipboardNotify",
    "ClipboardPeek",
    "ClipboardProvide",
    "ClipboardRequest",
    "body_size",
    "dropped",
    "pack",
    "provide_text",
    "provided_text",
    "text_from_wire",
    "text_to_wire",
    "unpack",
]

#: Every event the extended cut text messages carry, in either direction.
EVENTS = (
    ClipboardCaps,
    ClipboardRequest,
    ClipboardPeek,
    ClipboardNotify,
    ClipboardProvide,
    ClipboardDropped,
)

_U32 = struct.Struct(">I")
_ACTION_BITS = 0xFF000000


class ClipboardFormat(enum.IntFlag):
    """Flags bits 0-15 (5-15 are reserved for future formats)."""

    TEXT = 1 << 0  # UTF-8, CRLF line ends, NUL-terminated
    RTF = 1 << 1
    HTML = 1 << 2  # Microsoft HTML clipboard fragments
    DIB = 1 << 3  # Device Independent Bitmap v5, without a file header
    FILES = 1 << 4  # reserved, not defined


_KNOWN_FORMAT_BITS = int(
    ClipboardFormat.TEXT
    | ClipboardFormat.RTF
    | ClipboardFormat.HTML
    | ClipboardFormat.DIB
    | ClipboardFormat.FILES
)


class ClipboardAction(enum.IntFlag):
    """Flags bits 24-31 (29-31 are reserved for future actions)."""

    CAPS = 1 << 24
    REQUEST = 1 << 25
    PEEK = 1 << 26
    NOTIFY = 1 << 27
    PROVIDE = 1 << 28


_SINGLE_ACTIONS = (
    ClipboardAction.REQUEST,
    ClipboardAction.PEEK,
    ClipboardAction.NOTIFY,
    ClipboardAction.PROVIDE,
)


# --- The text format -------------------------------------------------------------------------


def text_to_wire(text: str) -> bytes:
    """Text as the text format carries it: every line end (LF, CR or CRLF, as noVNC and
    TigerVNC accept them from their users) as CRLF, UTF-8, then the terminating NUL."""
    unified = text.replace("\r\n", "\n").replace("\r", "\n")
    return unified.replace("\n", "\r\n").encode("utf-8") + b"\0"


def text_from_wire(data: bytes) -> str:
    """The text of the text format: up to the NUL (TigerVNC reads it as a C string), lines
    ending in LF; bad UTF-8 is replaced rather than refused, like every string we read."""
    text = data.split(b"\0", 1)[0].decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n")


def provide_text(text: str) -> ClipboardProvide:
    """The Provide of a clipboard holding only text."""
    return ClipboardProvide({ClipboardFormat.TEXT: text_to_wire(text)})


def provided_text(event: ClipboardProvide) -> str | None:
    """The text a Provide carries, None if it carries none."""
    data = dict(event.data).get(ClipboardFormat.TEXT)
    return None if data is None else text_from_wire(data)


# --- Flags -------------------------------------------------------------------------------


def _formats_in(flags: int) -> list[ClipboardFormat]:
    return [ClipboardFormat(1 << bit) for bit in range(16) if flags >> bit & 1]


def _action(flags: int) -> ClipboardAction:
    """The action a received flags word names: caps (with any other action bits, the ones it
    accepts) or exactly one other; anything else is RemoteProtocolError, as in noVNC and
    TigerVNC, since the message's layout depends on it."""
    if flags & ClipboardAction.CAPS:
        return ClipboardAction.CAPS
    actions = flags & _ACTION_BITS
    if actions not in _SINGLE_ACTIONS:
        raise RemoteProtocolError(f"extended clipboard flags {flags:#010x} name no single action")
    return ClipboardAction(actions)


def body_size(flags: int) -> int | None:
    """How many bytes follow the flags: a U32 size per format for caps, none for request,
    peek and notify, and for provide whatever the message length says (None)."""
    kind = _action(flags)
    if kind is ClipboardAction.CAPS:
        return _U32.size * len(_formats_in(flags))
    return None if kind is ClipboardAction.PROVIDE else 0


# --- Events to bytes ---------------------------------------------------------------------


def _bits(table: tuple[tuple[int, object], ...]) -> int:
    flags = 0
    for format_bit, _ in table:
        flags |= format_bit
    return flags


def _deflate(data: bytes) -> bytes:
    # A fresh stream each message, sync-flushed and not finished: what TigerVNC's
    # ZlibOutStream and noVNC's Deflator send (their inflaters take a finished one as well).
    compressor = zlib.compressobj()
    return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


def pack(event: Event) -> bytes:
    """The flags word and data of an extended cut text message (what follows its length)."""
    match event:
        case ClipboardCaps(sizes=sizes, actions=actions):
            flags = ClipboardAction.CAPS | actions | _bits(sizes)
            return _U32.pack(flags) + b"".join(_U32.pack(size) for _, size in sizes)
        case ClipboardRequest(formats=formats):
            return _U32.pack(ClipboardAction.REQUEST | formats)
        case ClipboardPeek():
            return _U32.pack(ClipboardAction.PEEK)
        case ClipboardNotify(formats=formats):
            return _U32.pack(ClipboardAction.NOTIFY | formats)
        case ClipboardProvide(data=data):
            items = b"".join(_U32.pack(len(item)) + item for _, item in data)
            return _U32.pack(ClipboardAction.PROVIDE | _bits(data)) + _deflate(items)
    raise ValueError(f"{type(event).__name__} has no wire form: only a receiver reports it")


# --- Bytes to events ---------------------------------------------------------------------


class _OverBudget(Exception):
    """The items announce more inflated bytes than the receiver takes."""


class _Inflater:
    """Inflates exactly the bytes asked for, and no more than ``budget`` in all."""

    def __init__(self, data: bytes, budget: int) -> None:
        self._zlib = zlib.decompressobj()
        self._pending = data
        self._budget = budget

    def take(self, count: int) -> bytes:
        if count > self._budget:
            raise _OverBudget
        self._budget -= count
        parts = []
        while count:
            try:
                chunk = self._zlib.decompress(self._pending, count)
            except zlib.error as error:
                raise RemoteProtocolError(f"bad extended clipboard zlib data: {error}") from None
            if not chunk:
                raise RemoteProtocolError("extended clipboard zlib data ends inside its items")
            self._pending = self._zlib.unconsumed_tail
            parts.append(chunk)
            count -= len(chunk)
        return b"".join(parts)


def _known_formats(flags: int) -> ClipboardFormat:
    """The defined formats among ``flags``' format bits. Reserved bits are left out: each
    distinct combination would become a flag member that the enum keeps for good, so a peer
    sending many could grow the process's memory."""
    return ClipboardFormat(flags & _KNOWN_FORMAT_BITS)


def dropped(flags: int, size: int) -> ClipboardDropped:
    """What a Provide of ``size`` bytes of zlib data that is too large to hold becomes."""
    return ClipboardDropped(_known_formats(flags), size)


def _unpack_provide(flags: int, body: bytes, max_inflated: int) -> Event:
    # Compressed bytes after the last item (a sync flush marker, a stream end) are left
    # alone, as TigerVNC and noVNC do: inflating them would only cost time.
    inflater = _Inflater(body, max_inflated)
    data = {}
    try:
        for format_bit in _formats_in(flags):
            (size,) = _U32.unpack(inflater.take(_U32.size))
            data[format_bit] = inflater.take(size)
    except _OverBudget:
        return dropped(flags, len(body))
    return ClipboardProvide(data)


def unpack(flags: int, body: bytes, max_inflated: int) -> Event:
    """The event of a received message whose flags passed ``body_size`` and whose ``body``
    has the size it asked for."""
    kind = _action(flags)
    formats = _known_formats(flags)
    if kind is ClipboardAction.CAPS:
        sizes = [size for (size,) in _U32.iter_unpack(body)]
        actions = ClipboardAction(flags & _ACTION_BITS & ~int(ClipboardAction.CAPS))
        return ClipboardCaps(dict(zip(_formats_in(flags), sizes, strict=True)), actions)
    if kind is ClipboardAction.PROVIDE:
        return _unpack_provide(flags, body, max_inflated)
    if kind is ClipboardAction.PEEK:
        return ClipboardPeek()  # format bits, if any, mean nothing here
    cls = ClipboardRequest if kind is ClipboardAction.REQUEST else ClipboardNotify
    return cls(formats)
