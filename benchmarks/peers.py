"""The servers the side-by-side bench compares, how each is started, and what the bench
reads about a running one from /proc (CPU time, resident memory, listening ports).

Every server serves the bench's display on 127.0.0.1 only, without a password, with its own
defaults otherwise:

- vncd: ``vncd run CONFIG`` with ``[source] kind = "x11"`` and that display (and, for the
  full-frame phase's H.264 figures only, a second vncd with ``[encodings] h264 = true``);
- x0vncserver (TigerVNC 1.12, ``X0tigervnc`` in Debian): ``-SecurityTypes None -localhost
  -interface 127.0.0.1``;
- x11vnc 0.9.16: ``-nonap`` (else it "naps" when idle and falls to ~1 update/s), ``-shared
  -forever -nopw -localhost``.

The peers come from Debian packages, installed with the project's own ``apt_install``
(scripts/_setup.sh) when missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import attrs

REPOSITORY = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 20.0
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@attrs.frozen
class Peer:
    """A server the bench can run: its programs (any one will do), the Debian packages that
    bring them, and how to start it on a display and port (``workdir`` for its files)."""

    name: str
    programs: tuple[str, ...]
    packages: tuple[str, ...]
    argv: Callable[[str, str, int, Path], list[str]]
    version_argv: tuple[str, ...] = ()
    #: How to start it offering Open H.264, for a server that can but does not by default.
    h264_argv: Callable[[str, str, int, Path], list[str]] | None = None

    def program(self) -> str | None:
        for program in self.programs:
            found = shutil.which(program)
            if found:
                return found
        return None

    def version(self) -> str:
        program = self.program()
        if program is None or not self.version_argv:
            return ""
        try:
            result = subprocess.run(
                [program, *self.version_argv], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        lines = (result.stdout + result.stderr).strip().splitlines()
        return lines[0].strip() if lines else ""


def _vncd_program() -> str | None:
    """The vncd next to the interpreter running the bench (``.venv/bin/vncd``)."""
    candidate = Path(sys.executable).with_name("vncd")
    return str(candidate) if candidate.exists() else shutil.which("vncd")


def _vncd_argv(
    program: str, display: str, port: int, workdir: Path, *, h264: bool = False
) -> list[str]:
    config = workdir / "vncd.toml"
    config.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {port}\n\n'
        f'[source]\nkind = "x11"\ndisplay = "{display}"\n'
        + ("\n[encodings]\nh264 = true\n" if h264 else "")
    )
    return [program, "run", str(config)]


def _vncd_h264_argv(program: str, display: str, port: int, workdir: Path) -> list[str]:
    return _vncd_argv(program, display, port, workdir, h264=True)


def _x0vncserver_argv(program: str, display: str, port: int, workdir: Path) -> list[str]:
    return [
        *(program, "-display", display, "-rfbport", str(port)),
        *("-SecurityTypes", "None", "-localhost", "-interface", "127.0.0.1"),
    ]


def _x11vnc_argv(program: str, display: str, port: int, workdir: Path) -> list[str]:
    return [
        *(program, "-nonap", "-shared", "-forever", "-nopw"),
        *("-display", display, "-rfbport", str(port), "-localhost"),
    ]


class _Vncd(Peer):
    def program(self) -> str | None:
        return _vncd_program()

    def version(self) -> str:
        try:
            commit = subprocess.run(
                ["git", "-C", str(REPOSITORY), "describe", "--always", "--dirty"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            commit = ""
        return f"vncd {commit}".strip()


PEERS: dict[str, Peer] = {
    "vncd": _Vncd("vncd", ("vncd",), (), _vncd_argv, h264_argv=_vncd_h264_argv),
    "x0vncserver": Peer(
        "x0vncserver",
        ("X0tigervnc", "x0vncserver"),
        ("tigervnc-scraping-server",),
        _x0vncserver_argv,
        ("--version",),
    ),
    "x11vnc": Peer("x11vnc", ("x11vnc",), ("x11vnc",), _x11vnc_argv, ("-version",)),
}
#: What the scene needs besides the servers: program → Debian package.
SCENE_PROGRAMS = {"Xvfb": "xvfb", "xterm": "xterm"}


def ensure_installed(peers: list[Peer]) -> None:
    """Install the Debian packages of whatever is missing (scripts/_setup.sh's apt_install:
    apt-get as root, else through sudo). A failure is left for the peer's start to report."""
    packages = [
        package for program, package in SCENE_PROGRAMS.items() if shutil.which(program) is None
    ]
    packages += [package for peer in peers if peer.program() is None for package in peer.packages]
    if not packages:
        return
    command = 'source scripts/_setup.sh && apt_install "$@"'
    subprocess.run(
        ["bash", "-c", command, "sidebyside", *dict.fromkeys(packages)],
        cwd=REPOSITORY,
        check=False,
    )


def free_port() -> int:
    """A port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    """Whether something listens on ``port`` (read from /proc/net, so that no probe
    connection counts against a server's blacklist of unfinished handshakes)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


class RunningServer:
    """One server process on the bench's display; ``stop()`` ends it (SIGTERM, then KILL).
    ``h264``: started with Open H.264 offered (``Peer.h264_argv``)."""

    def __init__(
        self, peer: Peer, display: str, env: dict[str, str], workdir: Path, *, h264: bool = False
    ) -> None:
        program = peer.program()
        if program is None:
            raise RuntimeError(f"{peer.name} is not installed ({', '.join(peer.programs)})")
        argv = peer.h264_argv if h264 else peer.argv
        if argv is None:
            raise RuntimeError(f"{peer.name} cannot be started with Open H.264")
        self.peer = peer
        self.port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"{peer.name}.log"
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                argv(program, display, self.port, workdir),
                env=env,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while not listening(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{peer.name} did not start: {self.log_tail()}")
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1] if lines else f"exit status {self.process.poll()}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --- /proc ---------------------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a server that forks workers pays for them too)."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, ()))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid``'s process tree, all threads (/proc/PID/stat fields
    14 and 15, in clock ticks of 1/SC_CLK_TCK s)."""
    total = 0
    for member in _tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid``'s process tree (/proc/PID/statm, second field)."""
    total = 0
    for member in _tree(pid):
        try:
            total += int(Path(f"/proc/{member}/statm").read_text().split()[1]) * _PAGE
        except OSError:
            continue
    return total


@attrs.frozen
class CpuReading:
    """CPU seconds of the server and of Xvfb at a moment (perf_counter seconds)."""

    at: float
    server: float
    xvfb: float


@attrs.frozen
class CpuUse:
    """CPU over a window, in % of one core: the server's, and the X server's (capture by
    XShm or GetImage costs the X server too)."""

    server: float
    xvfb: float
    seconds: float


class CpuMeter:
    """Reads the server's and Xvfb's CPU time; ``between`` turns two readings into %."""

    def __init__(self, server_pid: int, xvfb_pid: int) -> None:
        self.server_pid = server_pid
        self.xvfb_pid = xvfb_pid

    def read(self) -> CpuReading:
        return CpuReading(
            time.perf_counter(), cpu_seconds(self.server_pid), cpu_seconds(self.xvfb_pid)
        )

    @staticmethod
    def between(start: CpuReading, end: CpuReading) -> CpuUse:
        seconds = end.at - start.at
        return CpuUse(
            100 * (end.server - start.server) / seconds,
            100 * (end.xvfb - start.xvfb) / seconds,
            seconds,
        )

    def over(self, seconds: float) -> CpuUse:
        """CPU use over the next ``seconds``."""
        start = self.read()
        time.sleep(seconds)
        return self.between(start, self.read())
