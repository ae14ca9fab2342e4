"""Recording sessions (vncd.recording) and playing the files back (vncd.replay): each file
is decoded with protocol's client role alone and must end on the picture the recorded
viewer ended on, pixel for pixel (the same bytes decode the same way, JPEG included)."""

from __future__ import annotations

import datetime
import logging
import re
import threading
from pathlib import Path

import attrs
import numpy as np
import pytest
import trio

from protocol import (
    BGRX,
    NEED_DATA,
    Bell,
    ClientConnection,
    ClientInit,
    FramebufferUpdate,
    PixelFormat,
    ProtocolVersion,
    Rectangle,
    ServerCutText,
    ServerInit,
    SetColourMapEntries,
    SetPixelFormat,
)
from protocol.encodings import Encoding
from protocol.fbs import read_blocks, start_stream
from vncd import recording
from vncd.recording import RecordingError, RecordingSettings
from vncd.replay import Playback

from .harness import ArraySource, running_hub

JPEG_9 = Encoding.JPEG_QUALITY_LEVEL_0 + 9
RGB565 = PixelFormat(16, 16, False, True, 31, 63, 31, 11, 5, 0)
COLOUR_MAP = PixelFormat(8, 8, False, False, 0, 0, 0, 0, 0, 0)


def finished_files(directory: Path) -> list[Path]:
    """The recordings in ``directory`` once their writer threads are done."""
    for thread in threading.enumerate():
        if thread.name.startswith("recording "):
            thread.join(10)
    return sorted(directory.iterdir())


def played(path: Path) -> Playback:
    """The recording decoded to its end."""
    with Playback.open(path) as playback:
        while playback.next_change() is not None:
            pass
    return playback


def same_picture(playback: Playback, viewer) -> bool:
    return np.array_equal(playback.framebuffer.pixels[..., :3], viewer.framebuffer.pixels[..., :3])


def scribble(source: ArraySource, seed: int) -> None:
    """Change a block of the desktop (noise: Tight sends it as JPEG when asked to)."""
    rng = np.random.default_rng(seed)
    y, x = rng.integers(0, 80), rng.integers(0, 160)
    source.pixels[y : y + 40, x : x + 40] = rng.integers(0, 256, (40, 40, 4), dtype=np.uint8)


async def watch_changes(viewer, source: ArraySource, count: int, first_seed: int = 0) -> None:
    """``count`` changes of the desktop, each seen by the viewer before the next."""
    for seed in range(first_seed, first_seed + count):
        scribble(source, seed)
        await trio.sleep(0.05)
        await viewer.request()
        await viewer.next_update()


async def settle(viewer) -> None:
    """Take every update the server still has for the viewer (its answers may lag a request
    behind, and lossy areas are sent again exactly), until it has nothing more."""
    while True:
        await viewer.request()
        try:
            await viewer.next_update(timeout=0.5)
        except trio.TooSlowError:
            return


async def leave(viewer) -> None:
    """The viewer takes what it was sent and disconnects; its session (and so its
    recording) ends."""
    await settle(viewer)
    await viewer.stream.aclose()
    await trio.sleep(0.2)


@pytest.mark.parametrize(
    "encodings",
    [
        (Encoding.RAW,),
        (Encoding.HEXTILE,),
        (Encoding.ZLIB,),
        (Encoding.TRLE,),
        (Encoding.ZRLE,),
        (Encoding.TIGHT,),
        (Encoding.TIGHT, JPEG_9),
        (Encoding.TIGHT_PNG, JPEG_9),
        (Encoding.TIGHT, Encoding.COPY_RECT, Encoding.CURSOR, Encoding.EXTENDED_DESKTOP_SIZE),
    ],
    ids=["raw", "hextile", "zlib", "trle", "zrle", "tight", "tight-jpeg", "tightpng", "extras"],
)
async def test_a_recording_decodes_to_what_the_viewer_saw(tmp_path, encodings):
    source = ArraySource(200, 120)
    async with running_hub(source) as harness:
        harness.hub.recording = RecordingSettings(tmp_path, all_sessions=True)
        viewer = harness.connect()
        await viewer.handshake(encodings=encodings)
        await viewer.full_update()
        await watch_changes(viewer, source, 6)
        await leave(viewer)
    [path] = finished_files(tmp_path)
    assert path.name.endswith("-test-viewer.fbs")
    assert same_picture(played(path), viewer)


