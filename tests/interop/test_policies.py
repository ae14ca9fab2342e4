"""[viewers] policies with two real viewers at once on a real Xvfb: vncdotool's `vncdo`,
TigerVNC's viewer (`-Shared=0` asks for exclusive access) and, for the messages neither sends
on demand (QEMU extended keys, clipboard text, SetDesktopSize), a client built on the
`protocol` package over a real socket.

What reaches X is read from X itself: the lines an xterm running `cat > FILE` writes, the
pointer's position (`xdotool getmouselocation`), the CLIPBOARD (`xclip -o`); who was
connected, refused or closed, and when, from vncd's log."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import attrs
import pytest
import trio

from protocol import ClientCutText, PointerEvent, QemuExtendedKeyEvent
from protocol.encodings import Encoding
from protocol.encodings.pseudo import ResizeStatus
from tests.requirements import program_path, require_programs
from tests.vncd._xvfb import wait_for
from tests.vncd.test_session import next_layout, one_screen
from tests.vncd.viewer import Viewer
from tests.vncd.xclipboard import clipboard_bytes

from .tigervnc import TigerViewer, tigervnc_viewer
from .vncd_process import VncdProcess, vncd_launcher, x11_source
from .xclients import load_rgb, typing_terminal, vncdo
from .xpaint import paint_root, varied_scene

pytestmark = pytest.mark.interop

#: What the xvfb fixture serves.
SIZE = (1024, 768)
#: No window manager: keyboard focus follows the pointer, so viewers point at the xterm that
#: typing_terminal puts at the top left before they type.
AT_THE_TERMINAL = ("move", "100", "60")


@pytest.fixture(scope="module", autouse=True)
def tools() -> None:
    require_programs("xtigervncviewer", "xwininfo", "xclip")


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[[str], VncdProcess]]:
    """Start vncd with config text on a port it picks (every viewer here takes
    127.0.0.1::PORT), stopped afterwards."""
    with vncd_launcher(tmp_path) as start:
        yield start


def viewers(**settings: str | int | bool) -> str:
    """A [viewers] table."""
    values = {
        key: f'"{value}"' if isinstance(value, str) else str(value).lower()
        for key, value in settings.items()
    }
    return "[viewers]\n" + "".join(f"{key} = {value}\n" for key, value in values.items())


def vncdo_in_background(port: int, *actions: str) -> subprocess.Popen:
    """`vncdo` connected while it works through ``actions`` (``pause N`` keeps it there)."""
    return subprocess.Popen(
        [program_path("vncdo"), "-s", f"127.0.0.1::{port}", *actions],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for_text(path: Path, text: str, timeout: float = 10.0) -> None:
    wait_for(lambda: path.read_text() == text, f"{text!r} in the xterm", timeout)


@attrs.frozen
class LogLine:
    when: float  # seconds since the epoch
    peer: str
    message: str


_SESSION_LINE = re.compile(r"^(\S+ \S+) INFO vncd\.(?:session|input): (\S+): (.*)$", re.M)


def session_lines(server: VncdProcess) -> list[LogLine]:
    """vncd's log lines about viewers (vncd.session, vncd.input), in order."""
    assert server.log_path is not None
    return [
        LogLine(datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp(), peer, message)
        for stamp, peer, message in _SESSION_LINE.findall(server.log_path.read_text())
    ]


def messages(server: VncdProcess) -> list[str]:
    return [line.message for line in session_lines(server)]


def wait_for_message(server: VncdProcess, pattern: str, count: int = 1) -> None:
    """Until ``count`` of vncd's session lines match ``pattern`` (a regular expression)."""
    wait_for(
        lambda: sum(bool(re.fullmatch(pattern, m)) for m in messages(server)) >= count,
        f"{count} x {pattern!r} in vncd's log",
        timeout=20,
    )


