"""The ``vncd`` command: run the server, check a configuration, write a password file or a
certificate.

Mistakes a user can fix (a bad config, a port in use, no display) end in one
``vncd: error: ...`` line per problem, never a traceback; ``--log-level debug`` shows the
traceback of a runtime error for whoever wants it.
"""

from __future__ import annotations

import argparse
import errno
import getpass
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from . import passwords
from .config import LOG_LEVELS, SOURCE_KINDS, Config, ConfigError, load_config
from .groups import leaves

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
    options = {
        "server.host": args.host,
        "server.port": args.port,
        "source.kind": args.source,
        "log.level": args.log_level,
    }
    config = load_config(
        _config_path(args),
        overrides={key: value for key, value in options.items() if value is not None},
    )
    logging.basicConfig(
        level=config.log.level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for warning in config.warnings():
        log.warning("%s", warning)
    # Imported here so that `check` and `passwd` work without loading the server.
    import trio

    from .server import serve
    from .sources import SourceError

    status = 0
    try:
        trio.run(serve, config)
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


def _prompt(what: str) -> str:
    first = getpass.getpass(f"{what}: ")
    if getpass.getpass(f"Verify {what.lower()}: ") != first:
        raise _UsageError("the passwords do not match")
    return first


def _passwd(args: argparse.Namespace) -> int:
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
        description="Serve the configured source to VNC viewers until Ctrl-C or SIGTERM. "
        "The options override the configuration file.",
    )
    run.add_argument("config", nargs="?", type=Path, metavar="CONFIG", help=config_help)
    run.add_argument("--host", help="address to listen on, e.g. 0.0.0.0 (server.host)")
    run.add_argument("--port", type=int, help="TCP port; 0 picks a free one (server.port)")
    run.add_argument(
        "--source",
        choices=SOURCE_KINDS,
        help="what to serve: auto, the demo desktop, an X display, a new Xvfb (source.kind)",
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
        help="write a vncpasswd-format password file",
        description="Write a password file in the vncpasswd format that TigerVNC, RealVNC and "
        "x11vnc use (mode 0600); point server.password_file at it.",
    )
    passwd.add_argument("file", type=Path, metavar="FILE", help="the file to write")
    passwd.add_argument(
        "--stdin",
        action="store_true",
        help="read the password (then the view-only password) from standard input, one per "
        "line, instead of prompting",
    )
    passwd.add_argument(
        "--view-only",
        action="store_true",
        help="also set a second password that gives view-only sessions",
    )
    passwd.set_defaults(handler=_passwd)

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
    return parser


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
