"""vncd's configuration: a TOML file turned into frozen attrs classes.

Every key has a default, so an empty or missing file is a valid configuration. A mistake is
reported as one line naming the key, the value given and what is allowed, and every mistake in
the file is reported at once. Unknown keys are errors, so a typo never passes silently.
"""

from __future__ import annotations

import json
import re
import ssl
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from . import passwords, recording, serverkey, unix_sockets, users
from .logs import FORMATS as LOG_FORMATS
from .offer import TYPE_NAMES, UNAUTHENTICATED, needs_of
from .policy import INPUT_MODES, SHARING_MODES
from .resize import RESIZE_POLICIES
from .transports import MODES, is_loopback, parse_origin, server_context

SOURCE_KINDS = ("auto", "demo", "x11", "xvfb", "desktop")
LOG_LEVELS = ("debug", "info", "warning", "error")


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` holds one line per mistake."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


def _toml(value: Any) -> str:
    """A value spelled as in TOML, the way the user wrote it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON's escapes are valid in TOML
    if isinstance(value, list | tuple):
        return "[" + ", ".join(map(_toml, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {_toml(item)}" for key, item in value.items()) + "}"
    return str(value)


# --- Checks: each takes a value as TOML gave it and returns the field's value, or raises
# ValueError saying what is allowed (the caller adds the key and the value).

Check = Callable[[Any], Any]


def _integer(low: int, high: int, note: str = "") -> Check:
    def check(value: Any) -> int:
        # type(), not isinstance(): TOML's true is a bool, and bool is a subclass of int.
        if type(value) is not int or not low <= value <= high:
            raise ValueError(f"must be an integer {low}..{high}{note}")
        return value

    return check


def _one_of(*choices: str | int) -> Check:
    allowed = ", ".join(_toml(choice) for choice in choices)

    def check(value: Any) -> Any:
        if not any(type(value) is type(choice) and value == choice for choice in choices):
            raise ValueError(f"must be one of {allowed}")
        return value

    return check


def _boolean(value: Any) -> bool:
    if type(value) is not bool:
        raise ValueError("must be true or false")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _host(value: Any) -> str:
    if not isinstance(value, str) or value.split() != [value]:
        raise ValueError('must be a host name or address, e.g. "127.0.0.1", "0.0.0.0" or "::"')
    return value


def _password(value: Any) -> str:
    passwords.password_bytes(_text(value))
    return value


_GEOMETRY = re.compile(r"([0-9]{1,5})x([0-9]{1,5})")


def _geometry(value: Any) -> tuple[int, int]:
    match = _GEOMETRY.fullmatch(value) if isinstance(value, str) else None
    if match is None or not all(16 <= int(n) <= 8192 for n in match.groups()):
        raise ValueError('must be "WIDTHxHEIGHT", each 16..8192 (e.g. "1280x800")')
    return int(match[1]), int(match[2])


def _scale(value: Any) -> float:
    if type(value) not in (int, float) or not 0.1 <= value <= 1:
        raise ValueError("must be a number 0.1..1.0 (the served size over the desktop's)")
    return float(value)


def _origins(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError('must be a list of origins, e.g. ["https://example.com:8443"], or ["*"]')
    for item in value:
        if item != "*":
            parse_origin(item)
    return tuple(value)


_ADDRESS = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]+):([0-9]{1,5})")


def host_and_port(value: str) -> tuple[str, int]:
    """``"HOST:PORT"`` (an IPv6 address in brackets) as (host, port); ValueError if not."""
    match = _ADDRESS.fullmatch(value)
    if match is None or int(match[2]) > 65535:
        raise ValueError('must be "HOST:PORT" (e.g. "127.0.0.1:9100", "[::1]:9100") or ""')
    return match[1].strip("[]"), int(match[2])


def _listen(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError('must be "HOST:PORT" (e.g. "127.0.0.1:9100", "[::1]:9100") or ""')
    if value:
        host_and_port(value)
    return value


def _tcp(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError('must be "HOST:PORT" (e.g. "127.0.0.1:5901", "[::1]:5901") or ""')
    if value:
        host_and_port(value)
    return value


#: sun_path holds 108 bytes with the terminating NUL (unix(7)).
def _unix_path(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(
            f"must be an absolute path of at most {unix_sockets.MAX_PATH} bytes (a UNIX socket) "
            'or ""'
        )
    try:
        return value and unix_sockets.check_path(value)
    except ValueError as error:
        raise ValueError(f'{error} or ""') from None


def _file_mode(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"0?[0-7]{3}", value):
        raise ValueError('must be an octal file mode, e.g. "0660" or "0600"')
    return value


#: ``systemd = "*"``: every socket systemd passed.
ALL_INHERITED = "*"


def _fd_name(value: Any) -> str:
    # systemd's FileDescriptorName=: printable ASCII without ":", at most 255 characters.
    if not isinstance(value, str) or not re.fullmatch(r"[!-9;-~]{0,255}", value):
        raise ValueError(
            "must be a socket name systemd passed (FileDescriptorName=, LISTEN_FDNAMES), "
            '"*" for all of them, or ""'
        )
    return value


def _security_types(value: Any) -> tuple[str, ...]:
    allowed = ", ".join(map(_toml, TYPE_NAMES))
    if not isinstance(value, list):
        raise ValueError(f"must be a list of security types from {allowed}")
    for item in value:
        if item not in TYPE_NAMES:
            raise ValueError(f"{_toml(item)} is not a security type (known: {allowed})")
    if len(set(value)) != len(value):
        raise ValueError("names a security type twice")
    return tuple(value)


def _setting(default: Any, check: Check) -> Any:
    return attrs.field(default=default, metadata={"check": check})


# --- The sections ------------------------------------------------------------------------


@attrs.frozen
class ServerConfig:
    """[server]: where to listen and who may connect."""

    #: Address to listen on: `"0.0.0.0"` is every interface (IPv4), `"::"` every interface (IPv6
    #: only). Anything but a loopback address needs a password (see
    #: `security.allow_unauthenticated_remote`).
    host: str = _setting("127.0.0.1", _host)
    #: TCP port; `0` picks a free port and logs it.
    port: int = _setting(5900, _integer(0, 65535, " (0 picks a free port)"))
    #: The VNC password (Latin-1 text); `""` = no authentication. VNC authentication uses
    #: only its first 8 characters.
    password: str = _setting("", _password)
    #: A second password that gives a view-only session; needs `password`.
    view_only_password: str = _setting("", _password)
    #: A vncpasswd file (`vncd passwd FILE`) that holds both passwords, instead of `password` and
    #: `view_only_password`.
    password_file: str = _setting("", _text)
    #: Viewers connected at once.
    max_connections: int = _setting(64, _integer(1, 1000))
    #: The desktop name viewers show; `""` = the source's name.
    name: str = _setting("", _text)
    #: `"auto"`: VNC viewers, browsers (HTTP, WebSocket) and TLS on one port; `"rfb"`: VNC viewers
    #: only, greeted at once; `"websocket"`: browsers only; `"http-only"`: the web page and the
    #: status pages, no VNC at all (neither viewers nor WebSocket).
    mode: str = _setting("auto", _one_of(*MODES))
    #: `auto` mode: a client that says nothing this long is greeted as a VNC viewer (browsers speak
    #: at once).
    detect_ms: int = _setting(50, _integer(1, 1000, " (milliseconds)"))


@attrs.frozen
class SourceConfig:
    """[source]: what is served (geometry applies to the sources that create a desktop)."""

    #: `"auto"`: `desktop` on Windows and macOS, else `x11` when a display answers, else `demo`;
    #: `"demo"`: a desktop drawn in-process; `"x11"`: an existing X display; `"xvfb"`: a private
    #: Xvfb running `command`; `"desktop"`: this machine's desktop through mss and pynput.
    kind: str = _setting("auto", _one_of(*SOURCE_KINDS))
    #: x11: the display to serve; `""` = `$DISPLAY`.
    display: str = _setting("", _text)
    #: demo and xvfb: the desktop's size at start.
    geometry: tuple[int, int] = _setting((1280, 800), _geometry)
    #: xvfb: the session command started on the new display; `""` = none.
    command: str = _setting("xterm", _text)
    #: Who may resize the desktop (SetDesktopSize: noVNC's remote resize, TigerVNC's
    #: `-RemoteResize`): `"any"` viewer, only the `"first"` (connected longest; view-only viewers
    #: never may), or `"none"`.
    resize: str = _setting("any", _one_of(*RESIZE_POLICIES))
    #: The largest size viewers may resize to, at least `geometry`; xvfb allocates it at start (4
    #: bytes a pixel) unless `resize = "none"`.
    max_size: tuple[int, int] = _setting((3840, 2160), _geometry)
    #: desktop: the monitor to serve, `1`, `2`, … (as mss numbers them); `0` = all of them as one
    #: framebuffer.
    monitor: int = _setting(0, _integer(0, 64, " (0 = all monitors as one framebuffer)"))
    #: Serve the desktop scaled by this factor, 0.1..1.0 (`0.5`: 1920x1080 is served as
    #: 960x540, each pixel the average of the four it covers); viewers' pointers are scaled
    #: back. Viewers may not resize a scaled desktop. `1.0` = as it is.
    scale: float = _setting(1.0, _scale)


@attrs.frozen
class CaptureConfig:
    """[capture]: how often the desktop is looked at."""

    #: Capture, and update each viewer, at most this many times a second.
    max_fps: int = _setting(60, _integer(1, 240))


@attrs.frozen
class EncodingsConfig:
    """[encodings]: which optional encodings vncd offers to viewers that ask for them, and
    how lossy areas are made exact."""

    #: Offer Open H.264 to viewers that ask for it (needs the `h264` extra: PyAV).
    h264: bool = _setting(False, _boolean)
    #: Send lossy (JPEG, H.264) areas again losslessly once unchanged this long; `0` = never.
    lossless_refresh_ms: int = _setting(50, _integer(0, 60_000, " (milliseconds, 0 = off)"))


@attrs.frozen
class LimitsConfig:
    """[limits]: caps on what one client may make the server hold."""

    #: The largest clipboard text taken from or sent to a viewer, in bytes.
    max_cut_text: int = _setting(1 << 20, _integer(0, 64 << 20, " (bytes, at most 64 MiB)"))
    #: The most encodings a viewer may list in SetEncodings.
    max_encodings: int = _setting(1024, _integer(1, 65535))
    #: A connection must finish the handshake this soon.
    handshake_seconds: int = _setting(10, _integer(1, 300, " (seconds)"))
    #: Connections not authenticated yet, in all; more are closed at once.
    max_unauthenticated: int = _setting(32, _integer(1, 1000))
    #: Connections not authenticated yet from one address; more are closed at once.
    max_unauthenticated_per_address: int = _setting(8, _integer(1, 1000))
    #: Failed authentications from one address before it must wait (only wrong passwords count,
    #: never junk).
    auth_failures: int = _setting(5, _integer(1, 1000))
    #: The first wait; each failure after it doubles the wait.
    auth_backoff_seconds: int = _setting(10, _integer(1, 3600, " (seconds)"))
    #: The longest wait, at least `auth_backoff_seconds`: once an attack stops, the rightful user
    #: waits at most this long.
    auth_backoff_max_seconds: int = _setting(30, _integer(1, 86400, " (seconds)"))


@attrs.frozen
class LogConfig:
    """[log]: what vncd logs."""

    #: The least severe messages logged.
    level: str = _setting("info", _one_of(*LOG_LEVELS))
    #: `"text"`: one line per record; `"json"`: one JSON object per line, with the fields of
    #: a connection's last line (peer, transport, security, ...) as keys of their own.
    format: str = _setting("text", _one_of(*LOG_FORMATS))
    #: The file to append records to, created with mode 0640 if missing; `""` = standard error.
    file: str = _setting("", _text)


@attrs.frozen
class MetricsConfig:
    """[metrics]: Prometheus metrics for monitoring (vncd.metrics)."""

    #: Serve `/metrics` (Prometheus' text format); on the RFB port's HTTP side, anyone who
    #: can reach that port can read it, viewers' addresses included.
    enabled: bool = _setting(True, _boolean)
    #: `"HOST:PORT"`: serve `/metrics` (with `/healthz` and `/readyz`) there alone, and not on
    #: the RFB port; `""` = on the RFB port. A port of `0` picks a free one and logs it.
    listen: str = _setting("", _listen)


@attrs.frozen
class HttpConfig:
    """[http]: what browsers get on the RFB port."""

    #: `""` = the copy installed with vncd, or this checkout's `web/`.
    web_root: str = _setting("", _text)


@attrs.frozen
class WebSocketConfig:
    """[websocket]: browser viewers (noVNC)."""

    #: Web pages, besides this server's own, that may open a WebSocket, e.g.
    #: `["https://portal.example.com"]`; `["*"]` = any.
    allowed_origins: tuple[str, ...] = _setting((), _origins)
    #: The largest WebSocket message accepted, in bytes.
    max_message_size: int = _setting(
        2 << 20, _integer(1024, 128 << 20, " (bytes, at most 128 MiB)")
    )
    #: Seconds between keepalive pings; a ping still unanswered at the next one closes the
    #: connection. `0` = no pings.
    ping_interval: int = _setting(30, _integer(0, 3600, " (seconds; 0 = no pings)"))


@attrs.frozen
class TlsConfig:
    """[tls]: certificate and key for https:// and wss:// on the RFB port."""

    #: PEM certificate (chain) for `https://` and `wss://` on the same port, and for VeNCrypt's X509
    #: types; needs `key`.
    certificate: str = _setting("", _text)
    #: Its PEM private key; set both or neither.
    key: str = _setting("", _text)


