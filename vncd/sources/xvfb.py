"""A private Xvfb plus a session command, served by the X11 source: headless appliance mode.

Like TigerVNC's Xvnc, but in two processes: Xvfb draws the desktop, ``X11Source`` captures it
and injects input exactly as it does for any other display.  Xvfb picks a free display number
itself and reports it through ``-displayfd``, so concurrent instances never race for one.

Resizing (a viewer's SetDesktopSize) goes through RandR like on any display (``x11_randr``),
but Xvfb's screen can never grow past the framebuffer it allocated at start. So when viewers
may resize, Xvfb starts at ``max_size`` and is shrunk to ``geometry`` before the session
starts. That framebuffer is all resident from the start (Xvfb paints the whole root once, and
``-background none`` does not stop it): 4 bytes a pixel. Measured here, Xvfb's RSS: 67 MB
started at 1280x800, 95 MB at 3840x2160, 190 MB at 7680x4320, 319 MB at 8192x8192, the same
after shrinking; ``-shmem`` and ``-fbdir`` only move it into shared or file pages, and
``+xinerama`` changes nothing. Resizing itself takes 1-5 ms. The alternatives: restarting
Xvfb at the new size ends the session's clients; TigerVNC's Xvnc reallocates its framebuffer
on a RandR resize (RSS 70 MB at 1280x800, 98 MB at 3840x2160, 193 MB at 7680x4320, 70 MB
again back at 1280x800; 12-60 ms), but it is another X server to depend on, and a VNC server
of its own; 32 MiB more for 3840x2160, paid only when resizing is allowed, is simpler.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path

import trio

from ._xconnection import open_display
from .base import SourceError
from .x11 import X11Source
from .x11_randr import ScreenResizer

log = logging.getLogger(__name__)

START_SECONDS = 20.0  # Xvfb compiles its keymap at start: ~0.3 s here, much more on slow hosts
STOP_SECONDS = 5.0  # grace period after SIGTERM before SIGKILL
DEPTH = 24  # vncd captures 32-bit pixels, which Xvfb only gives at depth 24


@asynccontextmanager
async def open_xvfb(
    geometry: tuple[int, int], command: str = "", max_size: tuple[int, int] | None = None
) -> AsyncIterator[X11Source]:
    """Start Xvfb and ``command`` (shlex-split, "" = none), serve the display, stop both.
    With ``max_size``, viewers may resize the display up to it (see the module docstring)."""
    if shutil.which("Xvfb") is None:
        raise SourceError("Xvfb is not installed (Debian package: xvfb)")
    framebuffer = (
        geometry
        if max_size is None
        else (max(geometry[0], max_size[0]), max(geometry[1], max_size[1]))
    )
    try:
        session_argv = shlex.split(command)
    except ValueError as error:
        raise SourceError(f"cannot parse the session command {command!r}: {error}") from error

    with tempfile.TemporaryDirectory(prefix="vncd-xvfb-") as directory:
        # Xvfb runs without -auth (local clients only, no TCP); the session still gets an
        # XAUTHORITY of its own so it never consults the user's ~/.Xauthority.
        xauthority = Path(directory, "Xauthority")
        xauthority.touch()
        async with _xvfb(*framebuffer, Path(directory, "Xvfb.log")) as (display, xvfb):
            if framebuffer != geometry:
                await trio.to_thread.run_sync(_shrink, display, geometry)
                log.info(
                    "showing %dx%d; viewers may resize it up to %dx%d", *geometry, *framebuffer
                )
            env = {**os.environ, "DISPLAY": display, "XAUTHORITY": str(xauthority)}
            with _unwrap_single():
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_report_exit, xvfb, "Xvfb", logging.ERROR, "no display left")
                    session = await _start_session(session_argv, env) if session_argv else None
                    try:
                        if session is not None:
                            nursery.start_soon(
                                _report_exit,
                                session,
                                session_argv[0],
                                logging.WARNING,
                                "still serving the display",
                            )
                        source = await trio.to_thread.run_sync(X11Source, display)
                        try:
                            yield source
                        finally:
                            source.close()
                    finally:
                        nursery.cancel_scope.cancel()
                        if session is not None:
                            await _stop(session, process_group=True)


def _shrink(display: str, geometry: tuple[int, int]) -> None:
    """Show only ``geometry`` of Xvfb's framebuffer, before any client sees the display."""
    x = open_display(display)
    try:
        resizer = ScreenResizer.open(x)
        if resizer is None or not resizer.resize(*geometry):
            raise SourceError(f"Xvfb on {display} cannot be resized through RandR")
    finally:
        x.close()


