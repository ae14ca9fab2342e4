"""What vncd listens on: [[listen]] entries (TCP, UNIX sockets, sockets passed by systemd),
else the sockets systemd passed, else [server] host and port; each served with the mode
and TLS of its own, and a UNIX socket's file removed again when serving ends.

Socket activation follows sd_listen_fds(3): ``LISTEN_PID`` names the process the sockets
are for, ``LISTEN_FDS`` counts them from file descriptor 3 up, ``LISTEN_FDNAMES`` names
them (colon-separated; systemd says "unknown" for an unnamed one).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence

import attrs
import trio

from . import unix_sockets
from .config import ALL_INHERITED, Config, ConfigError, exposure_problem, host_and_port
from .transports import Transports, is_loopback

log = logging.getLogger(__name__)

#: Connections the kernel may queue before vncd accepts them (listen(2)'s backlog): a burst
#: of viewers is queued rather than refused while the slots sort them out.
LISTEN_BACKLOG = 1024
#: The first file descriptor systemd passes (SD_LISTEN_FDS_START).
FIRST_INHERITED_FD = 3
_ACTIVATION_VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")

#: Serves one accepted connection with its listener's transports.
Handler = Callable[[Transports, trio.SocketStream], Awaitable[None]]


@attrs.frozen
class Inherited:
    """A socket systemd passed: its file descriptor and its name."""

    fd: int
    name: str


def inherited_sockets(environ: Mapping[str, str] = os.environ) -> tuple[Inherited, ...]:
    """The sockets systemd passed to this process (none when ``LISTEN_PID`` names another:
    a child that inherited the variables must not take its parent's sockets)."""
    if environ.get("LISTEN_PID") != str(os.getpid()):
        return ()
    try:
        count = int(environ.get("LISTEN_FDS", ""))
    except ValueError:
        return ()
    names = environ.get("LISTEN_FDNAMES", "").split(":")
    return tuple(
        Inherited(FIRST_INHERITED_FD + index, (names[index:] or [""])[0] or "unknown")
        for index in range(count)
    )


def take_inherited(environ: MutableMapping[str, str] = os.environ) -> tuple[Inherited, ...]:
    """``inherited_sockets``, and the variables removed so that children (Xvfb, the session)
    neither see them nor inherit the descriptors."""
    found = inherited_sockets(environ)
    for name in _ACTIVATION_VARIABLES:
        environ.pop(name, None)
    for inherited in found:
        with contextlib.suppress(OSError):
            os.set_inheritable(inherited.fd, False)
    return found


# --- Endpoints: where to listen, resolved from the configuration -------------------------


@attrs.frozen
class TcpEndpoint:
    """A TCP address; a host name may give several sockets (IPv4 and IPv6)."""

    host: str
    port: int
    mode: str
    tls: bool
    #: The [[listen]] entry that asked for it, for errors; "" = [server] host and port.
    where: str = ""

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    async def open(self) -> list[trio.SocketListener]:
        return await trio.open_tcp_listeners(self.port, host=self.host, backlog=LISTEN_BACKLOG)

    def describe(self, listener: trio.SocketListener) -> str:
        host, port, *_ = listener.socket.getsockname()
        return f"{host} port {port} (VNC display :{port - 5900})"


@attrs.frozen
class UnixEndpoint:
    """A UNIX socket at ``path`` with permissions ``permissions``."""

    path: str
    permissions: int
    mode: str
    tls: bool
    where: str

    #: Browsers reach a UNIX socket only through a proxy, which names its own host.
    loopback = False

    async def open(self) -> list[trio.SocketListener]:
        sock = await trio.to_thread.run_sync(
            unix_sockets.bind, self.path, self.permissions, LISTEN_BACKLOG
        )
        return [trio.SocketListener(trio.socket.from_stdlib_socket(sock))]

    def describe(self, listener: trio.SocketListener) -> str:
        return f"UNIX socket {self.path} (permissions {self.permissions:04o})"


@attrs.frozen
class SystemdEndpoint:
    """A listening socket systemd passed (ListenStream=, Accept=no)."""

    fd: int
    name: str
    family: int
    address: str  # where it listens, as the log shows it
    mode: str
    tls: bool
    where: str
    loopback: bool

    async def open(self) -> list[trio.SocketListener]:
        sock = trio.socket.from_stdlib_socket(socket.socket(fileno=self.fd))
        sock.set_inheritable(False)
        return [trio.SocketListener(sock)]

    def describe(self, listener: trio.SocketListener) -> str:
        return f'systemd socket "{self.name}" ({self.address})'


Endpoint = TcpEndpoint | UnixEndpoint | SystemdEndpoint


def plan(config: Config, inherited: Sequence[Inherited]) -> tuple[Endpoint, ...]:
    """Where to listen: the [[listen]] entries; without them every socket systemd passed;
    without those [server] host and port. ConfigError lists every problem (a systemd name
    that was not passed, a passed socket that is not a listening stream, or one on a
    non-loopback address that needs a password)."""
    server = config.server
    if not config.listen:
        if not inherited:
            return (TcpEndpoint(server.host, server.port, server.mode, tls=True),)
        entries = [
            (f"systemd socket {_quoted(one.name)}", one, server.mode, True) for one in inherited
        ]
        return _systemd_endpoints(config, entries)
    endpoints: list[Endpoint] = []
    wanted: list[tuple[str, Inherited, str, bool]] = []
    problems: list[str] = []
    for index, entry in enumerate(config.listen):
        mode = entry.mode or server.mode
        if entry.tcp:
            host, port = host_and_port(entry.tcp)
            where = f"listen[{index}].tcp = {_quoted(entry.tcp)}"
            endpoints.append(TcpEndpoint(host, port, mode, entry.tls, where))
        elif entry.unix:
            where = f"listen[{index}].unix = {_quoted(entry.unix)}"
            permissions = int(entry.unix_mode, 8)
            endpoints.append(UnixEndpoint(entry.unix, permissions, mode, entry.tls, where))
        else:
            where = f"listen[{index}].systemd = {_quoted(entry.systemd)}"
            found = [one for one in inherited if entry.systemd in (ALL_INHERITED, one.name)]
            if not found:
                problems.append(f"{where}: systemd passed no such socket ({_passed(inherited)})")
            wanted += [(where, one, mode, entry.tls) for one in found]
    try:
        endpoints += _systemd_endpoints(config, wanted)
    except ConfigError as error:
        problems += error.problems
    if problems:
        raise ConfigError(problems)
    return tuple(endpoints)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _passed(inherited: Sequence[Inherited]) -> str:
    if not inherited:
        return "vncd was not started by socket activation: no LISTEN_FDS for it"
    return "it passed " + ", ".join(_quoted(one.name) for one in inherited)


def _systemd_endpoints(
    config: Config, wanted: Sequence[tuple[str, Inherited, str, bool]]
) -> tuple[SystemdEndpoint, ...]:
    endpoints, problems = [], []
    for where, inherited, mode, tls in wanted:
        try:
            family, kind, listening, address = _inspect(inherited.fd)
        except OSError as error:
            problems.append(f"{where}: file descriptor {inherited.fd}: {error.strerror}")
            continue
        if kind != socket.SOCK_STREAM or not listening:
            problems.append(
                f"{where}: file descriptor {inherited.fd} is not a listening stream socket "
                "(the socket unit needs ListenStream= and Accept=no)"
            )
            continue
        if family == socket.AF_UNIX:
            shown, loopback = f"UNIX socket {address}", True
        else:
            host, port = address[0], address[1]
            shown, loopback = f"{host} port {port}", is_loopback(host)
        if not loopback and (problem := exposure_problem(config, f"{where} ({shown})")):
            problems.append(problem)
        endpoints.append(
            SystemdEndpoint(
                inherited.fd,
                inherited.name,
                family,
                shown,
                mode,
                tls,
                where,
                loopback=loopback and family != socket.AF_UNIX,
            )
        )
    if problems:
        raise ConfigError(problems)
    return tuple(endpoints)


def _inspect(fd: int) -> tuple[int, int, bool, object]:
    """(family, type, listening, address) of the socket ``fd``, which stays open."""
    sock = socket.socket(fileno=fd)
    try:
        listening = bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
        return sock.family, sock.type, listening, sock.getsockname()
    finally:
        sock.detach()


# --- Serving ------------------------------------------------------------------------------


@attrs.frozen
class Bound:
    """An endpoint's open listeners and the transports they serve; ``file`` is the UNIX
    socket file made for it (device, inode), removed once serving ends unless someone has
    replaced it since."""

    endpoint: Endpoint
    listeners: list[trio.SocketListener]
    transports: Transports
    file: unix_sockets.Stamp | None = None

    def remove_file(self) -> None:
        assert isinstance(self.endpoint, UnixEndpoint) and self.file is not None
        unix_sockets.remove_if_ours(self.endpoint.path, self.file)


async def open_endpoint(endpoint: Endpoint, transports: Transports) -> Bound:
    """Listen on ``endpoint``, to serve ``transports`` there; an address that cannot be had
    is a ConfigError naming its [[listen]] entry ([server]'s: the OSError itself)."""
    try:
        listeners = await endpoint.open()
    except OSError as error:
        if not endpoint.where:
            raise
        reason = error.strerror or str(error)
        raise ConfigError([f"{endpoint.where}: cannot listen there: {reason}"]) from None
    if isinstance(endpoint, UnixEndpoint):
        return Bound(endpoint, listeners, transports, unix_sockets.stamp(endpoint.path))
    return Bound(endpoint, listeners, transports)


async def serve_endpoints(
    endpoints: Sequence[Endpoint],
    transports: Transports,
    handle: Handler,
    *,
    task_status: trio.TaskStatus[list[Bound]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve every endpoint until cancelled, each connection with ``handle`` and its
    endpoint's own ``transports_for`` (made once per endpoint); ``task_status.started``
    gets what was bound once all listen."""
    bound: list[Bound] = []
    try:
        for endpoint in endpoints:
            bound.append(await open_endpoint(endpoint, transports_for(endpoint, transports)))
        async with trio.open_nursery() as nursery:
            for one in bound:
                serve_one = functools.partial(handle, one.transports)
                await nursery.start(trio.serve_listeners, serve_one, one.listeners)
            task_status.started(bound)
    finally:
        for one in bound:
            if one.file is not None:
                one.remove_file()
            for listener in one.listeners:
                listener.socket.close()


def transports_for(endpoint: Endpoint, transports: Transports) -> Transports:
    """``transports`` as ``endpoint`` serves them: its mode, [tls] only where it wants it,
    and browsers held to loopback names on a loopback address."""
    websocket = attrs.evolve(transports.websocket, loopback_only=endpoint.loopback)
    return attrs.evolve(
        transports,
        mode=endpoint.mode,
        tls=transports.tls if endpoint.tls else None,
        websocket=websocket,
    )


def unix_hint(path: str, transports: Transports) -> str:
    """What to point at a UNIX socket, as its mode allows."""
    if transports.mode == "rfb" or transports.mode == "auto":
        return f"point a VNC viewer at the UNIX socket {path} (vncviewer {path})"
    return f"a reverse proxy can pass browsers to the UNIX socket {path}"