@attrs.frozen
class ViewersConfig:
    """[viewers]: who drives the desktop, who may share it, how long a viewer may stay
    (vncd.policy)."""

    #: `"shared"`: every viewer drives the keyboard and pointer; `"single-controller"`: the first
    #: viewer to send input drives, and the others' keys, pointer and clipboard are ignored until it
    #: leaves (or goes idle: `takeover_idle_seconds`).
    input: str = _setting("shared", _one_of(*INPUT_MODES))
    #: single-controller: another viewer may take control once the controller has sent no input this
    #: long; `0` = never.
    takeover_idle_seconds: int = _setting(0, _integer(0, 604800, " (seconds; 0 = never)"))
    #: A viewer that asks for exclusive access (a non-shared ClientInit): `"disconnect-others"`
    #: closes the other viewers; `"refuse-new"` refuses it while others are connected, and everyone
    #: while it is; `"always-shared"` treats every viewer as shared.
    sharing: str = _setting("disconnect-others", _one_of(*SHARING_MODES))
    #: Disconnect a viewer that sent no key, pointer, clipboard or resize message this long; `0` =
    #: never.
    idle_timeout_seconds: int = _setting(0, _integer(0, 604800, " (seconds; 0 = never)"))
    #: Disconnect a viewer this long after it connected; `0` = unlimited.
    max_session_seconds: int = _setting(0, _integer(0, 604800, " (seconds; 0 = unlimited)"))
    #: `true`: every viewer only watches (no keys, pointer, clipboard or resize reach the desktop),
    #: whatever its password.
    view_only: bool = _setting(False, _boolean)


