"""One viewer's RFB connection over a Trio stream: events in, events out."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import trio

from protocol import NEED_DATA, Event, ServerConnection

RECEIVE_CHUNK = 65536


class Refused(Exception):
    """The viewer is turned away or dropped for what it did (bad password, too many viewers,
    an unexpected message...); the message says why, for the log."""


class Channel:
    """A ``ServerConnection`` driven over ``stream``: the reader calls ``next_event``, the
    writer (the only sender) ``send``; ``bytes_sent`` counts what went out, for flow control."""

    def __init__(self, stream: trio.abc.Stream, conn: ServerConnection) -> None:
        self.stream = stream
        self.conn = conn
        self.bytes_sent = 0
        #: Sees the messages encoded together, with their bytes (a recording: vncd.recording).
        self.tap: Callable[[Sequence[Event], Sequence[bytes]], None] | None = None

    async def next_event(self) -> Event:
        while True:
            event = self.conn.next_event()
            if event is not NEED_DATA:
                return event
            self.conn.receive_data(await self.stream.receive_some(RECEIVE_CHUNK))

    def encode(self, *events: Event) -> bytes:
        """The bytes for events, in order (the connection's state moves on at once)."""
        encoded = [self.conn.send(event) for event in events]
        if self.tap is not None:
            self.tap(events, encoded)
        return b"".join(encoded)

    async def write(self, data: bytes) -> None:
        await self.stream.send_all(data)
        self.bytes_sent += len(data)

    async def send(self, *events: Event) -> None:
        """Send events as one write."""
        await self.write(self.encode(*events))

    async def expect(self, kind: type[Event]) -> Event:
        event = await self.next_event()
        if not isinstance(event, kind):
            raise Refused(f"expected {kind.__name__}, got {type(event).__name__}")
        return event
