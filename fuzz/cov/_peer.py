"""What the two connection targets share: a connection fed the fuzzer's bytes that hands
them to a security handler while one runs, and decrypts them after RA2's handshake; and
``converse``, which plays the two harness peers against each other to record real traffic
for the seeds."""

from __future__ import annotations

from protocol import (
    NEED_DATA,
    ClientConnection,
    ConnectionClosed,
    Event,
    Phase,
    ServerConnection,
)
from protocol.security.rsaaes import AesEaxFraming

from ._handlers import Side, make_side

#: Small limits, so that what the fuzzer can make a connection hold stays small.
LIMITS = {"max_cut_text": 64 << 10, "max_clipboard": 256 << 10, "max_encodings": 512}


class Peer:
    """One connection and the side of the conversation the target plays; a subclass answers
    each event (``answer``) and speaks when it is its turn (``speak``). What it sends
    collects in ``outbox`` (the targets drop it; ``converse`` delivers it)."""

    conn: ServerConnection | ClientConnection

    def __init__(self, choice: int) -> None:
        self.choice = choice
        self.side: Side | None = None
        #: The security type chosen (the server learns it from the client).
        self.security_type = 0
        #: RA2's session encryption once its handshake is done.
        self.framing: AesEaxFraming | None = None
        self.over = False
        self.outbox = bytearray()

    def send(self, event: Event) -> None:
        self._emit(self.conn.send(event))

    def _emit(self, data: bytes) -> None:
        if self.framing is not None and data:
            data = self.framing.seal(data)
        self.outbox += data

    def receive(self, data: bytes) -> None:
        """Bytes from the network (``b""``: the peer closed)."""
        if self.over:
            return
        if self.side is not None:
            self._to_handler(data)
            return
        if self.framing is not None and data:
            data = self.framing.open(data)
            if not data:
                return
        self.conn.receive_data(data)
        self.pump()

    def pump(self) -> None:
        """Take every complete event, answering each and speaking whenever it is our turn."""
        self.speak()
        while not self.over and self.side is None:
            if self.conn.phase is Phase.SECURITY_HANDLER:
                self._start_handler()
                return
            event = self.conn.next_event()
            if event is NEED_DATA:
                return
            if isinstance(event, ConnectionClosed):
                self.over = True
                return
            self.answer(event)
            self.speak()

    def _start_handler(self) -> None:
        self.side = make_side(self.security_type, self.conn.role, self.choice, self.choice)
        self.outbox += self.side.start()
        data = self.conn.hand_over()
        if data:
            self.outbox += self.side.receive(data)
        self._settle()

    def _to_handler(self, data: bytes) -> None:
        assert self.side is not None
        if not data:  # the peer hung up while the handler ran
            self.over = True
            return
        self.outbox += self.side.receive(data)
        self._settle()

    def _settle(self) -> None:
        """Once the handler is done, give the connection back what follows it."""
        side = self.side
        assert side is not None
        if side.closed:
            self.over = True
        elif side.done:
            self.side = None
            self.framing = side.framing
            trailing = side.trailing()
            if self.framing is not None:
                trailing = self.framing.open(trailing)
            self.handled(side)
            like_none = getattr(side, "like_none", False)
            self.conn.security_handled(trailing, like_none=like_none)
            self.pump()

    def handled(self, side: Side) -> None:
        """The handler finished: note what it decided (the server: the SecurityResult)."""

    def answer(self, event: Event) -> None:
        raise NotImplementedError

    def speak(self) -> None:
        raise NotImplementedError


def converse(server: Peer, client: Peer, rounds: int = 64) -> tuple[bytes, bytes]:
    """Deliver each peer's outbox to the other until both are quiet: (everything the client
    sent, everything the server sent), the seeds of the server and the client target."""
    sent = {server: bytearray(), client: bytearray()}
    server.pump()
    client.pump()
    for _ in range(rounds):
        quiet = True
        for sender, receiver in ((server, client), (client, server)):
            data = bytes(sender.outbox)
            sender.outbox.clear()
            if data:
                quiet = False
                sent[sender] += data
                receiver.receive(data)
        if quiet:
            break
    return bytes(sent[client]), bytes(sent[server])