@attrs.frozen
class SecurityConfig:
    """[security]: what vncd refuses to do unless told."""

    #: `true`: serve with no password (or with a type that asks for none) on a non-loopback
    #: `server.host`; `false`: that is a configuration error.
    allow_unauthenticated_remote: bool = _setting(False, _boolean)
    #: The RSA-AES server key (PEM), made on first use with mode 0600; `""` =
    #: `~/.local/state/vncd/rsa_key.pem`.
    rsa_key: str = _setting("", _text)
    #: The security types offered to plain-TCP viewers, in order; `[]` = automatic (VNC
    #: authentication with a password, else None). `*Vnc` types need `server.password`, `*Plain`
    #: types `users_file`, RSA-AES (`RA2*`) either; `X509*` use [tls]'s certificate, `TLS*`
    #: anonymous TLS. WebSocket viewers (already in TLS) are not offered VeNCrypt.
    types: tuple[str, ...] = _setting((), _security_types)
    #: The users file (`vncd passwd --user NAME FILE`): names and hashed passwords for the `*Plain`
    #: types, RSA-AES and Tight's login; read again when it changes.
    users_file: str = _setting("", _text)


def _file_name(value: Any) -> str:
    return recording.check_file_name(_text(value))


@attrs.frozen
class RecordingConfig:
    """[recording]: FBS recordings of what viewers are sent (vncd.recording)."""

    #: Where recordings go (FBS files that `vncd replay` plays), an existing directory; `""` =
    #: nowhere.
    directory: str = _setting("", _text)
    #: `"all"`: record every viewer from its first update (needs `directory`); `"none"`: only on
    #: demand.
    sessions: str = _setting("none", _one_of("none", "all"))
    #: The files' names: `{time}` (local, `20260102-030405`) and `{peer}` (`127.0.0.1-5901`); an
    #: existing file is never overwritten (`-2`, `-3`… are added).
    file_name: str = _setting(recording.DEFAULT_FILE_NAME, _file_name)
    #: Bytes waiting for the disk before a session's recording stops (with a log line) rather than
    #: delay the viewer.
    max_buffer: int = _setting(64 << 20, _integer(1 << 20, 1 << 30, " (bytes, 1 MiB..1 GiB)"))


