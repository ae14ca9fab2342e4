"""The security handlers on their own: VeNCrypt, Tight and the four RSA-AES types, each side
in turn under test. Either the fuzzer's bytes are the peer, or a real peer runs and the
fuzzer tampers with what travels between them: with the bytes on the wire, and for RSA-AES
with the plaintext inside AES-EAX before it is sealed, which is the only way past the
authentication tags to the parsers behind them (the key hash, the subtype, the credentials).
The RSA keys are fixed and the randomness seeded, so every input replays exactly."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import atheris

from protocol import Role
from protocol.security import SecurityType
from protocol.security.rsaaes import (
    ClientHandshake,
    Credentials,
    RsaAesType,
    ServerHandshake,
    Subtype,
)

from ._handlers import (
    CLIENT_KEY,
    PASSWORD,
    SERVER_KEY,
    USER,
    RsaAesSide,
    Side,
    make_side,
    seeded,
)
from ._harness import chunks, options, target

NUMBERS = (SecurityType.VENCRYPT, SecurityType.TIGHT, *RsaAesType)
#: Exchanges are short: a bound on round trips ends a pair that keeps talking.
MAX_ROUNDS = 16
Rewrite = Callable[[bytes], bytes]


class RewritingServer(ServerHandshake):
    """An RSA-AES server whose sealed messages the fuzzer may rewrite first."""

    def __init__(self, rewrite: Rewrite, *args: object) -> None:
        self._rewrite = rewrite
        super().__init__(*args)

    def _send_message(self, plaintext: bytes) -> None:
        super()._send_message(self._rewrite(plaintext))


class RewritingClient(ClientHandshake):
    """An RSA-AES client whose sealed messages the fuzzer may rewrite first."""

    def __init__(self, rewrite: Rewrite, *args: object) -> None:
        self._rewrite = rewrite
        super().__init__(*args)

    def _send_message(self, plaintext: bytes) -> None:
        super()._send_message(self._rewrite(plaintext))


def tamper(fdp: atheris.FuzzedDataProvider, data: bytes) -> bytes:
    """``data`` as the fuzzer lets it through: mostly whole, else with a byte flipped, cut
    short, replaced, or followed by more."""
    operation = fdp.ConsumeIntInRange(0, 7)
    if operation < 4 or not fdp.remaining_bytes():
        return data
    at = fdp.ConsumeIntInRange(0, 255) % (len(data) + 1)
    if operation == 4 and data:
        at = min(at, len(data) - 1)
        return data[:at] + bytes([data[at] ^ fdp.ConsumeIntInRange(1, 255)]) + data[at + 1 :]
    if operation == 5:
        return data[:at]
    more = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 255))
    return more if operation == 6 else data + more


def _sides(fdp: atheris.FuzzedDataProvider, number: int, choice: int) -> tuple[Side, Side]:
    """(server, client) for ``number``; RSA-AES sides rewrite their sealed plaintext."""
    if number not in set(RsaAesType):
        return make_side(number, Role.SERVER, choice, 0), make_side(number, Role.CLIENT, choice, 0)
    rewrite: Rewrite = lambda plaintext: tamper(fdp, plaintext)  # noqa: E731
    subtype = Subtype(1 + choice % 2)
    server = RewritingServer(rewrite, number, SERVER_KEY, seeded(3), subtype)
    credentials = Credentials(USER, PASSWORD)
    client = RewritingClient(rewrite, number, CLIENT_KEY, seeded(4), credentials)
    return RsaAesSide(server), RsaAesSide(client)


def _finish(side: Side, fdp: atheris.FuzzedDataProvider) -> None:
    """A finished side: its trailing bytes, and (RA2) the session's decryption of the rest."""
    side.trailing()
    if side.framing is not None:
        for piece in chunks(fdp):
            side.framing.open(piece)


@target
def test_one_input(fdp: atheris.FuzzedDataProvider) -> None:
    number = NUMBERS[fdp.ConsumeIntInRange(0, len(NUMBERS) - 1)]
    under_test = fdp.ConsumeIntInRange(0, 1)  # 0: the server, 1: the client
    choice = fdp.ConsumeIntInRange(0, 255)
    against_real_peer = fdp.ConsumeIntInRange(0, 1)
    server, client = _sides(fdp, number, choice)
    tested = server if under_test == 0 else client
    if not against_real_peer:
        tested.start()
        for piece in chunks(fdp):
            tested.receive(piece)
            if tested.done or tested.closed:
                break
        if tested.done:
            _finish(tested, fdp)
        return
    wire = {server: server.start(), client: client.start()}
    for _ in range(MAX_ROUNDS):
        for sender, receiver in ((server, client), (client, server)):
            data, wire[sender] = wire[sender], b""
            if data and not (receiver.done or receiver.closed):
                wire[receiver] += receiver.receive(tamper(fdp, data))
        if not (wire[server] or wire[client]):
            break
    if tested.done:
        _finish(tested, fdp)


def seeds() -> Iterator[bytes]:
    """For every type, side and a few choices: the peer's bytes of an untampered exchange
    (the raw mode), and an untampered exchange itself (the real-peer mode)."""
    for index, number in enumerate(NUMBERS):
        for under_test in (0, 1):
            for choice in (0, 1, 5, 9, 14, 27):
                yield options(index, under_test, choice, 1) + b""
                stream = _transcript(number, choice, sent_by=1 - under_test)
                yield stream + options(index, under_test, choice, 0, 0)


def _transcript(number: int, choice: int, sent_by: int) -> bytes:
    """What the server (``sent_by`` 0) or the client (1) sends in an untampered exchange."""
    fdp = atheris.FuzzedDataProvider(b"")
    server, client = _sides(fdp, number, choice)
    sent = bytearray()
    wire = {server: server.start(), client: client.start()}
    for _ in range(MAX_ROUNDS):
        for sender, receiver in ((server, client), (client, server)):
            data, wire[sender] = wire[sender], b""
            if data:
                if sender is (server, client)[sent_by]:
                    sent += data
                wire[receiver] += receiver.receive(data)
        if not (wire[server] or wire[client]):
            break
    return bytes(sent)
