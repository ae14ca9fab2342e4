"""The control socket: a local UNIX socket that answers JSON lines, like wayvnc's wayvncctl,
and the client side that `vncd status`, `clients`, `disconnect`, `record` and `reload` use.

One JSON object a line in (``{"command": "clients"}``), one a line out (``{"ok": true, ...}``
or ``{"ok": false, "error": "..."}``), as many as the client likes on one connection. Only its
user can connect: the socket has mode 0600, in a directory nobody else may write to. A request
that is not JSON, too long, or unknown gets an error line and never disturbs the server.
"""

from __future__ import annotations

import datetime
import errno
import importlib.metadata
import json
import logging
import os
import socket
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio

from . import unix_sockets
from .config import ConfigError
from .recording import RecordingError

if TYPE_CHECKING:
    from .hub import Hub
    from .reload import Reloader
    from .session import Session

log = logging.getLogger(__name__)

#: The longest request line, in bytes: requests are a few dozen.
MAX_LINE = 4096
#: Control connections open at once; more are answered with an error and closed.
MAX_CONNECTIONS = 8
#: How long the command line client waits for an answer, in seconds.
CLIENT_TIMEOUT = 30.0
COMMANDS = ("status", "clients", "disconnect", "record", "reload")

Reply = dict[str, Any]


class ControlUnavailable(Exception):
    """The client could not talk to vncd (not running, not allowed); the message says so."""