def _control_socket(value: Any) -> str:
    allowed = f'must be an absolute path (at most {unix_sockets.MAX_PATH} bytes), "" or "off"'
    if not isinstance(value, str):
        raise ValueError(allowed)
    try:
        return value if value in ("", "off") else unix_sockets.check_path(value)
    except ValueError:
        raise ValueError(allowed) from None


@attrs.frozen
class ControlConfig:
    """[control]: the local control socket that `vncd status`, `clients`, `disconnect`,
    `record` and `reload` talk to (vncd.control)."""

    #: The UNIX socket (JSON lines), created with mode 0600 in a directory only its user may
    #: write to (made with mode 0700 if missing); `""` = `$XDG_RUNTIME_DIR/vncd/control.sock`,
    #: or `/tmp/vncd-UID/control.sock` without `XDG_RUNTIME_DIR`; `"off"` = no control socket.
    socket: str = _setting("", _control_socket)


@attrs.frozen
class ListenConfig:
    """[[listen]]: one place to listen on (vncd.listeners); repeat the table for more. Each
    entry sets one of `tcp`, `unix` or `systemd`. Without any, vncd listens on [server]'s
    `host` and `port`, or, started by systemd socket activation (`LISTEN_FDS`), on the
    sockets systemd passed."""

    #: `"HOST:PORT"`, an IPv6 address in brackets (`"[::1]:5901"`); a port of `0` picks a free
    #: one and logs it.
    tcp: str = _setting("", _tcp)
    #: An absolute path: a UNIX socket made there (one left by a crashed run is replaced if
    #: nothing listens on it), removed when vncd stops.
    unix: str = _setting("", _unix_path)
    #: The UNIX socket's permissions (octal); connecting needs write permission.
    unix_mode: str = _setting("0660", _file_mode)
    #: A socket systemd passed (socket activation), by its name (`FileDescriptorName=`, by default
    #: the socket unit's name, e.g. `"vncd.socket"`), or `"*"` for every one.
    systemd: str = _setting("", _fd_name)
    #: As `server.mode`; `""` = `server.mode`.
    mode: str = _setting("", _one_of("", *MODES))
    #: Whether [tls] serves `https://` and `wss://` here (VeNCrypt inside RFB follows
    #: `security.types` alone).
    tls: bool = _setting(True, _boolean)


