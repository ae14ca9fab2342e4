"""A stream that first replays bytes already read from it (by detection or an HTTP parser)."""

from __future__ import annotations

import trio


class PrefixedStream(trio.abc.Stream):
    """``stream``, with ``prefix`` delivered before anything else it receives.

    Detection has to read the first bytes to know who should serve a connection; this gives
    them back, so the chosen protocol sees the connection from its first byte.
    """

    def __init__(self, stream: trio.abc.Stream, prefix: bytes) -> None:
        self.stream = stream
        self._prefix = memoryview(prefix)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if max_bytes is not None and max_bytes < 1:
            raise ValueError("max_bytes must be >= 1")
        if not self._prefix:
            return await self.stream.receive_some(max_bytes)
        await trio.lowlevel.checkpoint()
        size = len(self._prefix) if max_bytes is None else max_bytes
        chunk, self._prefix = self._prefix[:size], self._prefix[size:]
        return bytes(chunk)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        self._prefix = memoryview(b"")
        await self.stream.aclose()
