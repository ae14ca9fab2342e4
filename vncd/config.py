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
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from . import passwords, serverkey
from .policy import INPUT_MODES, SHARING_MODES
from .resize import RESIZE_POLICIES
from .transports import MODES, is_loopback, parse_origin, server_context
from .vencrypt import TYPE_NAMES, needs_of

SOURCE_KINDS = ("auto", "demo", "x11", "xvfb")
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


def _origins(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError('must be a list of origins, e.g. ["https://example.com:8443"], or ["*"]')
    for item in value:
        if item != "*":
            parse_origin(item)
    return tuple(value)


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


def _users(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(name, str) and isinstance(password, str) and password
        for name, password in value.items()
    ):
        raise ValueError('must be a table of user = "password" (non-empty passwords)')
    return dict(value)


def _setting(default: Any, check: Check) -> Any:
    return attrs.field(default=default, metadata={"check": check})


# --- The sections ------------------------------------------------------------------------


@attrs.frozen
class ServerConfig:
    """[server]: where to listen and who may connect."""

    host: str = _setting("127.0.0.1", _host)
    port: int = _setting(5900, _integer(0, 65535, " (0 picks a free port)"))
    password: str = _setting("", _password)
    view_only_password: str = _setting("", _password)
    password_file: str = _setting("", _text)
    max_connections: int = _setting(64, _integer(1, 1000))
    name: str = _setting("", _text)
    mode: str = _setting("auto", _one_of(*MODES))
    detect_ms: int = _setting(50, _integer(1, 1000, " (milliseconds)"))


@attrs.frozen
class SourceConfig:
    """[source]: what is served (geometry applies to the sources that create a desktop)."""

    kind: str = _setting("auto", _one_of(*SOURCE_KINDS))
    display: str = _setting("", _text)
    geometry: tuple[int, int] = _setting((1280, 800), _geometry)
    command: str = _setting("xterm", _text)
    resize: str = _setting("any", _one_of(*RESIZE_POLICIES))
    max_size: tuple[int, int] = _setting((3840, 2160), _geometry)


@attrs.frozen
class CaptureConfig:
    """[capture]."""

    max_fps: int = _setting(60, _integer(1, 240))


@attrs.frozen
class EncodingsConfig:
    """[encodings]: which optional encodings vncd offers to viewers that ask for them, and
    how lossy areas are made exact."""

    h264: bool = _setting(False, _boolean)
    lossless_refresh_ms: int = _setting(50, _integer(0, 60_000, " (milliseconds, 0 = off)"))


@attrs.frozen
class LimitsConfig:
    """[limits]: caps on what one client may make the server hold."""

    max_cut_text: int = _setting(1 << 20, _integer(0, 64 << 20, " (bytes, at most 64 MiB)"))
    max_encodings: int = _setting(1024, _integer(1, 65535))
    handshake_seconds: int = _setting(10, _integer(1, 300, " (seconds)"))
    max_unauthenticated: int = _setting(32, _integer(1, 1000))
    max_unauthenticated_per_address: int = _setting(8, _integer(1, 1000))
    auth_failures: int = _setting(5, _integer(1, 1000))
    auth_backoff_seconds: int = _setting(10, _integer(1, 3600, " (seconds)"))
    auth_backoff_max_seconds: int = _setting(30, _integer(1, 86400, " (seconds)"))


@attrs.frozen
class LogConfig:
    """[log]."""

    level: str = _setting("info", _one_of(*LOG_LEVELS))


@attrs.frozen
class HttpConfig:
    """[http]: what browsers get on the RFB port."""

    web_root: str = _setting("", _text)


@attrs.frozen
class WebSocketConfig:
    """[websocket]: browser viewers (noVNC)."""

    allowed_origins: tuple[str, ...] = _setting((), _origins)
    max_message_size: int = _setting(
        2 << 20, _integer(1024, 128 << 20, " (bytes, at most 128 MiB)")
    )
    ping_interval: int = _setting(30, _integer(0, 3600, " (seconds; 0 = no pings)"))


@attrs.frozen
class TlsConfig:
    """[tls]: certificate and key for https:// and wss:// on the RFB port."""

    certificate: str = _setting("", _text)
    key: str = _setting("", _text)


@attrs.frozen
class ViewersConfig:
    """[viewers]: who drives the desktop, who may share it, how long a viewer may stay
    (vncd.policy)."""

    input: str = _setting("shared", _one_of(*INPUT_MODES))
    takeover_idle_seconds: int = _setting(0, _integer(0, 604800, " (seconds; 0 = never)"))
    sharing: str = _setting("disconnect-others", _one_of(*SHARING_MODES))
    idle_timeout_seconds: int = _setting(0, _integer(0, 604800, " (seconds; 0 = never)"))
    max_session_seconds: int = _setting(0, _integer(0, 604800, " (seconds; 0 = unlimited)"))
    view_only: bool = _setting(False, _boolean)


@attrs.frozen
class SecurityConfig:
    """[security]: what vncd refuses to do unless told."""

    allow_unauthenticated_remote: bool = _setting(False, _boolean)
    #: The RSA-AES server key (PEM); "" = serverkey.default_path(). Made on first use.
    rsa_key: str = _setting("", _text)
    #: What plain-TCP viewers are offered, in order (vncd.vencrypt.TYPE_NAMES); () = the
    #: automatic offer (VNC authentication with a password, else None).
    types: tuple[str, ...] = _setting((), _security_types)
    #: Plain's users (VeNCrypt Plain, TLSPlain, X509Plain): name → password.
    users: Mapping[str, str] = _setting({}, _users)


_SECRETS = {"password", "view_only_password", "users"}


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
        no_password = not (server.password or server.password_file)
        if no_password and not is_loopback(server.host):
            found.append(
                f"server.host = {_toml(server.host)} and no password: anyone who can reach "
                "this port can control the desktop"
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
            lines.append(f"[{section}]")
            for key, value in values.items():
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
    )
    for section in sections:
        hooks = {
            field.name: override(struct_hook=_field_hook(field.metadata["check"]))
            for field in attrs.fields(section)
        }
        converter.register_structure_hook(
            section, _table_hook(make_dict_structure_fn(section, converter, **hooks))
        )
    size = override(unstruct_hook=lambda size: f"{size[0]}x{size[1]}")
    converter.register_unstructure_hook(
        SourceConfig,
        make_dict_unstructure_fn(SourceConfig, converter, geometry=size, max_size=size),
    )
    return converter


_CONVERTER = _make_converter()


def _problems(
    error: BaseException, data: Mapping[str, Any], path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], str]]:
    """Flatten cattrs' tree of errors into (key path, one line) pairs."""
    if isinstance(error, ClassValidationError):
        with_notes, without_notes = error.group_exceptions()
        for inner, note in with_notes:
            yield from _problems(inner, data, (*path, note.name))
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
            yield (*path, key), f"{'.'.join((*path, key))}: {what}"
    else:
        value: Any = data
        for key in path:
            value = value[key]
        yield path, f"{'.'.join(path)} = {_toml(value)}: {error}"


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
    """A desktop that starts larger than viewers may make it (x11 serves the display's own
    size, and with resize = "none" nobody resizes)."""
    source = config.source
    if source.kind == "x11" or source.resize == "none":
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


def _exposure_checks(config: Config) -> list[str]:
    """No authentication on a non-loopback address only when the config says so."""
    server = config.server
    if server.password or server.password_file or is_loopback(server.host):
        return []
    if config.security.allow_unauthenticated_remote:
        return []
    return [
        f"server.host = {_toml(server.host)} with no password: anyone who can reach this "
        "port could control the desktop, so vncd refuses to start; set server.password (or "
        'password_file), listen on "127.0.0.1", or set [security] '
        "allow_unauthenticated_remote = true to allow it"
    ]


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
    ]


def _rsa_key_checks(config: Config) -> list[str]:
    """A key file that exists must hold a usable key (a missing one is generated); without
    a password RSA-AES is not offered and the key is not read."""
    path = config.rsa_key_path()
    if not (config.server.password or config.server.password_file) or not path.exists():
        return []
    try:
        serverkey.read_key(path)
    except (OSError, ValueError) as error:
        return [f"security.rsa_key = {_toml(str(path))}: {error}"]
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
        "users": (not config.security.users, "[security] users"),
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
                f"{'command line' if '.'.join(path) in overrides else origin}: {line}"
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