_SECRETS = {"password", "view_only_password"}


@attrs.frozen
class Config:
    """The whole configuration; build it with ``load_config`` or ``parse_config``."""

    server: ServerConfig = attrs.field(factory=ServerConfig)
    source: SourceConfig = attrs.field(factory=SourceConfig)
    capture: CaptureConfig = attrs.field(factory=CaptureConfig)
    encodings: EncodingsConfig = attrs.field(factory=EncodingsConfig)
    limits: LimitsConfig = attrs.field(factory=LimitsConfig)
    log: LogConfig = attrs.field(factory=LogConfig)
    http: HttpConfig = attrs.field(factory=HttpConfig)
    websocket: WebSocketConfig = attrs.field(factory=WebSocketConfig)
    tls: TlsConfig = attrs.field(factory=TlsConfig)
    viewers: ViewersConfig = attrs.field(factory=ViewersConfig)
    security: SecurityConfig = attrs.field(factory=SecurityConfig)
    recording: RecordingConfig = attrs.field(factory=RecordingConfig)
    metrics: MetricsConfig = attrs.field(factory=MetricsConfig)
    control: ControlConfig = attrs.field(factory=ControlConfig)
    #: [[listen]] entries, an array of tables.
    listen: tuple[ListenConfig, ...] = attrs.field(factory=tuple, metadata={"table": ListenConfig})

    def resolved_passwords(self) -> tuple[str, str]:
        """(full-access password, view-only password), "" when unset; reads password_file."""
        server = self.server
        if not server.password_file:
            return server.password, server.view_only_password
        where = f"server.password_file = {_toml(server.password_file)}"
        try:
            full, view_only = passwords.read_password_file(server.password_file)
        except OSError as error:
            raise ConfigError([f"{where}: cannot read it: {error.strerror}"]) from None
        except ValueError as error:
            raise ConfigError([f"{where}: {error}"]) from None
        if not full:
            raise ConfigError([f"{where}: the file holds an empty password"])
        return full, view_only

    def rsa_key_path(self) -> Path:
        """Where the RSA-AES server key is kept (generated there on first use)."""
        return Path(self.security.rsa_key) if self.security.rsa_key else serverkey.default_path()

    def tls_context(self) -> ssl.SSLContext | None:
        """The server's TLS context from [tls] (reads the files); None when not configured."""
        tls = self.tls
        if not tls.certificate:
            return None
        for key in ("certificate", "key"):
            path = getattr(tls, key)
            if not Path(path).is_file():
                raise ConfigError([f"tls.{key} = {_toml(path)}: no such file"])
        try:
            return server_context(tls.certificate, tls.key)
        except ValueError as error:
            where = f"tls.certificate = {_toml(tls.certificate)}, tls.key = {_toml(tls.key)}"
            raise ConfigError([f"{where}: {error}"]) from None

    def warnings(self) -> list[str]:
        """Settings that work but are probably not what the user meant."""
        server = self.server
        found = [
            f"server.{key} has {len(value)} characters; VNC authentication uses only the "
            f"first {passwords.MAX_LENGTH}"
            for key in ("password", "view_only_password")
            if len(value := getattr(server, key)) > passwords.MAX_LENGTH
        ]
        no_password = bool(open_door(self))  # some offered type asks for nothing
        found += [
            f"{where} and no password: anyone who can reach this port can control the desktop"
            for where, host in tcp_hosts(self)
            if no_password and not is_loopback(host)
        ]
        if self.listen and (server.host, server.port) != ("127.0.0.1", 5900):
            found.append(
                "server.host and server.port are not used: the [[listen]] entries say where "
                "to listen"
            )
        if no_password and "*" in self.websocket.allowed_origins:
            found.append(
                'websocket.allowed_origins = ["*"] and no password: any web page open in a '
                "browser that can reach this port can control the desktop"
            )
        if "Plain" in self.security.types:
            found.append(
                'security.types includes "Plain": user names and passwords cross the network '
                'unencrypted; "X509Plain" carries them inside TLS'
            )
        if "Tight" in self.security.types and self.security.users_file:
            found.append(
                'security.types includes "Tight" with a users file: its login sends user names '
                'and passwords unencrypted; "X509Plain" or "RA2" carry them encrypted'
            )
        viewers = self.viewers
        if viewers.takeover_idle_seconds and viewers.input != "single-controller":
            found.append(
                f"viewers.takeover_idle_seconds = {viewers.takeover_idle_seconds} has no effect "
                'unless viewers.input = "single-controller"'
            )
        return found

    def to_toml(self) -> str:
        """The effective configuration as TOML, with passwords hidden (for ``vncd check``)."""
        lines = []
        for section, values in _CONVERTER.unstructure(self).items():
            tables = values if isinstance(values, list) else [values]  # [[listen]]: a list
            for table in tables:
                lines.append(f"[[{section}]]" if tables is values else f"[{section}]")
                for key, value in table.items():
                    if key in _SECRETS and value:
                        lines.append(f'{key} = "********"  # hidden')
                    else:
                        lines.append(f"{key} = {_toml(value)}")
                lines.append("")
        return "\n".join(lines)


