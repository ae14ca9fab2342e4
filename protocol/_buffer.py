"""The receive buffer: bytes the peer sent that no reader has consumed yet.

It only ever holds what the peer actually sent; readers take exactly the counts they asked
for, so the buffer never grows on the peer's say-so (a length field) alone.
"""

from __future__ import annotations


class ReceiveBuffer:
    """A FIFO of bytes. ``bytearray`` deletes from the front in amortised O(1), so taking a
    small message off a large buffer does not copy the rest."""

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data = bytearray()

    def __len__(self) -> int:
        return len(self._data)

    def append(self, data: bytes) -> None:
        self._data += data

    def take(self, count: int) -> bytes:
        """Remove and return the first ``count`` bytes (the caller checked they are there)."""
        chunk = bytes(self._data[:count])
        del self._data[:count]
        return chunk