async def test_the_file_holds_when_each_update_was_sent(tmp_path):
    source = ArraySource(200, 120)
    async with running_hub(source) as harness:
        harness.hub.recording = RecordingSettings(tmp_path, all_sessions=True)
        viewer = harness.connect()
        await viewer.handshake()
        await viewer.full_update()
        await trio.sleep(0.5)
        await watch_changes(viewer, source, 1)
        await leave(viewer)
    [path] = finished_files(tmp_path)
    times = [found.milliseconds for found in read_blocks([path.read_bytes()])]
    assert times[0] == 0  # version, security, ServerInit
    assert times == sorted(times)
    assert 500 <= times[-1] < 5000


async def test_only_the_messages_of_rfb_3_3_are_recorded(tmp_path):
    """Fence replies and continuous-updates news answer the viewer's own messages: neither
    they nor anything else an FBS player would not know goes into the file."""
    source = ArraySource(200, 120)
    async with running_hub(source) as harness:
        harness.hub.recording = RecordingSettings(tmp_path, all_sessions=True)
        viewer = harness.connect()
        await viewer.handshake(
            encodings=(Encoding.RAW, Encoding.FENCE, Encoding.CONTINUOUS_UPDATES)
        )
        await viewer.full_update()
        await watch_changes(viewer, source, 3)
        await leave(viewer)
    [path] = finished_files(tmp_path)
    conn = ClientConnection()
    conn.receive_data(b"".join(found.data for found in read_blocks([path.read_bytes()])))
    conn.receive_data(b"")
    assert conn.next_event() == ProtocolVersion(3, 3)
    conn.send(ProtocolVersion(3, 3))
    conn.next_event()  # security type None
    conn.send(ClientInit(shared=True))
    conn.next_event()  # ServerInit
    kinds = set()
    while (event := conn.next_event()) is not NEED_DATA and conn.phase.name != "CLOSED":
        kinds.add(type(event))
    assert kinds <= {FramebufferUpdate, SetColourMapEntries, Bell, ServerCutText}
    assert FramebufferUpdate in kinds


@pytest.mark.parametrize("pixel_format", [RGB565, COLOUR_MAP], ids=["rgb565", "colour-map"])
async def test_a_new_pixel_format_goes_into_a_new_file(tmp_path, pixel_format):
    """A file's ServerInit names the pixel format of its updates: after SetPixelFormat the
    recording goes on in a second file, starting with the whole picture."""
    source = ArraySource(200, 120)
    async with running_hub(source) as harness:
        harness.hub.recording = RecordingSettings(tmp_path, all_sessions=True)
        viewer = harness.connect()
        await viewer.handshake(encodings=(Encoding.TIGHT,))
        await viewer.full_update()
        await watch_changes(viewer, source, 2)
        first = viewer.framebuffer.pixels.copy()
        await viewer.send(SetPixelFormat(pixel_format))
        await watch_changes(viewer, source, 4, first_seed=10)
        await leave(viewer)
    new, old = sorted(
        map(played, finished_files(tmp_path)), key=lambda p: p.conn.pixel_format.depth
    )
    assert (old.conn.pixel_format.depth, new.conn.pixel_format) == (24, pixel_format)
    assert np.array_equal(old.framebuffer.pixels[..., :3], first[..., :3])
    assert same_picture(new, viewer)


async def test_recording_on_demand_starts_with_a_whole_picture(tmp_path):
    """A Tight viewer recorded from the middle of its session: its zlib streams restart
    (the reset bits tell the viewer too), and the file starts with the whole picture."""
    source = ArraySource(200, 120)
    async with running_hub(source) as harness:
        harness.hub.recording = RecordingSettings(tmp_path)
        viewer = harness.connect()
        await viewer.handshake(encodings=(Encoding.TIGHT,))
        await viewer.full_update()
        await watch_changes(viewer, source, 3)
        assert not list(tmp_path.iterdir())  # sessions are not recorded unless asked
        [session] = harness.hub.sessions
        session.start_recording()
        await watch_changes(viewer, source, 4, first_seed=10)
        await settle(viewer)
        recorded = viewer.framebuffer.pixels.copy()
        session.stop_recording()
        await watch_changes(viewer, source, 2, first_seed=20)  # not recorded
        await leave(viewer)
    [path] = finished_files(tmp_path)
    playback = Playback.open(path)
    first = playback.next_change()
    assert first is not None
    assert sum(box.area for box in first.boxes) >= 200 * 120  # the whole picture
    while playback.next_change() is not None:
        pass
    assert not np.array_equal(recorded[..., :3], viewer.framebuffer.pixels[..., :3])
    assert np.array_equal(playback.framebuffer.pixels[..., :3], recorded[..., :3])