@contextmanager
def _unwrap_single() -> Iterator[None]:
    """The watcher nursery wraps whatever its body raised (our SourceError, or the caller's
    own exception thrown in at ``yield``) in an ExceptionGroup; hand a lone one back as it
    was, so ``open_source`` raises what it says it raises."""
    try:
        yield
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from group
        raise


@asynccontextmanager
async def _xvfb(width: int, height: int, log_path: Path) -> AsyncIterator[tuple[str, trio.Process]]:
    """Xvfb on a display it chooses; yields (":N", process) once it accepts connections."""
    read_end, write_end = os.pipe()
    try:
        with log_path.open("wb") as log_file:
            process = await trio.lowlevel.open_process(
                [
                    "Xvfb",
                    "-displayfd",
                    str(write_end),
                    "-screen",
                    "0",
                    f"{width}x{height}x{DEPTH}",
                    "-noreset",
                    "-nolisten",
                    "tcp",
                ],
                pass_fds=(write_end,),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
            )
    finally:
        os.close(write_end)
    try:
        # Xvfb writes "N\n" to the -displayfd descriptor once it is ready (Xserver(1)).
        async with trio.lowlevel.FdStream(read_end) as reply:
            number = await _read_display_number(reply, process, log_path)
        log.info("Xvfb started on :%d (%dx%d, pid %d)", number, width, height, process.pid)
        yield f":{number}", process
    finally:
        await _stop(process, process_group=False)


async def _read_display_number(
    reply: trio.abc.ReceiveStream, process: trio.Process, log_path: Path
) -> int:
    received = b""
    with trio.move_on_after(START_SECONDS) as timeout:
        while not received.endswith(b"\n"):
            chunk = await reply.receive_some(16)
            if not chunk:
                break
            received += chunk
    if received.endswith(b"\n"):
        return int(received)
    if timeout.cancelled_caught:
        reason = f"did not start within {START_SECONDS:g} s"
    else:
        reason = f"exited with status {await process.wait()}"
    last_lines = log_path.read_text(errors="replace").strip().splitlines()[-5:]
    raise SourceError(f"Xvfb {reason}: " + " | ".join(last_lines))


async def _start_session(argv: list[str], env: dict[str, str]) -> trio.Process:
    try:
        # A session of its own, so stopping it reaches everything it started.
        process = await trio.lowlevel.open_process(
            argv, env=env, stdin=subprocess.DEVNULL, start_new_session=True
        )
    except OSError as error:
        raise SourceError(f"cannot start the session command {argv[0]!r}: {error}") from error
    log.info("session command %s started (pid %d)", shlex.join(argv), process.pid)
    return process


async def _report_exit(process: trio.Process, what: str, level: int, consequence: str) -> None:
    """Log an unexpected exit; stopping the source cancels this first."""
    status = await process.wait()
    log.log(level, "%s exited with status %d; %s", what, status, consequence)


async def _stop(process: trio.Process, *, process_group: bool) -> None:
    """SIGTERM, then SIGKILL after STOP_SECONDS; shielded, so it also runs when cancelled."""

    def send(signal_number: int) -> None:
        with suppress(ProcessLookupError):
            if process_group:
                os.killpg(process.pid, signal_number)
            elif process.returncode is None:
                process.send_signal(signal_number)

    with trio.CancelScope(shield=True):
        send(signal.SIGTERM)
        with trio.move_on_after(STOP_SECONDS):
            await process.wait()
        # For a group, also sweep up members that outlived the leader.
        send(signal.SIGKILL)
        await process.wait()
