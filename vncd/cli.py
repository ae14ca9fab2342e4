"""The ``vncd`` command: run the server, check a configuration, write a password file or a
certificate.

Mistakes a user can fix (a bad config, a port in use, no display) end in one
``vncd: error: ...`` line per problem, never a traceback; ``--log-level debug`` shows the
traceback of a runtime error for whoever wants it.
"""

from __future__ import annotations

import argparse
import errno
import functools
import getpass
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import logs, passwords, users
from .config import LOG_LEVELS, SOURCE_KINDS, Config, ConfigError, load_config
from .groups import leaves

if TYPE_CHECKING:
    from .sources import Source

DEFAULT_CONFIG = Path("etc/vncd.toml")
EXIT_FAILURE = 1  # the server could not start or stopped on an error
EXIT_USAGE = 2  # bad configuration or arguments (argparse uses 2 as well)

log = logging.getLogger("vncd")


class _UsageError(Exception):
    """Bad input to a command; main() prints it and exits with EXIT_USAGE."""


def _error(message: str) -> None:
    print(f"vncd: error: {message}", file=sys.stderr)


def _warning(message: str) -> None:
    print(f"vncd: warning: {message}", file=sys.stderr)


def _config_path(args: argparse.Namespace) -> Path | None:
    if args.config is not None:
        return args.config
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def _run(args: argparse.Namespace) -> int:
    return _serve(
        args,
        {
            "server.host": args.host,
            "server.port": args.port,
            "source.kind": args.source,
            "log.level": args.log_level,
        },
    )


def _serve(
    args: argparse.Namespace,
    options: dict[str, object],
    open_source: Callable[[], Source] | None = None,
) -> int:
    """Serve with the configuration and ``options`` (None values: the file's); a given
    ``open_source`` (called once logging is set up) makes the source instead of [source]."""
    load = functools.partial(
        load_config,
        _config_path(args),
        overrides={key: value for key, value in options.items() if value is not None},
    )
    config = load()
    from .listeners import inherited_sockets, plan

    plan(config, inherited_sockets())  # sockets systemd passed against [[listen]]: exit 2
    try:
        logs.configure(config.log.level, config.log.format, config.log.file)
    except OSError as error:
        where = f"log.file = {json.dumps(config.log.file)}"
        raise ConfigError([f"{where}: cannot open it: {error.strerror}"]) from None
    for warning in config.warnings():
        log.warning("%s", warning)
    # Imported here so that `check` and `passwd` work without loading the server.
    import trio

    from .server import serve
    from .sources import SourceError

    status = 0
    try:
        source = open_source() if open_source else None
        trio.run(functools.partial(serve, config, source=source, load=load))
    except* KeyboardInterrupt:
        pass  # Ctrl-C before serve() took over SIGINT: a normal stop
    except* (SourceError, OSError, ConfigError) as group:
        for error in leaves(group):
            log.debug("stopped on an error", exc_info=error)
            _error(_describe(error, config))
        status = EXIT_FAILURE
    if status == 0:
        log.info("stopped")
    return status


def _replay(args: argparse.Namespace) -> int:
    """Serve a recording (vncd.sources.replay), or write it out as PNG files."""
    from .replay import Playback, ReplayError, export_png
    from .sources.replay import ReplaySource, check_speed

    try:
        speed = check_speed(args.speed)
    except ValueError as error:
        raise _UsageError(str(error)) from None
    if args.every is not None and args.export_png is None:
        raise _UsageError("--every goes with --export-png")
    if args.export_png is not None:
        try:
            with Playback.open(args.file) as playback:
                written = export_png(playback, args.export_png, args.every or 0)
        except (ReplayError, OSError) as error:
            _error(str(error))
            return EXIT_FAILURE
        print(f"# wrote {len(written)} PNG files into {args.export_png}")
        return 0
    options = {
        "server.host": args.host,
        "server.port": args.port,
        "log.level": args.log_level,
        "recording.sessions": "none",
    }
    try:
        playback = Playback.open(args.file)
    except ReplayError as error:
        _error(str(error))
        return EXIT_FAILURE
    return _serve(args, options, lambda: ReplaySource(playback, speed))