def default_socket_path() -> Path:
    """``$XDG_RUNTIME_DIR/vncd/control.sock``, or ``/tmp/vncd-UID/control.sock``."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    directory = Path(runtime, "vncd") if runtime else Path(f"/tmp/vncd-{os.getuid()}")
    return directory / "control.sock"


def socket_path(setting: str) -> Path | None:
    """[control] socket as a path: "" is the default place, "off" is None."""
    if setting == "off":
        return None
    return Path(setting) if setting else default_socket_path()


# --- The server side ------------------------------------------------------------------------


class _Unusable(Exception):
    """The socket cannot be made; the message says why."""


def _prepare_directory(directory: Path) -> None:
    """Make ``directory`` (mode 0700) if missing; refuse one that another user owns or may
    write to, where the socket could be swapped for someone else's."""
    try:
        directory.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as error:
        raise _Unusable(f"cannot make the directory {directory}: {error.strerror}") from None
    try:
        info = os.lstat(directory)
    except OSError as error:
        raise _Unusable(f"cannot use the directory {directory}: {error.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise _Unusable(f"{directory} is not a directory")
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise _Unusable(
            f"the directory {directory} belongs to another user or others may write to it"
        )


def bind_socket(path: Path) -> socket.socket:
    """A listening UNIX socket at ``path``, mode 0600, in a directory only we may use; a
    stale socket there (nobody listens) is replaced, a live one or another file never."""
    _prepare_directory(path.parent)
    try:
        return unix_sockets.bind(path, 0o600, MAX_CONNECTIONS)
    except OSError as error:
        if error.errno in (errno.EADDRINUSE, errno.EEXIST):  # its message names the path
            raise _Unusable(error.strerror) from None
        raise _Unusable(f"cannot listen on {path}: {error.strerror or error}") from None


@attrs.define
class Control:
    """Answers the requests of the control socket from ``hub`` and ``reloader``."""

    hub: Hub
    reloader: Reloader
    listeners: tuple[str, ...]  # where vncd listens, for status
    path: Path
    started: float = attrs.Factory(time.monotonic)
    connections: int = 0

    def answer(self, line: bytes) -> Reply:
        """The reply to one request line; never raises."""
        try:
            request = json.loads(line)
        except (ValueError, UnicodeDecodeError) as error:
            return _error(f"not JSON: {error}")
        if not isinstance(request, dict) or not isinstance(request.get("command"), str):
            return _error('a request is a JSON object with a "command", e.g. {"command": "status"}')
        command = request["command"]
        if command not in COMMANDS:
            return _error(f"unknown command {json.dumps(command)}; known: {', '.join(COMMANDS)}")
        try:
            return getattr(self, command)(request)
        except Exception:
            log.exception("control: %s failed", command)
            return _error(f"{command} failed: vncd logged why")

    def status(self, _request: Reply) -> Reply:
        hub = self.hub
        recording = hub.recording
        return {
            "ok": True,
            "version": _version(),
            "pid": os.getpid(),
            "uptime_seconds": round(time.monotonic() - self.started, 3),
            "source": {
                "kind": hub.source.statistics().kind,
                "name": hub.name,
                "size": list(hub.source.size),
            },
            "listeners": list(self.listeners),
            "viewers": len(self.admitted()),
            "recording": {
                "directory": str(recording.directory) if recording.directory else None,
                "all_sessions": recording.all_sessions,
                "active": sum(session.recording.active for session in self.admitted()),
            },
            "control_socket": str(self.path),
        }

    def clients(self, _request: Reply) -> Reply:
        return {"ok": True, "clients": [describe(session) for session in self.admitted()]}

    def disconnect(self, request: Reply) -> Reply:
        session = self.session(request)
        if isinstance(session, dict):
            return session
        session.close("disconnected through the control socket")
        return {"ok": True, "id": session.id, "peer": session.peer}

    def record(self, request: Reply) -> Reply:
        session = self.session(request)
        if isinstance(session, dict):
            return session
        action = request.get("action")
        if action == "start":
            try:
                session.start_recording()
            except RecordingError as error:
                return _error(str(error))
        elif action == "stop":
            session.stop_recording()
        else:
            return _error('record needs "action": "start" or "stop"')
        return {"ok": True, "id": session.id, "recording": session.recording.active}

    def reload(self, _request: Reply) -> Reply:
        return self.reloader.reload().reply()

    def admitted(self) -> list[Session]:
        """The viewers past the handshake, oldest first."""
        sessions = (session for session in self.hub.sessions if session.admission is not None)
        return sorted(sessions, key=lambda session: session.id)

    def session(self, request: Reply) -> Session | Reply:
        """The viewer a request names by ``"id"``, or the error reply."""
        number = request.get("id")
        if type(number) is not int:
            return _error(f'{request["command"]} needs "id": a viewer\'s number (see clients)')
        found = next((session for session in self.admitted() if session.id == number), None)
        return found if found is not None else _error(f"no viewer has id {number}")


def _error(message: str) -> Reply:
    return {"ok": False, "error": message}


def _version() -> str:
    try:
        return importlib.metadata.version("vncd")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def describe(session: Session) -> Reply:
    """One viewer as `clients` lists it."""
    admission = session.admission
    assert admission is not None  # only admitted viewers are listed
    counted = session.channel.conn.statistics()
    seconds = trio.current_time() - session.started
    since = datetime.datetime.fromtimestamp(time.time() - seconds, datetime.UTC)
    path = session.recording.path
    return {
        "id": session.id,
        "peer": session.peer,
        "transport": session.transport,
        "security": admission.security,
        "user": admission.user,
        "view_only": session.view_only,
        "since": since.isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "bytes_sent": counted.bytes_sent,
        "bytes_received": counted.bytes_received,
        "recording": session.recording.active,
        "recording_file": str(path) if path else None,
    }


def listener_name(address: Any) -> str:
    """A listening socket's address as status shows it: host:port, or a UNIX path."""
    if isinstance(address, str):
        return address
    host, port, *_ = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _converse(stream: trio.SocketStream, control: Control) -> None:
    """Answer request lines until the client closes, or sends a line over MAX_LINE."""
    buffer = b""
    while True:
        line, newline, rest = buffer.partition(b"\n")
        if len(line) > MAX_LINE:
            await _last_words(stream, f"request line longer than {MAX_LINE} bytes; closing")
            return
        if not newline:
            data = await stream.receive_some(MAX_LINE)
            if not data:
                return
            buffer += data
            continue
        buffer = rest
        if line.strip():
            reply = control.answer(line)
            await stream.send_all(json.dumps(reply).encode() + b"\n")


async def _last_words(stream: trio.SocketStream, error: str) -> None:
    """Send ``error`` and the end of the stream, then read what the client sent for a
    moment: closing with unread data would reset the connection, and the client could lose
    the error before reading it."""
    await stream.send_all(json.dumps(_error(error)).encode() + b"\n")
    await stream.send_eof()
    with trio.move_on_after(1):
        while await stream.receive_some(MAX_LINE):
            pass


async def serve_control(
    control_of: Callable[[Path], Control],
    setting: str,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the control socket of [control] ``setting`` (``control_of(path)`` answers it)
    until cancelled, and remove it then. A socket named in the configuration that cannot be
    made stops vncd (ConfigError); the default one is then left out with a warning, so that
    a second vncd on the machine runs without one."""
    path = socket_path(setting)
    if path is None:
        task_status.started()
        return
    try:
        bound = bind_socket(path)
    except _Unusable as error:
        if setting:
            raise ConfigError([f"control.socket = {json.dumps(setting)}: {error}"]) from None
        log.warning("no control socket: %s (set [control] socket to name another)", error)
        task_status.started()
        return
    identity = unix_sockets.stamp(path)
    control = control_of(path)
    log.info("control socket at %s", path)

    async def handle(stream: trio.SocketStream) -> None:
        try:
            if control.connections >= MAX_CONNECTIONS:
                await _last_words(stream, f"{MAX_CONNECTIONS} control connections are open already")
                return
            control.connections += 1
            try:
                await _converse(stream, control)
            finally:
                control.connections -= 1
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the client left without its answer
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await stream.aclose()

    try:
        listener = trio.SocketListener(trio.socket.from_stdlib_socket(bound))
        await trio.serve_listeners(handle, [listener], task_status=task_status)
    finally:
        unix_sockets.remove_if_ours(path, identity)  # not a later vncd's


# --- The client side ------------------------------------------------------------------------


def ask(path: Path, request: Reply, timeout: float = CLIENT_TIMEOUT) -> Reply:
    """Send one request to the control socket at ``path`` and return the reply;
    ControlUnavailable when nothing answers there."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        try:
            connection.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise ControlUnavailable(f"vncd is not running (nothing listens on {path})") from None
        except OSError as error:
            raise ControlUnavailable(f"cannot connect to {path}: {error.strerror}") from None
        try:
            connection.sendall(json.dumps(request).encode() + b"\n")
            answer = b""
            while not answer.endswith(b"\n"):
                data = connection.recv(65536)
                if not data:
                    raise ControlUnavailable(f"vncd closed {path} without an answer")
                answer += data
        except OSError as error:
            raise ControlUnavailable(f"no answer on {path}: {error}") from None
    return json.loads(answer)


def format_status(reply: Reply) -> str:
    """`vncd status`: one fact a line."""
    source, recording = reply["source"], reply["recording"]
    width, height = source["size"]
    if recording["directory"] is None:
        recorded = "off (no recording.directory)"
    else:
        every = ", every session" if recording["all_sessions"] else ""
        recorded = f"{recording['active']} now, into {recording['directory']}{every}"
    return "\n".join(
        [
            f"vncd {reply['version']}, pid {reply['pid']}, up {_duration(reply['uptime_seconds'])}",
            f"source: {source['kind']} {json.dumps(source['name'])} {width}x{height}",
            f"listening: {', '.join(reply['listeners'])}",
            f"viewers: {reply['viewers']}",
            f"recording: {recorded}",
            f"control socket: {reply['control_socket']}",
        ]
    )


CLIENT_COLUMNS = (
    "ID",
    "PEER",
    "TRANSPORT",
    "SECURITY",
    "USER",
    "ACCESS",
    "SINCE",
    "SENT",
    "RECEIVED",
)


def format_clients(reply: Reply) -> str:
    """`vncd clients`: a table, one viewer a row (or a line saying there are none)."""
    clients = reply["clients"]
    if not clients:
        return "no viewers"
    rows = [CLIENT_COLUMNS] + [
        (
            str(client["id"]),
            client["peer"],
            client["transport"],
            client["security"] or "-",
            client["user"] or "-",
            "view-only" if client["view_only"] else "full",
            client["since"],
            str(client["bytes_sent"]),
            str(client["bytes_received"]),
        )
        for client in clients
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(CLIENT_COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def format_disconnect(reply: Reply) -> str:
    return f"disconnected viewer {reply['id']} ({reply['peer']})"


def format_record(reply: Reply) -> str:
    return f"viewer {reply['id']}: recording {'on' if reply['recording'] else 'off'}"


def format_reload(reply: Reply) -> str:
    """`vncd reload`: what was applied, and what needs a restart."""
    applied = ", ".join(reply["applied"]) or "nothing changed"
    lines = [f"reloaded: {applied}"]
    if reply["needs_restart"]:
        lines.append(f"needs a restart: {', '.join(reply['needs_restart'])}")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    whole = int(seconds)
    hours, minutes, seconds = whole // 3600, whole // 60 % 60, whole % 60
    return f"{hours}h {minutes:02}m {seconds:02}s" if hours else f"{minutes}m {seconds:02}s"