@pytest.mark.parametrize("encoding", [Encoding.ZLIB, Encoding.ZRLE, Encoding.OPEN_H264])
async def test_a_continuous_stream_cannot_be_recorded_from_the_middle(tmp_path, encoding):
    source = ArraySource(200, 120)
    async with running_hub(source) as harness:
        harness.hub.recording = RecordingSettings(tmp_path)
        viewer = harness.connect()
        await viewer.handshake(encodings=(encoding,))
        await viewer.full_update()
        [session] = harness.hub.sessions
        with pytest.raises(RecordingError, match=r"ZRLE or H.264\) keeps one stream.*starts with"):
            session.start_recording()
        await leave(viewer)
    assert not list(tmp_path.iterdir())


async def test_a_continuous_stream_in_a_new_pixel_format_stops_the_recording(tmp_path, caplog):
    source = ArraySource(200, 120)
    caplog.set_level(logging.INFO, logger="vncd.recording")
    async with running_hub(source) as harness:
        harness.hub.recording = RecordingSettings(tmp_path, all_sessions=True)
        viewer = harness.connect()
        await viewer.handshake(encodings=(Encoding.ZRLE,))
        await viewer.full_update()
        await viewer.send(SetPixelFormat(RGB565))
        await watch_changes(viewer, source, 3)
        await leave(viewer)
    [path] = finished_files(tmp_path)
    assert played(path).conn.pixel_format.depth == 24
    assert "test viewer: recording stopped: a new file could not decode its stream" in [
        record.getMessage() for record in caplog.records
    ]


async def test_no_directory_no_recording(tmp_path):
    source = ArraySource(200, 120)
    async with running_hub(source) as harness:
        viewer = harness.connect()
        await viewer.handshake()
        [session] = harness.hub.sessions
        with pytest.raises(RecordingError, match=r"recording.directory is not set"):
            session.start_recording()
        await leave(viewer)


async def test_a_file_that_cannot_be_written_ends_the_recording_not_the_viewer(tmp_path, caplog):
    source = ArraySource(200, 120)
    caplog.set_level(logging.INFO, logger="vncd.recording")
    async with running_hub(source) as harness:
        harness.hub.recording = RecordingSettings(tmp_path / "removed", all_sessions=True)
        viewer = harness.connect()
        await viewer.handshake()
        await viewer.full_update()
        await watch_changes(viewer, source, 3)
        await leave(viewer)
    ended = [r.getMessage() for r in caplog.records if " ended: " in r.getMessage()]
    assert len(ended) == 1, ended
    assert re.fullmatch(
        rf"test viewer: recording {tmp_path}/removed/[0-9-]+-test-viewer.fbs ended: cannot "
        "create it: No such file or directory",
        ended[0],
    )


async def test_a_file_ends_where_fbs_time_runs_out(tmp_path, autojump_clock, caplog):
    """Blocks count milliseconds in 32 bits: 49.7 days, after which the file ends."""
    conn, _ = start_stream(ServerInit(4, 4, BGRX, "desk"))
    update = FramebufferUpdate([Rectangle(0, 0, 1, 1, Encoding.RAW, bytes(4))])
    taken = recording.SessionRecording(
        RecordingSettings(tmp_path), "peer", conn, "desk", lambda: None
    )
    taken.start()
    taken.tap([update], [conn.send(update)])
    await trio.sleep(49 * 86400)
    taken.tap([update], [conn.send(update)])
    assert taken.spool is not None
    await trio.sleep(1 * 86400)
    caplog.set_level(logging.INFO, logger="vncd.recording")
    taken.tap([update], [conn.send(update)])
    assert taken.spool is None
    assert (
        caplog.records[-1]
        .getMessage()
        .endswith("ended: FBS counts time in 32 bits of milliseconds, which ran out")
    )
    [path] = finished_files(tmp_path)
    times = [found.milliseconds for found in read_blocks([path.read_bytes()])]
    assert times == [0, 0, 49 * 86400 * 1000]