# --- Structuring -------------------------------------------------------------------------


def _field_hook(check: Check) -> Callable[[Any, type], Any]:
    return lambda value, _type: check(value)


def _table_hook(structure: Callable[[Any, type], Any]) -> Callable[[Any, type], Any]:
    def structure_table(value: Any, cls: type) -> Any:
        if not isinstance(value, dict):
            raise ValueError("must be a table of settings")
        return structure(value, cls)

    return structure_table


def _array_hook(converter: cattrs.Converter, cls: type) -> Callable[[Any, type], Any]:
    """An array of tables (``[[listen]]``): each entry structured as ``cls``, every mistake
    reported with the entry's index."""

    def structure_array(value: Any, array: type) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise ValueError("must be an array of tables, each headed [[listen]]")
        entries, errors = [], []
        for index, item in enumerate(value):
            try:
                entries.append(converter.structure(item, cls))
            except Exception as error:  # each is reported below
                error.add_note(IterableValidationNote(f"@ index {index}", index, cls))
                errors.append(error)
        if errors:
            raise IterableValidationError("invalid entries", errors, array)
        return tuple(entries)

    return structure_array


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True)
    sections = (
        ServerConfig,
        SourceConfig,
        CaptureConfig,
        EncodingsConfig,
        LimitsConfig,
        LogConfig,
        HttpConfig,
        WebSocketConfig,
        TlsConfig,
        ViewersConfig,
        SecurityConfig,
        RecordingConfig,
        MetricsConfig,
        ControlConfig,
        ListenConfig,
    )
    for section in sections:
        hooks = {
            field.name: override(struct_hook=_field_hook(field.metadata["check"]))
            for field in attrs.fields(section)
        }
        converter.register_structure_hook(
            section, _table_hook(make_dict_structure_fn(section, converter, **hooks))
        )
    converter.register_structure_hook_func(
        lambda cls: cls == tuple[ListenConfig, ...], _array_hook(converter, ListenConfig)
    )
    size = override(unstruct_hook=lambda size: f"{size[0]}x{size[1]}")
    converter.register_unstructure_hook(
        SourceConfig,
        make_dict_unstructure_fn(SourceConfig, converter, geometry=size, max_size=size),
    )
    return converter


_CONVERTER = _make_converter()


def _dotted(path: Sequence[str | int]) -> str:
    """A key path as the user reads it: ``listen[0].tcp``."""
    return "".join(f"[{key}]" if isinstance(key, int) else f".{key}" for key in path)[1:]


