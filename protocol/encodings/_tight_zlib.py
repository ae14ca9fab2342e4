"""Tight's four zlib streams (rfbproto 7.7.6), one set per connection on each side.

The encoder never resets a stream it has used for its own sake: a long-lived dictionary
compresses best, and noVNC's inflater (pako) goes wrong for good once a stream it was in the
middle of is reset (the next rectangle that continues a stream fails, see
tests/browser/test_tight_streams.py). A change of level or strategy therefore applies to
streams not used yet. An *independent* set resets the stream for every rectangle instead: a
little less compression, but each rectangle then decodes without what came before, so one
encoding can go to many clients, and no rectangle continues a stream.
"""

from __future__ import annotations

import zlib

from .._errors import RemoteProtocolError

STREAMS = 4


class DeflateStreams:
    """The encoder's side: each ``compress`` is one rectangle's data, sync-flushed so the
    decoder can inflate it completely before the next rectangle."""

    def __init__(self, independent: bool = False) -> None:
        self._compressors: list[zlib._Compress | None] = [None] * STREAMS
        self._independent = independent
        self._unknown = 0  # bits of the streams whose state on the client is unknown

    def forget_client(self) -> None:
        """The client's streams went through another encoder: reset each on its next use."""
        self._compressors = [None] * STREAMS
        self._unknown = (1 << STREAMS) - 1

    def compress(
        self, stream: int, data: bytes | memoryview, level: int, strategy: int
    ) -> tuple[bytes, int]:
        """(compressed bytes, reset bits to send): the bit of ``stream`` when the client's
        state of it is unknown (after ``forget_client``), and always when independent. The
        level and strategy are those of the stream's first use."""
        if self._independent:
            compressor = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS, 9, strategy)
            return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH), 1 << stream
        resets = self._unknown & 1 << stream
        compressor = self._compressors[stream]
        if compressor is None:
            compressor = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS, 9, strategy)
            self._compressors[stream] = compressor
            self._unknown &= ~resets
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