def pointer_at(display: str) -> tuple[int, int]:
    shell = subprocess.run(
        ["xdotool", "getmouselocation", "--shell"],
        env={**os.environ, "DISPLAY": display},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found = dict(line.split("=", 1) for line in shell.split())
    return int(found["X"]), int(found["Y"])


def move_pointer(display: str, x: int, y: int) -> None:
    subprocess.run(
        ["xdotool", "mousemove", str(x), str(y)], env={**os.environ, "DISPLAY": display}, check=True
    )


def protocol_viewer(port: int, *events: object, resize: tuple[int, int] | None = None):
    """Connect a `protocol` client, send ``events`` (then a SetDesktopSize of ``resize``),
    and return the resize answer's status (None without one) after a full round trip."""

    async def run() -> ResizeStatus | None:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            viewer = Viewer(stream)
            with trio.fail_after(20):
                await viewer.handshake(
                    encodings=(Encoding.RAW, Encoding.DESKTOP_SIZE, Encoding.EXTENDED_DESKTOP_SIZE)
                )
                await next_layout(viewer)  # the announcement of ExtendedDesktopSize
                await viewer.send(*events)
                status = None
                if resize is not None:
                    await viewer.send(one_screen(*resize))
                    status = (await next_layout(viewer)).status
                await viewer.full_update()
                return status

    return trio.run(run)


# --- input control ------------------------------------------------------------------------


def test_single_controller_ignores_a_second_viewer_until_the_first_leaves(xvfb, launch, tmp_path):
    typed = tmp_path / "typed.txt"
    with typing_terminal(xvfb, typed):
        time.sleep(1.5)
        server = launch(x11_source(xvfb) + viewers(input="single-controller"))
        first = vncdo_in_background(
            server.port,
            *AT_THE_TERMINAL,
            *("type", "one", "key", "enter", "pause", "6", "type", "three", "key", "enter"),
        )
        wait_for_text(typed, "one\n")
        vncdo(server.port, *AT_THE_TERMINAL, "type", "two", "key", "enter")  # ignored
        assert first.poll() is None, "the first viewer left too early for the test"
        assert first.wait(30) == 0
        wait_for_text(typed, "one\nthree\n")
        vncdo(server.port, *AT_THE_TERMINAL, "type", "four", "key", "enter")
        wait_for_text(typed, "one\nthree\nfour\n")
    said = messages(server)
    assert said.count("takes control of the keyboard and pointer") == 2
    assert sum(m.startswith("input ignored: 127.0.0.1:") for m in said) == 1


def test_single_controller_is_taken_over_once_idle(xvfb, launch, tmp_path):
    typed = tmp_path / "typed.txt"
    with typing_terminal(xvfb, typed):
        time.sleep(1.5)
        config = viewers(input="single-controller", takeover_idle_seconds=2)
        server = launch(x11_source(xvfb) + config)
        first = vncdo_in_background(
            server.port, *AT_THE_TERMINAL, "type", "one", "key", "enter", "pause", "15"
        )
        try:
            wait_for_text(typed, "one\n")
            vncdo(server.port, *AT_THE_TERMINAL, "type", "early", "key", "enter")
            time.sleep(2.5)
            vncdo(server.port, *AT_THE_TERMINAL, "type", "two", "key", "enter")
            wait_for_text(typed, "one\ntwo\n")
            assert first.poll() is None, "the idle controller must still be connected"
        finally:
            first.kill()
            first.wait()
    assert sum(m.startswith("takes control from idle 127.0.0.1:") for m in messages(server)) == 1


# --- sharing ------------------------------------------------------------------------------

EXCLUSIVE = ("-Shared=0",)


@pytest.fixture
def painted(xvfb: str) -> str:
    """The xvfb display with varied pixels, so that a viewer showing it is told from one
    showing nothing."""
    paint_root(xvfb, varied_scene(*SIZE))
    return xvfb


def assert_shows_the_desktop(viewer: TigerViewer) -> None:
    picture = viewer.wait_for(lambda picture: picture.any())
    assert picture is not None and picture.any(), "TigerVNC's viewer shows nothing"


def test_disconnect_others_closes_the_shared_viewer(painted, launch):
    server = launch(x11_source(painted) + viewers(sharing="disconnect-others"))
    shared = vncdo_in_background(server.port, "pause", "30")
    wait_for_message(server, r"connected \(RFB 3\.8\)")
    with tigervnc_viewer(server.port, SIZE, *EXCLUSIVE) as exclusive:
        assert shared.wait(15) != 0  # vncdo: connection lost
        wait_for_message(server, r"connected \(RFB 3\.8, exclusive\)")
        assert_shows_the_desktop(exclusive)
        assert exclusive.process.poll() is None
    assert "closing: another viewer asked for exclusive access" in messages(server)


def test_refuse_new_keeps_whoever_was_first(painted, launch, tmp_path):
    server = launch(x11_source(painted) + viewers(sharing="refuse-new"))
    shared = vncdo_in_background(server.port, "pause", "30")
    try:
        wait_for_message(server, r"connected \(RFB 3\.8\)")
        with tigervnc_viewer(server.port, SIZE, *EXCLUSIVE) as refused:
            wait_for_message(
                server, "refused: exclusive access asked while other viewers are connected"
            )
            refused.process.wait(15)  # the viewer gives up (with status 0)
        assert shared.poll() is None
    finally:
        shared.kill()
        shared.wait()
    wait_for_message(server, "viewer disconnected|connection lost: .*")
    with tigervnc_viewer(server.port, SIZE, *EXCLUSIVE) as exclusive:
        wait_for_message(server, r"connected \(RFB 3\.8, exclusive\)")
        with pytest.raises(subprocess.CalledProcessError):
            vncdo(server.port, "capture", str(tmp_path / "refused.png"))
        assert exclusive.process.poll() is None
        assert_shows_the_desktop(exclusive)
    said = messages(server)
    assert "refused: another viewer has exclusive access" in said
    assert not any(m.startswith("closing") for m in said)


def test_always_shared_keeps_both_viewers(painted, launch, tmp_path):
    server = launch(x11_source(painted) + viewers(sharing="always-shared"))
    shared = vncdo_in_background(server.port, "pause", "30")
    try:
        wait_for_message(server, r"connected \(RFB 3\.8\)")
        with tigervnc_viewer(server.port, SIZE, *EXCLUSIVE) as exclusive:
            wait_for_message(server, r"connected \(RFB 3\.8\)", count=2)
            assert_shows_the_desktop(exclusive)
            vncdo(server.port, "capture", str(tmp_path / "third.png"))  # and a third one
            assert shared.poll() is None and exclusive.process.poll() is None
    finally:
        shared.kill()
        shared.wait()
    said = messages(server)
    assert not any("exclusive" in m or m.startswith(("closing", "refused")) for m in said)


# --- time limits --------------------------------------------------------------------------


def session_seconds(server: VncdProcess, ending: str) -> list[float]:
    """For each viewer whose session ended with a line starting with ``ending``: how long
    after its "connected" line."""
    lines = session_lines(server)
    connected = {line.peer: line.when for line in lines if line.message.startswith("connected")}
    return [line.when - connected[line.peer] for line in lines if line.message.startswith(ending)]


def test_idle_viewers_are_disconnected_active_ones_stay(xvfb, launch):
    server = launch(x11_source(xvfb) + viewers(idle_timeout_seconds=2))
    idle = vncdo_in_background(server.port, "pause", "20")
    moves = [f"move {10 * i} {10 * i} pause 0.5".split() for i in range(1, 11)]
    active = vncdo_in_background(server.port, *(word for move in moves for word in move))
    assert active.wait(30) == 0  # five seconds of moving the pointer, never cut off
    assert idle.wait(15) != 0
    [idle_for] = session_seconds(server, "closing: idle for 2 s (viewers.idle_timeout_seconds)")
    assert 2.0 <= idle_for < 2.5
    assert messages(server).count("viewer disconnected") == 1  # the active one left itself


def test_sessions_end_after_the_maximum_time(xvfb, launch):
    server = launch(x11_source(xvfb) + viewers(max_session_seconds=3))
    busy = [f"move {10 * i} {10 * i} pause 0.3".split() for i in range(1, 31)]
    first = vncdo_in_background(server.port, *(word for move in busy for word in move))
    time.sleep(1.5)
    second = vncdo_in_background(server.port, *(word for move in busy for word in move))
    assert first.wait(30) != 0 and second.wait(30) != 0  # both cut off in mid-script
    durations = session_seconds(server, "closing: session time is up (3 s")
    assert len(durations) == 2 and all(3.0 <= seconds < 3.5 for seconds in durations)
    [first_start, second_start] = [
        line.when for line in session_lines(server) if line.message.startswith("connected")
    ]
    assert second_start - first_start >= 1.0  # each counted from its own start


# --- view-only ----------------------------------------------------------------------------

X_KEYSYM, RETURN_KEYSYM = 0x78, 0xFF0D
#: XT scancodes (QEMU numbering) of X and Return.
X_SCANCODE, RETURN_SCANCODE = 0x2D, 0x1C


def qemu_line() -> list[QemuExtendedKeyEvent]:
    """ "x" and Return as QEMU extended key events."""
    return [
        QemuExtendedKeyEvent(down, keysym, scancode)
        for keysym, scancode in ((X_KEYSYM, X_SCANCODE), (RETURN_KEYSYM, RETURN_SCANCODE))
        for down in (True, False)
    ]


def try_every_input(server: VncdProcess) -> None:
    """Two viewers try every input path: vncdo types, points and clicks, the `protocol`
    client sends QEMU keys, clipboard text and a SetDesktopSize."""
    vncdo(server.port, *AT_THE_TERMINAL, "type", "typed", "key", "enter", "click", "1")
    protocol_viewer(
        server.port,
        PointerEvent(0, 100, 60),
        *qemu_line(),
        ClientCutText("pasted"),
        PointerEvent(0, 300, 300),
    )


def test_view_only_holds_for_every_input_path(xvfb, launch, tmp_path):
    """Nothing reaches X from two view-only viewers; the same viewers with view_only = false
    reach it on every path (the proof that the test can see input arrive)."""
    typed = tmp_path / "typed.txt"
    with typing_terminal(xvfb, typed):
        time.sleep(1.5)
        server = launch(x11_source(xvfb) + viewers(view_only=True))
        move_pointer(xvfb, 700, 500)
        try_every_input(server)
        time.sleep(1)
        assert typed.read_text() == ""
        assert pointer_at(xvfb) == (700, 500)
        assert b"pasted" not in clipboard_bytes(xvfb)
        assert messages(server).count("connected (RFB 3.8, view-only)") == 2

        server = launch(x11_source(xvfb) + viewers(view_only=False))
        try_every_input(server)
        wait_for_text(typed, "typed\nx\n")
        assert pointer_at(xvfb) == (300, 300)
        wait_for(lambda: clipboard_bytes(xvfb) == b"pasted", "the pasted text on X")


def test_view_only_viewers_may_not_resize(launch, tmp_path):
    """SetDesktopSize from a view-only viewer is prohibited, and a second viewer (vncdo)
    still sees the old size; with view_only = false the same request resizes."""
    demo = '[source]\nkind = "demo"\ngeometry = "320x200"\n'
    server = launch(demo + viewers(view_only=True))
    assert protocol_viewer(server.port, resize=(400, 300)) == ResizeStatus.PROHIBITED
    vncdo(server.port, "capture", str(shot := tmp_path / "view-only.png"))
    assert load_rgb(shot).shape == (200, 320, 3)

    server = launch(demo + viewers(view_only=False))
    assert protocol_viewer(server.port, resize=(400, 300)) == ResizeStatus.OK
    vncdo(server.port, "capture", str(shot := tmp_path / "resized.png"))
    assert load_rgb(shot).shape == (300, 400, 3)
