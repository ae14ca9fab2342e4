"""FBS 001.000, the "framebuffer stream" file that rfbproxy, VNC Reflector and TightVNC's
RfbPlayer write and play: what a server sent a viewer, in timed blocks.

The file is the 12 bytes ``FBS 001.000\\n``, then blocks of: a U32 length, that many bytes of
the RFB stream, zero bytes up to a multiple of 4, and a U32 count of milliseconds since the
recording started (all big-endian). The stream inside is what a viewer reads from the server,
from the server's ProtocolVersion on; players expect the RFB 3.3 handshake without
authentication (``RFB 003.003\\n``, U32 security type 1), then ServerInit and the server's
messages (``start_stream``).

Sans-I/O like the rest of ``protocol``: ``block`` turns (bytes, milliseconds) into file
bytes, ``FbsReader`` is fed file bytes and hands out ``Block``s, checking every length.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterable, Iterator
from typing import Literal

import attrs

from ._connection import NEED_DATA, ServerConnection, _Sentinel
from ._events import ProtocolVersion, SecurityTypes, ServerInit
from .security import SecurityType

HEADER = b"FBS 001.000\n"
#: A block's U32 length and U32 timestamp.
_U32 = struct.Struct(">I")
#: The largest block a reader accepts by default: a raw 8192x8192 update at 32 bits a pixel
#: is 256 MiB, and no recorder writes more than one update in a block.
MAX_BLOCK = 256 << 20


class FbsError(ValueError):
    """The file is not an FBS 001.000 file or is damaged; the message says where."""


@attrs.frozen
class Block:
    """One block: bytes of the RFB stream and when (milliseconds after the start) they came."""

    data: bytes
    milliseconds: int


def block(data: bytes, milliseconds: int) -> bytes:
    """The file bytes of one block (padding before the timestamp, as rfbproxy writes it)."""
    return b"".join(block_parts(data, milliseconds))


def block_parts(data: bytes, milliseconds: int) -> tuple[bytes, bytes, bytes]:
    """``block`` in three pieces, around ``data`` itself, for writers that need not copy
    a big update into one string."""
    if not 0 <= milliseconds <= 0xFFFFFFFF:
        raise ValueError(f"timestamp {milliseconds} ms does not fit in 32 bits")
    padding = -len(data) % 4
    return _U32.pack(len(data)), data, bytes(padding) + _U32.pack(milliseconds)


def start_stream(init: ServerInit) -> tuple[ServerConnection, bytes]:
    """What an FBS player reads before the server's messages: the RFB 3.3 version, security
    type None (7.2.1: 3.3 names the type as a U32, with no SecurityResult) and ``init``;
    with a server connection past them, to encode the messages of a recording of one's own."""
    conn = ServerConnection()
    data = conn.send(ProtocolVersion(3, 3))
    conn.receive_data(b"RFB 003.003\n")
    conn.next_event()
    data += conn.send(SecurityTypes((SecurityType.NONE,)))
    conn.receive_data(b"\x01")  # a shared ClientInit
    conn.next_event()
    return conn, data + conn.send(init)


class FbsReader:
    """Blocks from the bytes of an FBS file, fed in pieces of any size.

    ``next_block()`` returns the next whole ``Block`` or ``NEED_DATA``; ``receive_data(b"")``
    says the file ended, after which a partial block is an error. Lengths beyond
    ``max_block`` and timestamps that go back in time are errors too (a damaged file), each
    naming the block and its offset in the file."""

    def __init__(self, max_block: int = MAX_BLOCK) -> None:
        self._max_block = max_block
        self._buffer = bytearray()
        self._offset = 0  # of the buffer's first byte in the file
        self._header_seen = False
        self._ended = False
        self._blocks = 0
        self._last_milliseconds = 0

    def receive_data(self, data: bytes) -> None:
        if not data:
            self._ended = True
        else:
            self._buffer += data

    def next_block(self) -> Block | Literal[_Sentinel.NEED_DATA] | None:
        """The next block; ``NEED_DATA``; or None at a clean end of the file."""
        if not self._header_seen:
            if len(self._buffer) < len(HEADER):
                return self._short(len(HEADER), "the file header")
            if bytes(self._buffer[: len(HEADER)]) != HEADER:
                raise FbsError(
                    f"not an FBS 001.000 file: it starts with {bytes(self._buffer[:12])!r}, "
                    f"not {HEADER!r}"
                )
            self._take(len(HEADER))
            self._header_seen = True
        where = f"block {self._blocks + 1} at byte {self._offset}"
        if len(self._buffer) < 4:
            if self._ended and not self._buffer:
                return None
            return self._short(4, f"{where}: its length")
        (length,) = _U32.unpack_from(self._buffer)
        if length > self._max_block:
            raise FbsError(f"{where}: length {length} is over the limit of {self._max_block}")
        size = 4 + length + -length % 4 + 4
        if len(self._buffer) < size:
            return self._short(size, f"{where}: {length} bytes of data and its timestamp")
        (milliseconds,) = _U32.unpack_from(self._buffer, size - 4)
        if milliseconds < self._last_milliseconds:
            raise FbsError(
                f"{where}: timestamp {milliseconds} ms is before the previous block's "
                f"{self._last_milliseconds} ms"
            )
        data = bytes(self._buffer[4 : 4 + length])
        self._take(size)
        self._blocks += 1
        self._last_milliseconds = milliseconds
        return Block(data, milliseconds)

    def _short(self, size: int, what: str) -> Literal[_Sentinel.NEED_DATA]:
        if self._ended:
            raise FbsError(
                f"truncated: {what} needs {size} bytes, the file ends after {len(self._buffer)}"
            )
        return NEED_DATA

    def _take(self, size: int) -> None:
        del self._buffer[:size]
        self._offset += size


def read_blocks(chunks: Iterable[bytes], max_block: int = MAX_BLOCK) -> Iterator[Block]:
    """Every block of a file given as pieces of its bytes (e.g. reads of an open file)."""
    reader = FbsReader(max_block)
    for chunk in itertools.chain((chunk for chunk in chunks if chunk), [b""]):
        reader.receive_data(chunk)
        while (found := reader.next_block()) is not NEED_DATA:
            if found is None:
                return
            yield found
