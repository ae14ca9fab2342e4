"""What Zlib (rfbproto 7.7.5) and ZRLE (7.7.8) share: one deflate stream per connection, and
a payload that is a U32 length followed by that many bytes of it.

Python cannot change a stream's level in place (zlib's deflateParams, which TigerVNC calls
after a sync flush, is not exposed). Every rectangle ends on a sync flush, so the stream is at
a byte boundary between rectangles: a new level continues the same stream with a raw deflater
primed with the last 32 KiB the client inflated. The client's inflater sees one unbroken
deflate stream whose back references all land in its window (the Adler-32 trailer would not
match, but an RFB stream never ends, so nobody checks it).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Generator

from .._errors import RemoteProtocolError
from ._base import read_bytes

LENGTH = struct.Struct(">I")
_WINDOW = 1 << 15  # deflate's window: how far back the client's inflater can look


class SyncDeflater:
    """The encoder's side: each ``compress`` is one rectangle, sync-flushed so the client
    can inflate all of it on arrival."""

    def __init__(self) -> None:
        self._compressor: zlib._Compress | None = None
        self._level: int | None = None
        self._window = b""

    def compress(self, data: bytes, level: int) -> bytes:
        if self._compressor is None:
            self._compressor = zlib.compressobj(level)
        elif level != self._level:
            self._compressor = zlib.compressobj(
                level, zlib.DEFLATED, -zlib.MAX_WBITS, zdict=self._window
            )
        self._level = level
        self._window = (self._window + data[-_WINDOW:])[-_WINDOW:]
        return self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)


def read_sized(name: str, limit: int) -> Generator[int, bytes, bytes]:
    """A reader for a U32 length and that many bytes; a length over ``limit`` is refused
    before the body is awaited."""
    header = yield LENGTH.size
    (length,) = LENGTH.unpack(header)
    if length > limit:
        raise RemoteProtocolError(f"{name} length {length} is more than the {limit} allowed")
    return header + (yield from read_bytes(length))


def sized_body(payload: bytes, name: str) -> memoryview:
    """The zlib data of a complete payload, checked against its U32 length."""
    if len(payload) < LENGTH.size or LENGTH.unpack_from(payload)[0] != len(payload) - 4:
        raise RemoteProtocolError(f"{name} payload is not a U32 length and that many bytes")
    return memoryview(payload)[LENGTH.size :]


def inflate_at_most(inflater: zlib._Decompress, data: bytes, limit: int, name: str) -> bytes:
    """Inflate one rectangle's data, never holding more than ``limit`` + 1 bytes (a zlib bomb
    stops there: more than ``limit`` is an error); the stream must not end."""
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as error:
        raise RemoteProtocolError(f"{name} zlib stream: {error}") from error
    if len(out) > limit:
        raise RemoteProtocolError(f"{name} zlib data inflates to more than {limit} bytes")
    if inflater.eof:
        raise RemoteProtocolError(f"{name} zlib stream ended; it lasts the whole connection")
    return out