def _describe(error: BaseException, config: Config) -> str:
    if isinstance(error, OSError) and error.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
        # Some Trio versions leave the address out of a bind error.
        where = f"{config.server.host} port {config.server.port}"
        return f"cannot listen on {where}: {os.strerror(error.errno)}"
    return str(error)


def _check(args: argparse.Namespace) -> int:
    path = _config_path(args)
    config = load_config(path)
    for warning in config.warnings():
        _warning(warning)
    origin = f"from {path}" if path else f"built-in defaults: {DEFAULT_CONFIG} does not exist"
    print(f"# effective configuration ({origin})")
    print(config.to_toml(), end="")
    return 0


def _control(args: argparse.Namespace) -> int:
    """Ask a running vncd through its control socket (vncd.control) and print the answer."""
    from . import control

    path = args.socket or control.socket_path(load_config(_config_path(args)).control.socket)
    if path is None:
        _error('the control socket is off ([control] socket = "off"); --socket names one')
        return EXIT_FAILURE
    try:
        reply = control.ask(path, args.request(args))
    except control.ControlUnavailable as error:
        _error(str(error))
        return EXIT_FAILURE
    if not reply["ok"]:
        _error(reply["error"])
        return EXIT_FAILURE
    show = getattr(control, args.show)
    print(json.dumps(reply, indent=2) if getattr(args, "json", False) else show(reply))
    return 0


def _prompt(what: str) -> str:
    first = getpass.getpass(f"{what}: ")
    if getpass.getpass(f"Verify {what.lower()}: ") != first:
        raise _UsageError("the passwords do not match")
    return first


def _passwd(args: argparse.Namespace) -> int:
    if args.user is not None:
        return _passwd_user(args)
    if args.delete:
        raise _UsageError("--delete needs --user NAME")
    names = ["password", "view-only password"] if args.view_only else ["password"]
    if args.stdin:
        given = sys.stdin.read().splitlines()
        if len(given) < len(names):
            raise _UsageError(f"expected {' and '.join(names)} on standard input, one per line")
    else:
        try:
            given = [_prompt(name.capitalize()) for name in names]
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)
            return EXIT_FAILURE
    for name, password in zip(names, given, strict=False):
        if not password:
            raise _UsageError(f"the {name} is empty")
        try:
            passwords.password_bytes(password)
        except ValueError as error:
            raise _UsageError(f"the {name} {error}") from None
        if len(password) > passwords.MAX_LENGTH:
            _warning(
                f"the {name} has {len(password)} characters; VNC authentication uses only "
                f"the first {passwords.MAX_LENGTH}"
            )
    try:
        passwords.write_password_file(args.file, *given[: len(names)])
    except OSError as error:
        _error(f"cannot write {args.file}: {error.strerror}")
        return EXIT_FAILURE
    return 0


def _passwd_user(args: argparse.Namespace) -> int:
    """Add, change or (--delete) remove one user of a users file (vncd.users)."""
    try:
        name = users.check_name(args.user)
    except ValueError as error:
        raise _UsageError(f"--user: {error}") from None
    try:
        book = users.read_users(args.file) if args.file.exists() else {}
    except (OSError, ValueError) as error:
        _error(f"cannot read the users file {args.file}: {error}")
        return EXIT_FAILURE
    if args.delete:
        if book.pop(name, None) is None:
            raise _UsageError(f"{args.file} has no user {name!r}")
    else:
        if args.stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            try:
                password = _prompt(f"Password for {name}")
            except (EOFError, KeyboardInterrupt):
                print(file=sys.stderr)
                return EXIT_FAILURE
        if not password:
            raise _UsageError("the password is empty")
        book[name] = users.User(name, users.hash_password(password), view_only=args.view_only)
    try:
        users.write_users(args.file, book)
    except OSError as error:
        _error(f"cannot write {args.file}: {error.strerror}")
        return EXIT_FAILURE
    return 0


