"""What every hostile test uses: a served desktop that changes 20 times a second, a
well-behaved viewer that measures the gaps between its updates, raw sockets for the abuse,
and the server's memory.

A test runs its abuse inside ``served.watched()``: the watcher keeps asking for incremental
updates of the animated box throughout, and on leaving the block the longest gap between two
updates must be under ``GAP_LIMIT``, vncd must still run and its RSS must not have grown by
more than ``RSS_GROWTH_LIMIT``.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import attrs

from protocol import (
    NEED_DATA,
    ClientConnection,
    ClientInit,
    Event,
    FramebufferUpdate,
    FramebufferUpdateRequest,
    ProtocolVersion,
    Role,
    SecurityResult,
    SecurityTypeChosen,
    SecurityTypes,
    ServerInit,
    SetEncodings,
    VncAuthChallenge,
    VncAuthResponse,
)
from protocol.security import SecurityType
from protocol.security.tight import (
    AuthCapabilities,
    AuthChosen,
    AuthType,
    PlainCredentials,
    Tight,
)
from protocol.security.vncauth import encrypt_challenge
from tests.interop.vncd_process import VncdProcess

PASSWORD = "secret"
#: A user of the users file, who logs in by name (Tight's login).
USER, USER_PASSWORD = "anne", "annes secret"
#: The longest time the well-behaved viewer may go without an update (the screen changes
#: every 50 ms).
GAP_LIMIT = 0.25
#: How much vncd's resident memory may grow during one abuse.
RSS_GROWTH_LIMIT = 64 << 20
RAW = 0


def rss_bytes(pid: int) -> int:
    """Resident memory of process ``pid`` (VmRSS in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    """A TCP connection to vncd from loopback address ``source`` (any 127.x.y.z works)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def send_quietly(sock: socket.socket, data: bytes) -> None:
    """Send what the server may stop reading halfway (it closes on the first bad byte)."""
    with contextlib.suppress(OSError):
        sock.sendall(data)


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes ``sock`` within ``seconds`` (what it sends is drained)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if not sock.recv(1 << 16):
                return True
        except TimeoutError:
            return False
        except ConnectionError:
            return True
    return False


class Client:
    """A client socket with a ``ClientConnection``, for scripted (ab)use."""

    def __init__(self, port: int, source: str = "127.0.0.1") -> None:
        self.sock = connect(port, source)
        self.conn = ClientConnection()

    def next_event(self) -> Event:
        while (event := self.conn.next_event()) is NEED_DATA:
            self.conn.receive_data(self.sock.recv(1 << 16))
        return event

    def send(self, *events: Event) -> None:
        self.sock.sendall(b"".join(self.conn.send(event) for event in events))

    def greeted(self) -> Client:
        """Past the server's ProtocolVersion."""
        assert isinstance(self.next_event(), ProtocolVersion)
        return self

    def authenticate(self, password: str = PASSWORD) -> SecurityResult | Event:
        """Version 3.8 and VNC authentication; the SecurityResult, or what came instead."""
        self.greeted().send(ProtocolVersion(3, 8))
        offer = self.next_event()
        if not isinstance(offer, SecurityTypes):
            return offer
        self.send(SecurityTypeChosen(2))
        challenge = self.next_event()
        assert isinstance(challenge, VncAuthChallenge), challenge
        self.send(VncAuthResponse(encrypt_challenge(challenge.challenge, password)))
        return self.next_event()

    def log_in(self, user: str, password: str) -> SecurityResult | Event:
        """Version 3.8 and Tight's login (a users file); the SecurityResult, or what came
        instead."""
        self.greeted().send(ProtocolVersion(3, 8))
        offer = self.next_event()
        if not isinstance(offer, SecurityTypes):
            return offer
        self.send(SecurityTypeChosen(SecurityType.TIGHT))
        tight = Tight(Role.CLIENT)
        tight.receive_data(self.conn.hand_over())
        while not isinstance(event := tight.next_event(), AuthCapabilities):
            if event is NEED_DATA:
                tight.receive_data(self.sock.recv(1 << 16))
        self.sock.sendall(tight.send(AuthChosen(AuthType.UNIX_LOGIN)))
        self.sock.sendall(tight.send(PlainCredentials(user, password)))
        self.conn.security_handled(tight.trailing_data())
        return self.next_event()

    def admitted(self, encodings: tuple[int, ...] = (RAW,)) -> ServerInit:
        """Through the whole handshake; SetEncodings sent."""
        result = self.authenticate()
        assert isinstance(result, SecurityResult) and result.ok, result
        self.send(ClientInit(shared=True))
        init = self.next_event()
        assert isinstance(init, ServerInit)
        self.send(SetEncodings(encodings))
        return init

    def close(self) -> None:
        self.sock.close()


class Watcher:
    """The well-behaved viewer: asks for incremental updates one after another in a thread
    of its own and notes when each arrives."""

    def __init__(self, port: int) -> None:
        self.client = Client(port)
        init = self.client.admitted()
        self.size = init.width, init.height
        self.arrivals: list[float] = []
        self.error: BaseException | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _request(self, incremental: bool) -> None:
        self.client.send(FramebufferUpdateRequest(incremental, 0, 0, *self.size))

    def _run(self) -> None:
        try:
            self._request(False)
            while not self._stopping.is_set():
                event = self.client.next_event()
                if isinstance(event, FramebufferUpdate):
                    self.arrivals.append(time.monotonic())
                    self._request(True)
        except BaseException as error:
            if not self._stopping.is_set():
                self.error = error

    def stop(self) -> float:
        """Stop watching; the longest gap between updates (or since the last one)."""
        stopped = time.monotonic()
        self._stopping.set()
        self.client.close()
        self._thread.join(5)
        assert self.error is None, f"the well-behaved viewer failed: {self.error!r}"
        times = [*self.arrivals, stopped]
        assert len(times) > 2, "the well-behaved viewer got no updates"
        return max(later - earlier for earlier, later in itertools.pairwise(times))


@attrs.define
class Served:
    """vncd serving an animated Xvfb desktop."""

    server: VncdProcess

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def pid(self) -> int:
        assert self.server.process is not None
        return self.server.process.pid

    def log(self) -> str:
        """What vncd has logged so far (at debug level)."""
        assert self.server.log_path is not None
        return self.server.log_path.read_text()

    @contextlib.contextmanager
    def watched(self) -> Iterator[None]:
        """Run the block's abuse while a well-behaved viewer watches; then check the gap,
        that vncd runs and its memory."""
        rss_before = rss_bytes(self.pid)
        watcher = Watcher(self.port)
        time.sleep(0.3)  # the watcher is receiving updates before the abuse starts
        try:
            yield
        finally:
            gap = watcher.stop()
        assert self.server.process is not None and self.server.process.poll() is None
        assert gap <= GAP_LIMIT, f"the well-behaved viewer waited {gap:.3f} s for an update"
        growth = rss_bytes(self.pid) - rss_before
        assert growth <= RSS_GROWTH_LIMIT, f"vncd's memory grew by {growth >> 20} MiB"
