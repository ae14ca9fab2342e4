"""`vncd replay`: a recording served through the normal pipeline to any viewer (any
encoding, any pixel format) at its pace or faster, written out as PNG files, and damaged
files refused with a line that says what is wrong."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import trio
from PIL import Image

from protocol import (
    BGRX,
    FramebufferUpdate,
    KeyEvent,
    PixelFormat,
    PointerEvent,
    ProtocolVersion,
    SecurityResult,
    SecurityTypes,
    ServerConnection,
    ServerInit,
    SetPixelFormat,
    VncAuthChallenge,
)
from protocol.encodings import EncodeSettings, Encoding, make_encoder
from protocol.encodings.pseudo import desktop_size
from protocol.fbs import HEADER, block, start_stream
from protocol.security import SecurityType
from vncd.cli import main
from vncd.config import parse_config
from vncd.replay import Playback
from vncd.server import serve
from vncd.sources.replay import ReplaySource

from .viewer import Viewer

SIZE = (96, 64)
RGB565 = PixelFormat(16, 16, False, True, 31, 63, 31, 11, 5, 0)


def pictures(count: int) -> list[np.ndarray]:
    """``count`` different BGRX pictures of noise."""
    rng = np.random.default_rng(3)
    return [rng.integers(0, 256, (SIZE[1], SIZE[0], 4), dtype=np.uint8) for _ in range(count)]


def write_recording(path: Path, frames: list[tuple[int, np.ndarray]], encoding=Encoding.ZRLE):
    """An FBS file of ``frames`` (milliseconds, picture), each a whole-screen update."""
    conn, start = start_stream(ServerInit(*SIZE, BGRX, "recorded desk"))
    encoder = make_encoder(encoding)
    data = HEADER + block(start, 0)
    for milliseconds, pixels in frames:
        rectangles = encoder.encode(pixels, 0, 0, BGRX, EncodeSettings())
        data += block(conn.send(FramebufferUpdate(rectangles)), milliseconds)
    path.write_bytes(data)
    return path


@contextlib.asynccontextmanager
async def replaying(path: Path, speed: float = 1.0) -> AsyncIterator[int]:
    """vncd serving the recording at ``path`` on a free port of 127.0.0.1; yields the port."""
    config = parse_config("", "test.toml", overrides={"server.port": 0})
    source = ReplaySource(Playback.open(path), speed)
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(serve, config, handle_signals=False, source=source)
        )
        yield listeners[0].socket.getsockname()[1]
        nursery.cancel_scope.cancel()


async def watcher(port: int, **handshake) -> Viewer:
    viewer = Viewer(await trio.open_tcp_stream("127.0.0.1", port))
    init = await viewer.handshake(**handshake)
    assert (init.width, init.height, init.name) == (*SIZE, "recorded desk")
    return viewer


async def picture_after(viewer: Viewer, seconds: float) -> np.ndarray:
    """What the viewer shows ``seconds`` from now (asking for updates all along)."""
    with trio.move_on_after(seconds):
        while True:
            await viewer.request()
            await viewer.next_update()
    return viewer.framebuffer.pixels[..., :3].copy()


@pytest.mark.parametrize(
    ("encodings", "pixel_format"),
    [((Encoding.RAW,), None), ((Encoding.TIGHT,), RGB565), ((Encoding.HEXTILE,), None)],
)
async def test_any_viewer_sees_the_recording_and_its_last_picture_stays(
    tmp_path, encodings, pixel_format
):
    first, second, last = pictures(3)
    path = write_recording(tmp_path / "r.fbs", [(0, first), (300, second), (600, last)])
    async with replaying(path) as port:
        viewer = await watcher(port, encodings=encodings)
        if pixel_format is not None:
            await viewer.send(SetPixelFormat(pixel_format))
        await viewer.full_update()
        # A recording takes no input (and the viewer is not dropped for sending it).
        await viewer.send(
            KeyEvent(True, ord("x")), PointerEvent(1, 10, 10), KeyEvent(False, ord("x"))
        )
        shown = await picture_after(viewer, 1.5)
    if pixel_format is None:
        assert np.array_equal(shown, last[..., :3])
    else:  # 5, 6 and 5 bits a channel: each within a step of 8
        assert np.abs(shown.astype(int) - last[..., :3]).max() <= 8


async def test_the_recorded_pace_or_faster(tmp_path):
    early, late = pictures(2)
    path = write_recording(tmp_path / "r.fbs", [(0, early), (2000, late)])
    async with replaying(path) as port:
        viewer = await watcher(port)
        await viewer.full_update()
        assert np.array_equal(await picture_after(viewer, 1.0), early[..., :3])
        assert np.array_equal(await picture_after(viewer, 1.5), late[..., :3])
    async with replaying(path, speed=10) as port:
        viewer = await watcher(port)
        await viewer.full_update()
        assert np.array_equal(await picture_after(viewer, 0.5), late[..., :3])


def test_export_png_writes_one_file_per_update_named_by_time(tmp_path, capsys):
    frames = list(zip((0, 40, 95, 1000), pictures(4), strict=True))
    path = write_recording(tmp_path / "r.fbs", frames, Encoding.TIGHT)
    out = tmp_path / "png"
    assert main(["replay", str(path), "--export-png", str(out)]) == 0
    assert capsys.readouterr().out == f"# wrote 4 PNG files into {out}\n"
    names = sorted(file.name for file in out.iterdir())
    assert names == ["000000000.png", "000000040.png", "000000095.png", "000001000.png"]
    for name, (_, pixels) in zip(names, frames, strict=True):
        assert np.array_equal(np.asarray(Image.open(out / name)), pixels[..., 2::-1])
    every = tmp_path / "every"
    assert main(["replay", str(path), "--export-png", str(every), "--every", "50"]) == 0
    assert sorted(file.name for file in every.iterdir()) == [
        "000000000.png",
        "000000095.png",
        "000001000.png",
    ]


def damaged(tmp_path: Path) -> dict[str, tuple[bytes, str]]:
    """Files that are not recordings, or damaged ones, and what vncd says about each."""
    good = write_recording(tmp_path / "good.fbs", [(0, pictures(1)[0])], Encoding.RAW)
    data = good.read_bytes()
    conn, start = start_stream(ServerInit(*SIZE, BGRX, "recorded desk"))
    _, huge_start = start_stream(ServerInit(9000, 64, BGRX, "huge"))
    grow = conn.send(FramebufferUpdate([desktop_size(65535, 65535)]))
    return {
        "empty": (b"", "truncated: the file header needs 12 bytes, the file ends after 0"),
        "png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", "not an FBS 001.000 file"),
        "cut": (data[:-100], "truncated: block 2 at byte 76"),
        "no-init": (
            HEADER + block(start[:20], 0),
            "truncated: the recording ends inside a message",
        ),
        "no-rfb": (HEADER + block(b"HTTP/1.1 200 OK\r\n", 0), "ProtocolVersion"),
        "bad-message": (HEADER + block(start + b"\x63", 5), "unknown server message type 99"),
        "huge": (HEADER + block(huge_start, 0), "a 9000x64 picture is over the 8192 pixels a side"),
        "huge-later": (
            HEADER + block(start + grow, 5),
            "a 65535x65535 picture is over the 8192 pixels a side",
        ),
    }


@pytest.mark.parametrize(
    "case", ["empty", "png", "cut", "no-init", "no-rfb", "bad-message", "huge", "huge-later"]
)
def test_a_damaged_file_is_one_clear_error(tmp_path, capsys, case):
    data, message = damaged(tmp_path)[case]
    path = tmp_path / f"{case}.fbs"
    path.write_bytes(data)
    assert main(["replay", str(path), "--export-png", str(tmp_path / "png")]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"vncd: error: {path}: "), error
    assert message in error
    assert error.count("\n") == 1
    if case in ("empty", "png", "no-init", "no-rfb", "huge"):  # refused before serving
        assert main(["replay", str(path), "--port", "0"]) == 1
        assert capsys.readouterr().err == error


def test_bad_arguments_exit_2(tmp_path, capsys):
    path = write_recording(tmp_path / "r.fbs", [(0, pictures(1)[0])])
    assert main(["replay", str(path), "--speed", "0"]) == 2
    assert "--speed 0.0: must be 0.01..10000 (1 = the recorded pace)" in capsys.readouterr().err
    assert main(["replay", str(path), "--every", "10"]) == 2
    assert "--every goes with --export-png" in capsys.readouterr().err
    assert main(["replay", str(tmp_path / "missing.fbs")]) == 1
    assert "missing.fbs: cannot read it: No such file or directory" in capsys.readouterr().err


def test_a_recorded_rfb_3_8_handshake_with_a_password_plays_too(tmp_path):
    """A proxy (rfbproxy) records the server's half of whatever handshake took place: the
    viewer's answers are made up, the server's verdict is in the file."""
    conn = ServerConnection()
    data = conn.send(ProtocolVersion(3, 8))
    conn.receive_data(b"RFB 003.008\n")
    conn.next_event()
    data += conn.send(SecurityTypes((SecurityType.VNC_AUTH,)))
    conn.receive_data(bytes([SecurityType.VNC_AUTH]))
    conn.next_event()
    data += conn.send(VncAuthChallenge(bytes(range(16))))
    conn.receive_data(bytes(16))
    conn.next_event()
    data += conn.send(SecurityResult(ok=True))
    conn.receive_data(b"\x01")
    conn.next_event()
    data += conn.send(ServerInit(*SIZE, BGRX, "recorded desk"))
    picture = pictures(1)[0]
    rectangles = make_encoder(Encoding.RAW).encode(picture, 0, 0, BGRX, EncodeSettings())
    update = conn.send(FramebufferUpdate(rectangles))
    path = tmp_path / "proxy.fbs"
    path.write_bytes(HEADER + block(data[:30], 0) + block(data[30:] + update, 20))
    with Playback.open(path) as playback:
        assert playback.next_change() is not None
        assert playback.next_change() is None
        assert np.array_equal(playback.framebuffer.pixels[..., :3], picture[..., :3])