def _cert(args: argparse.Namespace) -> int:
    from .certificate import write_self_signed

    names = args.name or [socket.gethostname(), "localhost", "127.0.0.1", "::1"]
    try:
        certificate, key = write_self_signed(args.directory, list(dict.fromkeys(names)))
    except (OSError, RuntimeError, subprocess.CalledProcessError) as error:
        _error(f"cannot write the certificate: {error}")
        return EXIT_FAILURE
    print(f"# wrote {certificate} and {key} (mode 0600), for: {', '.join(names)}")
    print("# in the configuration:")
    print(f'[tls]\ncertificate = "{certificate.resolve()}"\nkey = "{key.resolve()}"')
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vncd",
        description="A VNC (RFB) server: serves a demo desktop, an X display or a private "
        "Xvfb to any VNC viewer.",
        epilog="Run `vncd COMMAND --help` for a command's options.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    config_help = (
        f"the TOML configuration file (default: {DEFAULT_CONFIG} if it exists, "
        "else the built-in defaults)"
    )

    run = commands.add_parser(
        "run",
        help="serve until interrupted",
        description="Serve the configured source to VNC viewers until Ctrl-C or SIGTERM; "
        "SIGHUP reloads the configuration, as `vncd reload` does. "
        "The options override the configuration file.",
    )
    run.add_argument("config", nargs="?", type=Path, metavar="CONFIG", help=config_help)
    run.add_argument("--host", help="address to listen on, e.g. 0.0.0.0 (server.host)")
    run.add_argument("--port", type=int, help="TCP port; 0 picks a free one (server.port)")
    run.add_argument(
        "--source",
        choices=SOURCE_KINDS,
        help="what to serve: auto, the demo desktop, an X display, a new Xvfb, this machine's "
        "desktop through mss and pynput (source.kind)",
    )
    run.add_argument("--log-level", choices=LOG_LEVELS, help="how much to log (log.level)")
    run.set_defaults(handler=_run)

    check = commands.add_parser(
        "check",
        help="validate a configuration and print it",
        description="Validate the configuration and print the effective settings (passwords "
        "hidden). Exit status 0 if it is valid, 2 if not.",
    )
    check.add_argument("config", nargs="?", type=Path, metavar="CONFIG", help=config_help)
    check.set_defaults(handler=_check)

    passwd = commands.add_parser(
        "passwd",
        help="write a vncpasswd-format password file, or a user into a users file",
        description="Write a password file in the vncpasswd format that TigerVNC, RealVNC and "
        "x11vnc use (mode 0600); point server.password_file at it. With --user, add or change "
        "that user in a users file instead (salted scrypt hashes, mode 0600); point "
        "security.users_file at it.",
    )
    passwd.add_argument("file", type=Path, metavar="FILE", help="the file to write")
    passwd.add_argument(
        "--user",
        metavar="NAME",
        help="add or change this user in the users file FILE (kept are the others)",
    )
    passwd.add_argument(
        "--stdin",
        action="store_true",
        help="read the password (then the view-only password) from standard input, one per "
        "line, instead of prompting",
    )
    passwd.add_argument(
        "--view-only",
        action="store_true",
        help="also set a second password that gives view-only sessions; with --user: the "
        "user's sessions are view-only",
    )
    passwd.add_argument("--delete", action="store_true", help="with --user: remove the user")
    passwd.set_defaults(handler=_passwd)

    replay = commands.add_parser(
        "replay",
        help="serve a recording (FBS) to viewers, or write it out as PNG files",
        description="Serve an FBS recording (vncd's [recording], rfbproxy, VNC Reflector) to "
        "VNC viewers and browsers as a desktop, at its recorded pace or --speed times faster; "
        "when it ends its last picture stays. With --export-png, decode it into one PNG file "
        "per update instead, named by milliseconds since the start.",
    )
    replay.add_argument("file", type=Path, metavar="FILE", help="the recording")
    replay.add_argument(
        "--speed", type=float, default=1.0, help="play this many times faster (default: 1)"
    )
    replay.add_argument("--config", type=Path, help=config_help)
    replay.add_argument("--host", help="address to listen on (server.host)")
    replay.add_argument("--port", type=int, help="TCP port; 0 picks a free one (server.port)")
    replay.add_argument("--log-level", choices=LOG_LEVELS, help="how much to log (log.level)")
    replay.add_argument(
        "--export-png", type=Path, metavar="DIR", help="write PNG files into DIR, serve nothing"
    )
    replay.add_argument(
        "--every",
        type=int,
        metavar="MS",
        help="with --export-png: at most one file per MS milliseconds of the recording (and "
        "always the last picture)",
    )
    replay.set_defaults(handler=_replay)

    cert = commands.add_parser(
        "cert",
        help="write a self-signed TLS certificate and key",
        description="Write cert.pem and key.pem (mode 0600) into DIRECTORY: a self-signed "
        "certificate for a first run with TLS (https://, wss://, VeNCrypt X509*); point [tls] "
        "at them, and viewers at cert.pem as their CA (TigerVNC: -X509CA cert.pem).",
    )
    cert.add_argument("directory", type=Path, metavar="DIRECTORY", help="where to write them")
    cert.add_argument(
        "--name",
        action="append",
        help="a host name or IP address the certificate is for (repeatable; default: this "
        "host's name, localhost, 127.0.0.1 and ::1)",
    )
    cert.set_defaults(handler=_cert)
    _control_parsers(commands, config_help)
    return parser