def _problems(
    error: BaseException, data: Mapping[str, Any], path: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Flatten cattrs' tree of errors into (key path, one line) pairs; an array's entries
    appear in the path as ``[index]``."""
    if isinstance(error, ClassValidationError | IterableValidationError):
        with_notes, without_notes = error.group_exceptions()
        for inner, note in with_notes:
            key = note.name if isinstance(error, ClassValidationError) else note.index
            yield from _problems(inner, data, (*path, key))
        for inner in without_notes:
            yield from _problems(inner, data, path)
    elif isinstance(error, ForbiddenExtraKeysError):
        known = ", ".join(field.name for field in attrs.fields(error.cl))
        for key in sorted(error.extra_fields):
            if path:
                what = f"unknown key (known keys in [{path[0]}]: {known})"
            elif isinstance(data[key], dict):
                what = f"unknown section (known sections: {known})"
            else:
                what = f"unknown key outside any section (the sections are: {known})"
            yield (*path, key), f"{_dotted((*path, key))}: {what}"
    else:
        value: Any = data
        for key in path:
            value = value[key]
        yield path, f"{_dotted(path)} = {_toml(value)}: {error}"


def _password_checks(config: Config) -> list[str]:
    server = config.server
    if server.password_file:
        if server.password or server.view_only_password:
            return [
                "server.password_file: cannot be combined with server.password or "
                "server.view_only_password (the file holds both passwords)"
            ]
        try:
            config.resolved_passwords()
        except ConfigError as error:
            return list(error.problems)
    elif server.view_only_password and not server.password:
        return [
            "server.view_only_password: needs server.password as well (without it every "
            "viewer gets full control)"
        ]
    return []


def _web_checks(config: Config) -> list[str]:
    web_root = config.http.web_root
    if web_root and not Path(web_root).is_dir():
        return [f"http.web_root = {_toml(web_root)}: not a directory"]
    return []


def _tls_checks(config: Config) -> list[str]:
    if bool(config.tls.certificate) != bool(config.tls.key):
        return ["tls.certificate and tls.key: set both (PEM files) or neither"]
    try:
        config.tls_context()
    except ConfigError as error:
        return list(error.problems)
    return []


def _size_checks(config: Config) -> list[str]:
    """A desktop that starts larger than viewers may make it (x11 and desktop serve the
    display's own size, and with resize = "none" nobody resizes)."""
    source = config.source
    if source.kind in ("x11", "desktop") or source.resize == "none":
        return []
    if all(start <= limit for start, limit in zip(source.geometry, source.max_size, strict=True)):
        return []
    spelled = _CONVERTER.unstructure(source)
    return [
        f"source.geometry = {_toml(spelled['geometry'])}: larger than source.max_size = "
        f"{_toml(spelled['max_size'])} (the largest size viewers may resize to); raise "
        'max_size, or set resize = "none"'
    ]


def _limit_checks(config: Config) -> list[str]:
    limits = config.limits
    if limits.auth_backoff_max_seconds < limits.auth_backoff_seconds:
        return [
            f"limits.auth_backoff_max_seconds = {limits.auth_backoff_max_seconds}: less than "
            f"limits.auth_backoff_seconds = {limits.auth_backoff_seconds} (the first block)"
        ]
    return []


def open_door(config: Config) -> str:
    """The offered security type that lets a viewer in with no secret ("" when none does):
    None, TLSNone or X509None when named in [security] types, Tight when there is no secret
    to offer inside it (vncd.tight), or the automatic offer's None when there is no secret."""
    server = config.server
    secret = server.password or server.password_file or config.security.users_file
    if not config.security.types:
        return "" if secret else "None"
    opens = UNAUTHENTICATED if secret else {*UNAUTHENTICATED, "Tight"}
    return next((name for name in config.security.types if name in opens), "")


def tcp_hosts(config: Config) -> list[tuple[str, str]]:
    """(key = value, host) of each TCP address in the configuration: [server] host, or the
    [[listen]] entries' (whose ``where`` reads e.g. ``listen[0].tcp = "0.0.0.0:5901"``)."""
    if not config.listen:
        return [(f"server.host = {_toml(config.server.host)}", config.server.host)]
    return [
        (f"listen[{index}].tcp = {_toml(entry.tcp)}", host_and_port(entry.tcp)[0])
        for index, entry in enumerate(config.listen)
        if entry.tcp
    ]


def _exposure_checks(config: Config) -> list[str]:
    """No authentication on a non-loopback address only when the config says so."""
    return [
        problem
        for where, host in tcp_hosts(config)
        if not is_loopback(host) and (problem := exposure_problem(config, where))
    ]


def exposure_problem(config: Config, where: str) -> str:
    """Why vncd refuses to serve on a non-loopback address (``where`` names it) with this
    configuration; "" when it does not."""
    door = open_door(config)
    if not door or config.security.allow_unauthenticated_remote:
        return ""
    if config.security.types:
        what = f"security.types offers {_toml(door)}, which asks for no password"
        fix = f"remove {_toml(door)} from security.types"
    else:
        what = "no password"
        fix = "set server.password (or password_file)"
    return (
        f"{where} with {what}: anyone who can reach this port could control the desktop, so "
        f'vncd refuses to start; {fix}, listen on "127.0.0.1", or set [security] '
        "allow_unauthenticated_remote = true to allow it"
    )


def cross_checks(config: Config) -> list[str]:
    """The mistakes between keys, for a Config made in code (each value alone was checked
    as it was read): a reload checks the running settings with the new ones it applies."""
    return _cross_checks(config)


def _cross_checks(config: Config) -> list[str]:
    return [
        *_exposure_checks(config),
        *_limit_checks(config),
        *_password_checks(config),
        *_web_checks(config),
        *_tls_checks(config),
        *_size_checks(config),
        *_rsa_key_checks(config),
        *_security_type_checks(config),
        *_users_file_checks(config),
        *_recording_checks(config),
        *_log_checks(config),
        *_metrics_checks(config),
        *_listen_checks(config),
    ]


def _listen_checks(config: Config) -> list[str]:
    """Each [[listen]] entry names one place, a UNIX socket's directory exists, and no
    place is named twice (port 0, a free port each time, may repeat)."""
    problems, seen = [], {}
    for index, entry in enumerate(config.listen):
        where = f"listen[{index}]"
        places = [key for key in ("tcp", "unix", "systemd") if getattr(entry, key)]
        if len(places) != 1:
            problems.append(
                f"{where}: set exactly one of tcp, unix or systemd (it sets "
                f"{' and '.join(places) or 'none'})"
            )
            continue
        key = places[0]
        value = getattr(entry, key)
        where = f"{where}.{key} = {_toml(value)}"
        if key == "tcp":
            place: tuple[str, ...] = (key, *map(str, host_and_port(value)))
            if place[2] == "0":
                continue
        elif key == "unix":
            place = (key, str(Path(value).resolve()))
            if not Path(value).parent.is_dir():
                problems.append(f"{where}: its directory does not exist")
            elif Path(value).is_dir():
                problems.append(f"{where}: a directory (a socket's path is needed)")
        else:  # "*" takes every socket systemd passed, so it shares them with no entry
            place = (key, value)
            clashes = [
                seen_at
                for (kind, *name), seen_at in seen.items()
                if kind == key and ALL_INHERITED in (*name, value)
            ]
            if clashes:
                problems.append(f'{where}: listen[{clashes[0]}] takes it already ("*": all)')
                continue
        if place in seen:
            problems.append(f"{where}: listen[{seen[place]}] names it already")
        seen.setdefault(place, index)
    return problems


def _metrics_checks(config: Config) -> list[str]:
    metrics = config.metrics
    if metrics.listen and not metrics.enabled:
        return [f"metrics.listen = {_toml(metrics.listen)}: needs metrics.enabled = true"]
    return []


def _log_checks(config: Config) -> list[str]:
    """The log file's directory must exist (vncd creates the file, not directories)."""
    path = config.log.file
    if path and (Path(path).is_dir() or not Path(path).parent.is_dir()):
        what = "a directory" if Path(path).is_dir() else "its directory does not exist"
        return [f"log.file = {_toml(path)}: {what} (a file to append to is needed)"]
    return []


def _recording_checks(config: Config) -> list[str]:
    """Recording all sessions needs a directory, and a directory must exist."""
    settings = config.recording
    if settings.directory and not Path(settings.directory).is_dir():
        return [f"recording.directory = {_toml(settings.directory)}: not a directory"]
    if settings.sessions == "all" and not settings.directory:
        return ['recording.sessions = "all": needs recording.directory (where the files go)']
    return []


def _rsa_key_checks(config: Config) -> list[str]:
    """A key file that exists must hold a usable key (a missing one is generated); without
    a password RSA-AES is not offered and the key is not read."""
    path = config.rsa_key_path()
    server = config.server
    secret = server.password or server.password_file or config.security.users_file
    if not secret or not path.exists():
        return []
    try:
        serverkey.read_key(path)
    except (OSError, ValueError) as error:
        return [f"security.rsa_key = {_toml(str(path))}: {error}"]
    return []


def _users_file_checks(config: Config) -> list[str]:
    """The users file exists and every line is valid (vncd.users)."""
    path = config.security.users_file
    if not path:
        return []
    try:
        users.read_users(path)
    except OSError as error:
        return [f"security.users_file = {_toml(path)}: cannot read it: {error.strerror}"]
    except ValueError as error:
        return [f"security.users_file = {_toml(path)}: {error}"]
    return []


def _security_type_checks(config: Config) -> list[str]:
    """Each type offered has what it needs: a certificate, a password, users."""
    server, names = config.server, config.security.types
    missing = {
        "certificate": (not config.tls.certificate, "a [tls] certificate and key"),
        "password": (
            not (server.password or server.password_file),
            "server.password (or password_file)",
        ),
        "users": (not config.security.users_file, "security.users_file"),
        "secret": (
            not (server.password or server.password_file or config.security.users_file),
            "server.password (or password_file) or security.users_file",
        ),
    }
    problems = []
    for name in names:
        for need in needs_of(name):
            absent, what = missing[need]
            if absent:
                problems.append(f"security.types = {_toml(list(names))}: {name} needs {what}")
    return problems


#: Settings that name files or directories: relative paths are relative to the config file.
_PATH_SETTINGS = (
    ("server", "password_file"),
    ("http", "web_root"),
    ("tls", "certificate"),
    ("tls", "key"),
    ("security", "rsa_key"),
    ("security", "users_file"),
    ("recording", "directory"),
    ("log", "file"),
)


def _relative_to(config: Config, base_dir: str | Path) -> Config:
    for section_name, key in _PATH_SETTINGS:
        section = getattr(config, section_name)
        if value := getattr(section, key):
            section = attrs.evolve(section, **{key: str(Path(base_dir, value))})
            config = attrs.evolve(config, **{section_name: section})
    return config


def parse_config(
    text: str,
    origin: str,
    *,
    base_dir: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Parse TOML ``text``; ``origin`` (a file name) starts every problem line.

    A relative ``password_file`` is taken relative to ``base_dir`` when given. ``overrides``
    maps dotted keys (``"server.port"``) to values that replace the file's, such as command
    line options; they are checked like the file's values.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{origin}: invalid TOML: {error}"]) from None
    overrides = overrides or {}
    for dotted, value in overrides.items():
        section, key = dotted.split(".")
        table = data.setdefault(section, {})
        if isinstance(table, dict):
            table[key] = value
    try:
        config = _CONVERTER.structure(data, Config)
    except ClassValidationError as error:
        raise ConfigError(
            [
                f"{'command line' if _dotted(path) in overrides else origin}: {line}"
                for path, line in _problems(error, data, ())
            ]
        ) from None
    if base_dir is not None:
        config = _relative_to(config, base_dir)
    problems = _cross_checks(config)
    if problems:
        raise ConfigError([f"{origin}: {problem}" for problem in problems])
    return config


def load_config(path: str | Path | None, *, overrides: Mapping[str, Any] | None = None) -> Config:
    """Read a config file (None: the built-in defaults); ConfigError lists every problem."""
    if path is None:
        return parse_config("", "defaults", overrides=overrides)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError([f"{path}: cannot read it: {error.strerror}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None
    return parse_config(text, str(path), base_dir=Path(path).parent, overrides=overrides)