class StuckDisk:
    """A file whose writes wait until ``release``: a disk that cannot keep up."""

    def __init__(self, path: Path) -> None:
        self.name = str(path)
        self.released = threading.Event()
        self.written = 0

    def write(self, data: bytes) -> None:
        self.released.wait()
        self.written += len(data)

    def flush(self) -> None:
        pass

    def __enter__(self) -> StuckDisk:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass


async def test_a_slow_disk_stops_the_recording_not_the_viewer(tmp_path, monkeypatch, caplog):
    disks: list[StuckDisk] = []

    def stuck(path: Path) -> tuple[Path, StuckDisk]:
        disks.append(StuckDisk(path))
        return path, disks[-1]

    monkeypatch.setattr(recording, "_open_new", stuck)
    source = ArraySource(200, 120)
    caplog.set_level(logging.INFO, logger="vncd.recording")
    try:
        async with running_hub(source) as harness:
            harness.hub.recording = RecordingSettings(
                tmp_path, all_sessions=True, max_buffer=300_000
            )
            viewer = harness.connect()
            await viewer.handshake()  # Raw: 96000 bytes a whole picture
            for _ in range(6):
                with trio.fail_after(2):
                    await viewer.full_update()
            [session] = harness.hub.sessions
            assert session.recording.spool is None
            await leave(viewer)
    finally:
        disks[0].released.set()
    ended = [r.getMessage() for r in caplog.records if "the disk did not keep up" in r.getMessage()]
    assert len(ended) == 1, ended


def test_files_are_named_by_time_and_peer_never_overwritten_and_private(tmp_path):
    when = datetime.datetime(2026, 12, 6, 10, 30, 0)
    name = recording.file_name("{time}-{peer}.fbs", when, "127.0.0.1:40312")
    assert name == "20261206-103000-127.0.0.1-40312.fbs"
    assert recording.file_name("{peer}.fbs", when, "[::1]:5901") == "1-5901.fbs"
    (tmp_path / name).write_bytes(b"older")
    spools = [recording.Spool(tmp_path / name, 1 << 20) for _ in range(2)]
    for number, spool in enumerate(spools):
        spool.put(b"newer %d" % number)
        spool.close()
        spool.join(10)
    assert (tmp_path / name).read_bytes() == b"older"
    assert all(spool.path.stat().st_mode & 0o777 == 0o600 for spool in spools)  # the screen
    assert sorted(spool.path.name for spool in spools) == [
        "20261206-103000-127.0.0.1-40312-2.fbs",
        "20261206-103000-127.0.0.1-40312-3.fbs",
    ]


def test_the_directory_is_relative_to_the_config_file(tmp_path):
    from vncd.config import load_config

    (tmp_path / "recordings").mkdir()
    (tmp_path / "vncd.toml").write_text('[recording]\ndirectory = "recordings"\n')
    assert load_config(tmp_path / "vncd.toml").recording.directory == str(tmp_path / "recordings")


def test_the_settings_are_checked_like_the_others(tmp_path):
    from vncd.config import ConfigError, parse_config

    def problem(text: str) -> str:
        with pytest.raises(ConfigError) as error:
            parse_config(text, "t.toml")
        return str(error.value)

    assert problem('[recording]\nsessions = "all"') == (
        't.toml: recording.sessions = "all": needs recording.directory (where the files go)'
    )
    assert problem('[recording]\nsessions = "some"') == (
        't.toml: recording.sessions = "some": must be one of "none", "all"'
    )
    assert problem('[recording]\ndirectory = "nowhere"') == (
        f't.toml: recording.directory = "{Path("nowhere")}": not a directory'
    )
    assert problem('[recording]\nfile_name = "{user}.fbs"') == (
        't.toml: recording.file_name = "{user}.fbs": uses {user}: the fields are {time} and {peer}'
    )
    assert 'no "/"' in problem('[recording]\nfile_name = "../{time}.fbs"')
    config = parse_config(f'[recording]\ndirectory = "{tmp_path}"\nsessions = "all"', "t.toml")
    assert attrs.asdict(config.recording) == {
        "directory": str(tmp_path),
        "sessions": "all",
        "file_name": "{time}-{peer}.fbs",
        "max_buffer": 64 << 20,
    }