def _control_parsers(commands: Any, config_help: str) -> None:
    """status, clients, disconnect, record, reload: requests to the control socket; ``show``
    names vncd.control's function that formats the reply."""

    def command(name: str, about: str, request: Callable, show: str) -> argparse.ArgumentParser:
        parser = commands.add_parser(
            name,
            help=about,
            description=f"{about[0].upper()}{about[1:]}, through its control socket ([control] "
            "socket). Exit status 1 when vncd is not running or refuses.",
        )
        parser.add_argument("--socket", type=Path, help="the control socket (default: CONFIG's)")
        parser.add_argument("--config", type=Path, help=config_help)
        parser.set_defaults(handler=_control, request=request, show=show)
        return parser

    for name, about in (
        ("status", "show what the running vncd serves, where it listens and its viewer count"),
        ("clients", "list the viewers of the running vncd"),
    ):
        parser = command(name, about, lambda args: {"command": args.command}, f"format_{name}")
        parser.add_argument("--json", action="store_true", help="print the JSON reply instead")
    disconnect = command(
        "disconnect",
        "disconnect one viewer of the running vncd",
        lambda args: {"command": "disconnect", "id": args.id},
        "format_disconnect",
    )
    record = command(
        "record",
        "start or stop recording one viewer of the running vncd ([recording] directory)",
        lambda args: {"command": "record", "id": args.id, "action": args.action},
        "format_record",
    )
    for parser in (disconnect, record):
        parser.add_argument("id", type=int, metavar="ID", help="the viewer's id (vncd clients)")
    record.add_argument("action", choices=("start", "stop"))
    command(
        "reload",
        "read the configuration file again and apply what can change while vncd runs",
        lambda args: {"command": "reload"},
        "format_reload",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vncd`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return args.handler(args)
    except ConfigError as error:
        for problem in error.problems:
            _error(problem)
        return EXIT_USAGE
    except _UsageError as error:
        _error(str(error))
        return EXIT_USAGE
