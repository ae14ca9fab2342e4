"""`python -m vncd run` in a subprocess, as a user starts it: the interop and browser tests'
server, stopped with SIGTERM (which must end it cleanly) and restartable on the same port."""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

STARTUP_SECONDS = 20
#: vncd's log line for each listening socket (vncd/server.py).
LISTENING = re.compile(r"listening on \S+ port ([0-9]+)")
#: What vncd says when its port is taken (vncd/cli.py).
PORT_TAKEN = os.strerror(errno.EADDRINUSE)
#: Ports that display-number viewers (host:N, port 5900 + N) reach, below the taps' (rfbtap).
VNC_DISPLAY_PORTS = range(5990, 6400)


def x11_source(display: str) -> str:
    """The [source] table that serves X display ``display``."""
    return f'[source]\nkind = "x11"\ndisplay = "{display}"\n'


def _looks_free(port: int) -> bool:
    """Whether ``port`` can be bound now (someone may take it before vncd does)."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class PortTaken(RuntimeError):
    """vncd could not start: its port was in use."""


class VncdProcess:
    """`python -m vncd run` with a config file (config text after [server]'s host and port),
    its files named after ``path``; ``start()`` again after ``stop()`` reuses the port.
    ``log_path`` is the latest start's log (vncd logs at debug level), None before one.

    Port 0 lets vncd pick a port, read from its log: a port picked here could be taken by
    someone else before vncd binds it, and Chromium refuses some ports (6000, X11's) that a
    scan from 5900 up would find. Display-number viewers need a port near 5900:
    ``start_in(VNC_DISPLAY_PORTS)``.

    ``command`` runs vncd (an installed `vncd` script, say) in ``cwd`` with environment ``env``
    (None: this process's)."""

    def __init__(
        self,
        path: Path,
        config: str,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        command: Sequence[str] = (sys.executable, "-m", "vncd"),
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.path = path
        self.command = command
        self.cwd = cwd
        self.env = env
        self.config = config
        self.port = port
        self.host = host
        self.starts = 0
        self.log_path: Path | None = None
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Run vncd and wait until it listens; ``port`` becomes the port it bound."""
        config_path = self.path.with_suffix(".toml")
        config_path.write_text(f'[server]\nhost = "{self.host}"\nport = {self.port}\n{self.config}')
        self.log_path = log_path = self.path.with_name(f"{self.path.name}-{self.starts}.log")
        self.starts += 1
        with log_path.open("w") as log:
            self.process = subprocess.Popen(
                [*self.command, "run", str(config_path), "--log-level", "debug"],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=self.env,
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while not (found := LISTENING.search(log_path.read_text())):
            if self.process.poll() is not None or time.monotonic() > deadline:
                process, self.process = self.process, None
                process.kill()
                process.wait()
                text = log_path.read_text()
                failure = PortTaken if PORT_TAKEN in text else RuntimeError
                raise failure(f"vncd did not start; its log:\n{text}")
            time.sleep(0.05)
        self.port = int(found[1])

    def start_in(self, ports: range) -> None:
        """``start()`` on the first port of ``ports`` vncd can bind. A port found free here
        may still be taken (by another test, an xdist worker, any process) before vncd binds
        it: vncd then stops saying so, and the next port is tried."""
        for port in filter(_looks_free, ports):
            self.port = port
            with contextlib.suppress(PortTaken):
                self.start()
                return
        raise RuntimeError(f"vncd found no free port in {ports}")

    def stop(self) -> None:
        """SIGTERM, which must end vncd cleanly (exit status 0); nothing if not running."""
        if self.process is None:
            return
        process, self.process = self.process, None
        process.terminate()
        try:
            assert process.wait(10) == 0, "vncd did not exit cleanly on SIGTERM"
        finally:
            process.kill()

    def url(self, scheme: str = "http") -> str:
        """The web client's address on this server."""
        return f"{scheme}://127.0.0.1:{self.port}/"


@contextlib.contextmanager
def vncd_launcher(directory: Path) -> Iterator[Callable[..., VncdProcess]]:
    """``start(config, port=0)``: a started VncdProcess with its files in ``directory``, on
    ``port`` or, given a range, on the first of it that vncd can bind; every one started is
    stopped when the block ends."""
    numbers = itertools.count()
    with contextlib.ExitStack() as stack:

        def start(config: str, port: int | range = 0) -> VncdProcess:
            server = VncdProcess(directory / f"vncd-{next(numbers)}", config)
            stack.callback(server.stop)
            if isinstance(port, range):
                server.start_in(port)
            else:
                server.port = port
                server.start()
            return server

        yield start
