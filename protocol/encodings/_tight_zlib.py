"""Tight's four zlib streams (rfbproto 7.7.6), one set per connection on each side.

The encoder never resets a stream for its own sake (a long-lived dictionary compresses best);
it resets one only to change that stream's level or strategy, which Python's zlib cannot do
in place, and tells the decoder with the compression-control byte's reset bits. An
*independent* set resets the stream for every rectangle instead: a little less compression,
but each rectangle then decodes without what came before, so one encoding can go to many
clients.
"""

from __future__ import annotations

import zlib

from .._errors import RemoteProtocolError

STREAMS = 4
#: A stream whose state on the client is unknown: its next use resets it.
_UNKNOWN = (None, -1, -1)


class DeflateStreams:
    """The encoder's side: each ``compress`` is one rectangle's data, sync-flushed so the
    decoder can inflate it completely before the next rectangle."""

    def __init__(self, independent: bool = False) -> None:
        self._streams: list[tuple[zlib._Compress | None, int, int] | None] = [None] * STREAMS
        self._independent = independent

    def forget_client(self) -> None:
        """The client's streams went through another encoder: reset each on its next use."""
        self._streams = [_UNKNOWN] * STREAMS

    def compress(
        self, stream: int, data: bytes | memoryview, level: int, strategy: int
    ) -> tuple[bytes, int]:
        """(compressed bytes, reset bits to send): the bit of ``stream`` when it had to be
        restarted with the new parameters."""
        if self._independent:
            compressor = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS, 9, strategy)
            return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH), 1 << stream
        current = self._streams[stream]
        resets = 0
        if current is None or current[1:] != (level, strategy):
            resets = 0 if current is None else 1 << stream  # _UNKNOWN resets too
            compressor = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS, 9, strategy)
            current = self._streams[stream] = (compressor, level, strategy)
        compressor = current[0]
        return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH), resets


class InflateStreams:
    """The decoder's side, bounded: a rectangle inflates to exactly the size its header
    implies, and never to more than that in memory (zlib bombs stop at the limit)."""

    def __init__(self) -> None:
        self._streams: list[zlib._Decompress | None] = [None] * STREAMS

    def reset(self, bits: int) -> None:
        for stream in range(STREAMS):
            if bits >> stream & 1:
                self._streams[stream] = None

    def inflate(self, stream: int, data: bytes, size: int) -> bytes:
        decompressor = self._streams[stream]
        if decompressor is None:
            decompressor = self._streams[stream] = zlib.decompressobj()
        try:
            out = decompressor.decompress(data, size)
            # What zlib held back must be stream bookkeeping (a sync flush's empty block):
            # a single byte more of output means the data was longer than the rectangle.
            extra = decompressor.decompress(decompressor.unconsumed_tail, 1)
        except zlib.error as error:
            raise RemoteProtocolError(f"Tight zlib stream {stream}: {error}") from error
        if extra or len(out) != size:
            raise RemoteProtocolError(
                f"Tight zlib stream {stream} inflated to {'more' if extra else len(out)} "
                f"bytes, not {size}"
            )
        return out
