"""vncd side by side with TigerVNC's x0vncserver and x11vnc, on one Xvfb, measured by one
client: the table in docs/performance.md (issues 8 and 9).

Run from the repository root: ``python -m benchmarks.sidebyside`` (or ``just bench-side``);
``--quick`` takes fewer samples and shorter windows (for development), ``--only PHASE,...``
runs some phases, ``--servers NAME,...`` some servers. A full run (all servers, all phases, not
quick) rewrites the generated part of docs/performance.md; ``--write``/``--no-write`` force it.
``--json FILE`` saves every raw figure (each latency sample, …) for a closer look, ``--keep``
the servers' logs and configs.

Setup: Xvfb 1920x1080x24 with a photo-like wallpaper and three xterms of seeded text
(``desktop_scene``); phase by phase (``run_phases``), each server in turn serves that display
on 127.0.0.1 with its default settings (``peers``) and is measured by viewers built on
``protocol.ClientConnection`` that decode every rectangle (``measure_client``; only the extra
viewers of **tenviewers** count without decoding). The scene is restored before each server
and phase. Server CPU is utime + stime from /proc/PID/stat of the server's process tree, in %
of one core over a window (clock ticks of 10 ms: a 4 s window resolves 0.25 %); Xvfb's CPU
is read the same way, since capturing costs the X server too. The client, the painters and
the servers share the machine's cores, so every figure includes that contention, equally for
each server.

Figures, per server:

- **idle**: server CPU with no viewer, over a window after a settle time (and Xvfb's).
- **latency**: a viewer asking for TigerVNC's viewer's default encodings (Tight, JPEG quality 8,
  compression 2) keeps an incremental request outstanding; the bench paints a 64x48 rectangle
  of a new saturated colour at a fresh spot (its own X connection; the time is taken just
  before the request is flushed, then it syncs) and measures until the viewer has decoded an
  update whose pixels at that spot show that colour (mean error ≤ 10 per channel). Samples
  are spaced by a random 0.12-0.32 s, so they fall at every phase of a server's frame clock;
  p50 and p95.
- **fullframe** (per encoding: raw, hextile, zrle, tight lossless, tight + JPEG quality 8): a
  fresh viewer sends non-incremental whole-screen requests, one at a time, first on the
  unchanged screen (a server may answer from what it encoded before), then with the wallpaper
  redrawn 1-16 pixels off 50 ms before each request (new pixels almost everywhere: the server
  must capture and encode). Server CPU per frame is the CPU used during the loop minus what
  the server used in the same time while idle with this viewer connected (measured just
  before), divided by the frames. Bytes per frame are everything received per frame on the
  unchanged screen, whose last frame is compared with the X server's pixels (GetImage; the
  pointer's corner masked out): "exact", pixels that differ, or PSNR. Before all that, the
  phase checks the first frame of a new viewer after the wallpaper moved while no viewer was
  connected (a server that stops watching the screen when nobody looks must look again).
  Then **h264**: the same with a viewer asking only for Open H.264 (encoding 50), from a second
  vncd started with ``[encodings] h264 = true`` (its default offers none; a peer is asked as
  it runs); the figures are those with new pixels each frame, asked for by incremental
  requests as an H.264 viewer does once it has a picture (vncd answers a non-incremental one
  with an intra frame): CPU, bytes per frame, and the last frame against the X server's (the
  wallpaper only moves, which H.264's motion compensation sends in few bytes). A server whose
  first update to that viewer has no H.264 rectangle (x0vncserver 1.12, x11vnc) shows "n/a".
- **animation** (raw, hextile, tight + JPEG q8): a painter process draws a 640x480 scrolling
  photo at 60 frames/s, each frame numbered with a barcode; a viewer with one incremental
  request outstanding decodes every update and reads the number back. Frames/s = distinct
  numbers decoded per second over the window; with the server's CPU over the same window.
- **tenviewers**: the same animation with Tight + JPEG q8, first for one viewer, then for ten
  with the same settings (the first one kept): server CPU over the window for each, and the
  ratio ten / one (a server that encodes once for viewers alike stays near 1). The first viewer
  decodes and counts distinct frames/s; the nine others only parse and count updates (ten
  decoders of 60 frames/s would not keep up on two cores, and a viewer that lags asks for
  less); the table shows the least updates/s any viewer got.
- **viewers**: 1, then 10, then 50 viewers asking for the same encodings as for latency,
  connected one after the other, each once the one before has decoded its first full update
  (a viewer counts as admitted once it has). Server CPU on a static screen is measured once
  no viewer has had an update for 1.5 s: TigerVNC re-sends the areas it sent as JPEG
  losslessly, one column per update, which takes this client ~25 s for 50 viewers. Then RSS
  (/proc/PID/statm); then a painter changes a 128x16 barcode "clock" at 20 Hz and we read
  server CPU and, per viewer, distinct clock values decoded per second (mean and minimum over
  the admitted viewers). RSS per extra viewer is (RSS with 10 - RSS with 1) / 9.
- **copyrect**: two viewers watch at once, one asking for CopyRect then Tight (lossless: no
  quality level), one for Tight only. (a) The first xterm scrolls: the bench writes one line
  of seeded text to the FIFO its ``cat`` reads, every 0.1 s, 30 steps, each scrolling the
  text up a line. (b) A 480x360 override-redirect window showing a photo moves 6 px right and
  4 px down every 0.1 s, then back, 30 steps, over the wallpaper. For each: bytes received
  per step by each viewer (from a quiet screen until quiet again, divided by the steps), the
  ratio with / without CopyRect (what copying saves over sending the pixels), the CopyRect
  rectangles received, and both decoded pictures against the X server's pixels at the end.
- **refresh**: a viewer asking as TigerVNC's viewer does (Tight, JPEG quality 8), once quiet,
  sees the wallpaper redrawn shifted (a 1080p photo-like change), then a still screen while it
  keeps an incremental request outstanding: the PSNR of its picture against the X server's
  just after the first update that follows the change, then 0.5, 2 and 5 s after the change
  (looked at every 0.1 s), and when it became exact (the update after which it was), or
  "never" within the 8 s window. A server that re-sends lossy areas losslessly once they stop
  changing ends "exact"; TigerVNC raises its quality to ~52 dB, x11vnc leaves it.

Every viewer also counts updates that answered no request (it never asks for continuous
updates, so each update must answer one FramebufferUpdateRequest); the notes list any.

Ratios are vncd's figure divided by the peer's (for frames/s and updates/s, higher is better;
for everything else lower is better).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import random
import shlex
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
import numpy as np

from protocol.encodings import Encoding

from .desktop_scene import (
    ANIMATION,
    ANIMATION_CELL,
    CLOCK,
    CLOCK_CELL,
    CURSOR_CORNER,
    DRAG_STEP,
    DRAGGED,
    Box,
    DraggedWindow,
    Painter,
    Scene,
    Xvfb,
    read_barcode,
    spot,
    spot_colour,
)
from .measure_client import (
    COPYRECT_TIGHT,
    H264,
    HEXTILE,
    RAW,
    TIGHT_JPEG,
    TIGHT_LOSSLESS,
    VIEWER,
    ZRLE,
    Refused,
    Viewer,
    ViewerPool,
    connect,
    wait_quiet,
)
from .peers import PEERS, REPOSITORY, CpuMeter, CpuUse, RunningServer, ensure_installed, rss_bytes

PHASES = (
    "idle",
    "latency",
    "fullframe",
    "animation",
    "tenviewers",
    "viewers",
    "copyrect",
    "refresh",
)
FULL_FRAME_ENCODINGS: dict[str, tuple[int, ...]] = {
    "raw": RAW,
    "hextile": HEXTILE,
    "zrle": ZRLE,
    "tight": TIGHT_LOSSLESS,
    "tight+JPEG q8": TIGHT_JPEG,
}
ANIMATION_ENCODINGS = {"raw": RAW, "hextile": HEXTILE, "tight+JPEG q8": TIGHT_JPEG}
VIEWER_COUNTS = (1, 10, 50)
SHARING_COUNTS = (1, 10)  # viewers of the animation with the same settings
COPY_KINDS = {  # result key → what the table calls it
    "xterm scroll": "xterm scrolling a line per step",
    "window drag": (
        f"{DRAGGED.width}x{DRAGGED.height} photo window dragged "
        f"{DRAG_STEP[0]}x{DRAG_STEP[1]} px per step"
    ),
}
STEP_PERIOD = 0.1  # seconds between two scroll or drag steps
REFRESH_SHIFT = 3  # the wallpaper's shift (``Scene.shift``) that the refresh phase shows
REFRESH_SAMPLES = (0.5, 2.0, 5.0)  # seconds after that change when its PSNR is taken
REFRESH_POLL = 0.1  # seconds between two looks at the refreshing viewer's picture
DOCS = REPOSITORY / "docs" / "performance.md"
BEGIN = "<!-- sidebyside: generated from here on; `python -m benchmarks.sidebyside` rewrites it -->"
FIRST_UPDATE_SECONDS = 60.0
QUIET_LIMIT = 45.0  # seconds to wait for a static screen to stop sending updates
MATCH_ERROR = 10.0  # mean error per channel under which a latency spot counts as seen
CHANGE_PAUSE = 0.05  # after a full-screen change: more than x0vncserver's 30 ms polling cycle


@attrs.frozen
class Timing:
    """How long each phase measures; ``--quick`` shortens everything for development."""

    settle: float = 1.5
    idle: float = 5.0
    latency_samples: int = 50
    full_min_frames: int = 6
    full_max_frames: int = 30
    full_min_seconds: float = 2.0
    baseline: float = 2.0
    animation_warmup: float = 1.0
    animation_window: float = 10.0  # 4 s windows swung ±20 % between runs
    static_window: float = 4.0
    clock_warmup: float = 1.0
    clock_window: float = 3.0
    copy_steps: int = 30
    refresh_window: float = 8.0

    @classmethod
    def quick(cls) -> Timing:
        return cls(0.5, 2.0, 12, 2, 6, 0.5, 1.0, 0.5, 2.0, 1.5, 0.5, 1.5, 10, 5.5)


# --- results -----------------------------------------------------------------------------


@attrs.define
class Latency:
    """Milliseconds from paint to decoded, per sample, and samples never seen (2 s)."""

    samples: list[float] = attrs.Factory(list)
    missed: int = 0

    def percentile(self, q: float) -> float | None:
        return float(np.percentile(self.samples, q)) if self.samples else None


@attrs.frozen
class Animation:
    fps: float
    cpu: CpuUse


@attrs.frozen
class FullFrame:
    """Whole-screen updates: CPU per frame on an unchanged screen (a server may answer from
    what it encoded before) and with new pixels before each request (it must encode); bytes
    per frame and the last decoded frame vs the X server's pixels, for each."""

    cpu_ms: float
    new_cpu_ms: float
    bytes: float
    new_bytes: float
    check: str
    new_check: str
    frames: int
    ms_per_frame: float  # wall clock per request → decoded, unchanged screen


@attrs.frozen
class Sharing:
    """Viewers with the same settings on the animation: server CPU, distinct frames/s the
    first viewer decoded, updates/s of the viewer that got fewest."""

    cpu: CpuUse
    fps: float
    ups_min: float


@attrs.frozen
class Copies:
    """One kind of move watched by two viewers at once, one asking CopyRect first and one
    not: bytes per step each, the CopyRect rectangles the first received, and each one's
    decoded picture at the end vs the X server's pixels."""

    steps: int
    bytes_with: float
    bytes_without: float
    copies: int
    check_with: str
    check_without: str

    @property
    def ratio(self) -> float:
        return self.bytes_with / self.bytes_without


@attrs.frozen
class Refresh:
    """A still screen after one large change seen with JPEG: the decoded picture's PSNR in
    dB (inf when exact) after the change's first update and at ``REFRESH_SAMPLES`` seconds
    after the change; when it became exact (seconds after the change, None: not within
    ``window``)."""

    first: float | None  # None: no update within the window
    later: dict[float, float]
    exact_after: float | None
    window: float


@attrs.frozen
class Load:
    """One viewer count: who got in, CPU static and changing, RSS, updates/s per viewer."""

    attempted: int
    admitted: int
    static: CpuUse
    rss: int
    changing: CpuUse | None
    ups_mean: float | None
    ups_min: float | None


@attrs.define
class ServerResult:
    name: str
    version: str = ""
    error: str | None = None  # the server could not run at all
    errors: dict[str, str] = attrs.Factory(dict)  # phase → what went wrong
    idle: CpuUse | None = None
    latency: Latency | None = None
    first_frame: str | None = None  # a new viewer's first frame after an unwatched change
    full: dict[str, FullFrame] = attrs.Factory(dict)
    h264: FullFrame | None = None
    h264_sent: bool | None = None  # False: asked for Open H.264, the server sent none
    animation: dict[str, Animation] = attrs.Factory(dict)
    animation_painter_fps: float | None = None
    sharing: dict[int, Sharing] = attrs.Factory(dict)
    sharing_painter_fps: float | None = None
    loads: dict[int, Load] = attrs.Factory(dict)
    clock_painter_fps: float | None = None
    copies: dict[str, Copies] = attrs.Factory(dict)
    refresh: Refresh | None = None
    unsolicited: dict[str, int] = attrs.Factory(dict)  # phase → updates nobody asked for
    seconds: float = 0.0


# --- phases ------------------------------------------------------------------------------


class Bench:
    """One server's run: the phases share its port, the pool, the CPU meter and the scene
    (``workdir``: where a phase starts another instance of the server)."""

    def __init__(
        self,
        server: RunningServer,
        xvfb: Xvfb,
        scene: Scene,
        timing: Timing,
        result: ServerResult,
        workdir: Path,
    ) -> None:
        self.server = server
        self.xvfb = xvfb
        self.scene = scene
        self.timing = timing
        self.result = result
        self.workdir = workdir
        self.meter = CpuMeter(server.pid, xvfb.pid)
        self.pool = ViewerPool()
        self.phase = ""
        self.connected: list[tuple[str, Viewer]] = []

    def connect(
        self,
        encodings: Sequence[int],
        *,
        pointer: bool = True,
        auto_request: bool = True,
        decode: bool = True,
        server: RunningServer | None = None,
    ) -> Viewer:
        """A viewer of ``server`` (else the bench's) connected and handed to the pool, kept
        for ``unsolicited()``."""
        viewer = connect(
            (server or self.server).port,
            encodings,
            pointer=pointer,
            auto_request=auto_request,
            decode=decode,
        )
        self.pool.add(viewer)
        self.connected.append((self.phase, viewer))
        return viewer

    def unsolicited(self) -> dict[str, int]:
        """Updates that answered no request, per phase (a protocol bug where nonzero)."""
        counts: dict[str, int] = {}
        for phase, viewer in self.connected:
            if viewer.unsolicited:
                counts[phase] = counts.get(phase, 0) + viewer.unsolicited
        return counts

    def viewer(
        self,
        encodings: Sequence[int],
        *,
        pointer: bool = True,
        auto_request: bool = True,
        decode: bool = True,
        server: RunningServer | None = None,
    ) -> Viewer:
        """A connected viewer that has had its first (full) update."""
        viewer = self.connect(
            encodings, pointer=pointer, auto_request=auto_request, decode=decode, server=server
        )
        if not viewer.wait_updates(1, FIRST_UPDATE_SECONDS):
            self.pool.close(viewer)
            raise RuntimeError(f"no first update ({viewer.error or 'timed out'})")
        return viewer

    def quiet(self, viewers: list[Viewer]) -> None:
        """Let the updates that follow a connection end before measuring a static screen;
        a screen that never goes quiet is noted."""
        if not wait_quiet(viewers, self.timing.settle, QUIET_LIMIT):
            self.result.errors.setdefault("quiet", f"updates still flowing after {QUIET_LIMIT} s")

    def idle(self) -> None:
        time.sleep(self.timing.settle)
        self.result.idle = self.meter.over(self.timing.idle)

    def latency(self) -> None:
        viewer = self.viewer(VIEWER)
        latency = self.result.latency = Latency()
        rng = random.Random(9)
        try:
            self.quiet([viewer])
            for index in range(self.timing.latency_samples):
                time.sleep(rng.uniform(0.12, 0.32))
                elapsed = self._one_latency(viewer, spot(index), spot_colour(index))
                if elapsed is None:
                    latency.missed += 1
                else:
                    latency.samples.append(elapsed * 1000)
        finally:
            self.pool.close(viewer)

    def _one_latency(self, viewer: Viewer, box: Box, rgb: tuple[int, int, int]) -> float | None:
        target = np.array(rgb[::-1], np.int16)  # BGR, as in the framebuffer
        seen: list[float] = []
        done = threading.Event()

        def hook(viewer: Viewer, at: float) -> None:
            inner = box.of(viewer.framebuffer.pixels)[2:-2, 2:-2, :3]
            if np.abs(inner.astype(np.int16) - target).mean() <= MATCH_ERROR:
                seen.append(at)
                viewer.on_update = None
                done.set()

        with viewer.lock:
            viewer.on_update = hook
        sent = self.scene.paint(box, rgb)
        done.wait(2.0)
        with viewer.lock:
            viewer.on_update = None
        if viewer.closed:
            raise RuntimeError(f"viewer closed: {viewer.error}")
        return seen[0] - sent if seen else None

    def fullframe(self) -> None:
        self._first_frame()
        time.sleep(self.timing.settle)
        truth = self.scene.grab()
        for label, encodings in FULL_FRAME_ENCODINGS.items():
            try:
                self.result.full[label] = self._full_frames(encodings, truth)
            except (Refused, RuntimeError) as error:
                self.result.errors[f"fullframe {label}"] = str(error)
        try:
            self._h264(truth)
        except (Refused, RuntimeError) as error:
            self.result.errors["fullframe h264"] = str(error)

    def _h264(self, truth: np.ndarray) -> None:
        """Full frames in Open H.264, from a second instance of the server started offering
        it where it does not by default (vncd), else from the bench's instance; not measured
        (``h264_sent`` False) when the server answers a viewer that asks for it with
        another encoding."""
        peer = self.server.peer
        server = self.server
        if peer.h264_argv is not None:
            workdir = self.workdir / f"{peer.name}-h264"
            server = RunningServer(peer, self.xvfb.display, self.xvfb.env, workdir, h264=True)
        try:
            probe = self.viewer(H264, auto_request=False, server=server)
            self.pool.close(probe)
            self.result.h264_sent = probe.rectangles[Encoding.OPEN_H264] > 0
            if self.result.h264_sent:
                self.result.h264 = self._full_frames(H264, truth, server, new_incremental=True)
        finally:
            if server is not self.server:
                server.stop()

    def _first_frame(self) -> None:
        """Whether a new viewer sees the screen as it is after a change made while no viewer
        was connected (a server that stops watching the screen must look again), and leave
        the restored scene seen by the server, so that every encoding starts alike."""
        self.pool.close(self.viewer(RAW, auto_request=False))
        time.sleep(1.0)  # the server has noticed that nobody is watching
        self.scene.shift(7)
        time.sleep(self.timing.settle)
        truth = self.scene.grab()
        viewer = self.viewer(RAW, auto_request=False)
        try:
            self.result.first_frame = compare(viewer.framebuffer.pixels, truth)
            self.scene.restore()
            time.sleep(self.timing.settle)
        finally:
            self.pool.close(viewer)

    def _full_frames(
        self,
        encodings: Sequence[int],
        truth: np.ndarray,
        server: RunningServer | None = None,
        *,
        new_incremental: bool = False,
    ) -> FullFrame:
        """``truth``: the X server's pixels of the unchanged screen. ``server``: measure this
        one rather than the bench's. ``new_incremental``: ask for the frames with new pixels
        by incremental requests, as an H.264 viewer does once it has a picture (a server may
        answer a non-incremental request with an intra frame, for a viewer that lost its
        picture)."""
        server = server or self.server
        meter = CpuMeter(server.pid, self.xvfb.pid)
        viewer = self.viewer(encodings, auto_request=False, server=server)
        try:
            time.sleep(0.3)
            baseline = meter.over(self.timing.baseline).server / 100
            received = viewer.bytes_received()
            same_ms, same_frames, elapsed = self._request_frames(viewer, meter, baseline, None)
            size = (viewer.bytes_received() - received) / same_frames
            check = compare(viewer.framebuffer.pixels, truth)
            received = viewer.bytes_received()
            new_ms, new_frames, _ = self._request_frames(
                viewer, meter, baseline, self.scene.shift, incremental=new_incremental
            )
            new_size = (viewer.bytes_received() - received) / new_frames
            new_check = compare(viewer.framebuffer.pixels, self.scene.grab())
            self.scene.restore()  # while connected, so the server sees it
            time.sleep(self.timing.settle)
            return FullFrame(
                cpu_ms=same_ms,
                new_cpu_ms=new_ms,
                bytes=size,
                new_bytes=new_size,
                check=check,
                new_check=new_check,
                frames=same_frames + new_frames,
                ms_per_frame=elapsed,
            )
        finally:
            self.pool.close(viewer)

    def _request_frames(
        self,
        viewer: Viewer,
        meter: CpuMeter,
        baseline: float,
        change: Callable[[int], None] | None,
        *,
        incremental: bool = False,
    ) -> tuple[float, int, float]:
        """Whole-screen requests one after the other, each after ``change`` (then a pause
        for every server to have seen it): server CPU ms per frame net of ``baseline`` (CPU
        seconds per second while idle), frames, wall ms per request → decoded. Incremental
        requests only with a ``change``, which is what they get answered with."""
        timing = self.timing
        start = meter.read()
        frames = 0
        while frames < timing.full_max_frames and (
            frames < timing.full_min_frames
            or time.perf_counter() - start.at < timing.full_min_seconds
        ):
            if change is not None:
                change(frames)
                time.sleep(CHANGE_PAUSE)
            before = viewer.updates
            viewer.request(incremental=incremental)
            if not viewer.wait_updates(before + 1, FIRST_UPDATE_SECONDS):
                raise RuntimeError(f"no full update ({viewer.error or 'timed out'})")
            frames += 1
        end = meter.read()
        elapsed = end.at - start.at
        cpu = (end.server - start.server) - baseline * elapsed
        return max(0.0, cpu) / frames * 1000, frames, elapsed / frames * 1000

    def animation(self) -> None:
        painter = Painter(self.xvfb, "animation", 60)
        try:
            for label, encodings in ANIMATION_ENCODINGS.items():
                try:
                    self.result.animation[label] = self._animate(encodings)
                except (Refused, RuntimeError) as error:
                    self.result.errors[f"animation {label}"] = str(error)
        finally:
            self.result.animation_painter_fps = painter.stop().fps

    def _animate(self, encodings: Sequence[int]) -> Animation:
        viewer = self.viewer(encodings)
        strip = Box(ANIMATION.x, ANIMATION.y, ANIMATION.width, ANIMATION_CELL[1])
        frames = _BarcodeLog(strip, ANIMATION_CELL)
        try:
            with viewer.lock:
                viewer.on_update = frames.hook
            time.sleep(self.timing.animation_warmup)
            start = self.meter.read()
            time.sleep(self.timing.animation_window)
            end = self.meter.read()
        finally:
            self.pool.close(viewer)
        return Animation(frames.rate(start.at, end.at), CpuMeter.between(start, end))

    def tenviewers(self) -> None:
        """The animation with Tight+JPEG q8 for one viewer, then for ten with the same
        settings. The first viewer decodes and reads the frame numbers; the others only
        count updates: ten decoders of 60 frames/s would not keep up on the bench's cores,
        and a viewer that lags asks for less."""
        painter = Painter(self.xvfb, "animation", 60)
        strip = Box(ANIMATION.x, ANIMATION.y, ANIMATION.width, ANIMATION_CELL[1])
        frames = _BarcodeLog(strip, ANIMATION_CELL)
        viewers = [self.viewer(TIGHT_JPEG)]
        try:
            with viewers[0].lock:
                viewers[0].on_update = frames.hook
            for count in SHARING_COUNTS:
                while len(viewers) < count:
                    viewers.append(self.viewer(TIGHT_JPEG, pointer=False, decode=False))
                self.result.sharing[count] = self._share(viewers, frames)
        finally:
            for viewer in viewers:
                self.pool.close(viewer)
            self.result.sharing_painter_fps = painter.stop().fps

    def _share(self, viewers: list[Viewer], frames: _BarcodeLog) -> Sharing:
        time.sleep(self.timing.animation_warmup)
        start, counts = self.meter.read(), [viewer.updates for viewer in viewers]
        time.sleep(self.timing.animation_window)
        end = self.meter.read()
        least = min(viewer.updates - count for viewer, count in zip(viewers, counts, strict=True))
        return Sharing(
            CpuMeter.between(start, end),
            frames.rate(start.at, end.at),
            least / (end.at - start.at),
        )

    def viewers(self) -> None:
        viewers: list[Viewer] = []
        attempted = 0
        try:
            for count in VIEWER_COUNTS:
                while attempted < count:
                    attempted += 1
                    with contextlib.suppress(Refused):
                        viewer = self.connect(VIEWER, pointer=attempted == 1)
                        viewers.append(viewer)
                        viewer.wait_updates(1, FIRST_UPDATE_SECONDS / 4)
                deadline = time.monotonic() + FIRST_UPDATE_SECONDS
                for viewer in viewers:
                    viewer.wait_updates(1, max(0.0, deadline - time.monotonic()))
                admitted = [v for v in viewers if v.updates >= 1 and not v.closed]
                self.quiet(admitted)
                static = self.meter.over(self.timing.static_window)
                rss = rss_bytes(self.server.pid)
                changing, rates = self._clock(admitted)
                self.result.loads[count] = Load(
                    attempted=attempted,
                    admitted=len(admitted),
                    static=static,
                    rss=rss,
                    changing=changing,
                    ups_mean=statistics.fmean(rates) if rates else None,
                    ups_min=min(rates) if rates else None,
                )
        finally:
            for viewer in viewers:
                self.pool.close(viewer)

    def _clock(self, viewers: list[Viewer]) -> tuple[CpuUse, list[float]]:
        logs = [_BarcodeLog(CLOCK, CLOCK_CELL) for _ in viewers]
        for viewer, log in zip(viewers, logs, strict=True):
            with viewer.lock:
                viewer.on_update = log.hook
        painter = Painter(self.xvfb, "clock", 20)
        try:
            time.sleep(self.timing.clock_warmup)
            start = self.meter.read()
            time.sleep(self.timing.clock_window)
            end = self.meter.read()
        finally:
            self.result.clock_painter_fps = painter.stop().fps
            for viewer in viewers:
                with viewer.lock:
                    viewer.on_update = None
        rates = [log.rate(start.at, end.at) for log in logs]
        return CpuMeter.between(start, end), rates

    def copyrect(self) -> None:
        """An xterm scrolling, then a window dragged, each watched by a viewer that asks for
        CopyRect and one that does not."""
        viewers: list[Viewer] = []
        steps = self.timing.copy_steps
        try:
            viewers.append(self.viewer(COPYRECT_TIGHT))
            viewers.append(self.viewer(TIGHT_LOSSLESS, pointer=False))
            try:
                self.scene.scroll(0)  # fills the xterm: every step from here on scrolls it
                self.result.copies["xterm scroll"] = self._copies(viewers, self.scene.scroll)
            except RuntimeError as error:
                self.result.errors["copyrect xterm scroll"] = str(error)
            self.scene.restore()
            window = DraggedWindow(self.scene)
            try:
                drag = self._copies(viewers, lambda step: window.move(step, steps))
                self.result.copies["window drag"] = drag
            except RuntimeError as error:
                self.result.errors["copyrect window drag"] = str(error)
            finally:
                window.close()
        finally:
            for viewer in viewers:
                self.pool.close(viewer)

    def _copies(self, viewers: list[Viewer], step: Callable[[int], None]) -> Copies:
        """``step`` 1..copy_steps, STEP_PERIOD apart, once the viewers (with CopyRect, without)
        are quiet; what each received until they are quiet again, and their pictures then."""
        steps = self.timing.copy_steps
        self.quiet(viewers)
        received = [viewer.bytes_received() for viewer in viewers]
        copies = viewers[0].rectangles[Encoding.COPY_RECT]
        for index in range(1, steps + 1):
            step(index)
            time.sleep(STEP_PERIOD)
        self.quiet(viewers)
        truth = self.scene.grab()
        sizes = [
            viewer.bytes_received() - before
            for viewer, before in zip(viewers, received, strict=True)
        ]
        if any(viewer.closed for viewer in viewers):
            raise RuntimeError(f"viewer closed: {viewers[0].error or viewers[1].error}")
        return Copies(
            steps=steps,
            bytes_with=sizes[0] / steps,
            bytes_without=sizes[1] / steps,
            copies=viewers[0].rectangles[Encoding.COPY_RECT] - copies,
            check_with=compare(viewers[0].framebuffer.pixels, truth),
            check_without=compare(viewers[1].framebuffer.pixels, truth),
        )

    def refresh(self) -> None:
        """One large change seen by a viewer asking as TigerVNC's viewer does (Tight, JPEG
        quality 8), then a still screen: how close its picture gets to the X server's."""
        viewer = self.viewer(VIEWER)
        first: list[np.ndarray] = []

        def hook(viewer: Viewer, at: float) -> None:
            first.append(viewer.framebuffer.pixels.copy())
            viewer.on_update = None

        try:
            self.quiet([viewer])
            with viewer.lock:
                viewer.on_update = hook
            self.scene.shift(REFRESH_SHIFT)
            changed = time.perf_counter()
            truth = self.scene.grab()
            later, exact_after = self._watch_refresh(viewer, truth, changed)
        finally:
            self.pool.close(viewer)
        self.result.refresh = Refresh(
            first=psnr(first[0], truth) if first else None,
            later=later,
            exact_after=exact_after,
            window=self.timing.refresh_window,
        )

    def _watch_refresh(
        self, viewer: Viewer, truth: np.ndarray, changed: float
    ) -> tuple[dict[float, float], float | None]:
        """The PSNR at each of REFRESH_SAMPLES seconds after ``changed`` and the seconds
        until the picture was exact (the last update before it was found so), looking every
        REFRESH_POLL s; stops once exact."""
        later: dict[float, float] = {}
        looked_at = None  # the update last found not exact
        while (elapsed := time.perf_counter() - changed) < self.timing.refresh_window:
            with viewer.lock:
                pixels = viewer.framebuffer.pixels.copy()
                last = viewer.last_update
            for at in REFRESH_SAMPLES:
                if at <= elapsed and at not in later:
                    later[at] = psnr(pixels, truth)
            if last != looked_at:
                if is_exact(pixels, truth):
                    return {at: later.get(at, math.inf) for at in REFRESH_SAMPLES}, last - changed
                looked_at = last
            time.sleep(REFRESH_POLL)
        return later, None


class _BarcodeLog:
    """The (time, value) of each new barcode value a viewer decodes in ``box``."""

    def __init__(self, box: Box, cell: tuple[int, int]) -> None:
        self.box = box
        self.cell = cell
        self.seen: list[tuple[float, int]] = []
        self._last: int | None = None

    def hook(self, viewer: Viewer, at: float) -> None:
        value = read_barcode(self.box.of(viewer.framebuffer.pixels), self.cell)
        if value is not None and value != self._last:
            self._last = value
            self.seen.append((at, value))

    def rate(self, start: float, end: float) -> float:
        """Distinct values decoded per second between ``start`` and ``end``."""
        values = {value for at, value in self.seen if start <= at <= end}
        return len(values) / (end - start)


def _errors(pixels: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(pixels, 3) differences of a decoded frame from the X server's pixels, outside the
    cursor corner: servers that draw the cursor into the framebuffer differ there by design."""
    mask = np.ones(truth.shape[:2], bool)
    CURSOR_CORNER.of(mask)[...] = False
    return (pixels[..., :3].astype(np.int16) - truth[..., :3])[mask]


def _psnr(errors: np.ndarray) -> float:
    mse = float(np.mean(errors.astype(np.float64) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def psnr(pixels: np.ndarray, truth: np.ndarray) -> float:
    """A decoded frame's PSNR in dB against the X server's pixels; inf when exact."""
    return _psnr(_errors(pixels, truth))


def is_exact(pixels: np.ndarray, truth: np.ndarray) -> bool:
    """Whether a decoded frame equals the X server's pixels outside the cursor corner
    (cheaper than ``psnr``, for polling). Overwrites that corner of ``pixels``."""
    CURSOR_CORNER.of(pixels)[...] = CURSOR_CORNER.of(truth)
    return np.array_equal(pixels[..., :3], truth[..., :3])


def compare(pixels: np.ndarray, truth: np.ndarray) -> str:
    """ "exact", or how far a decoded frame is from the X server's pixels."""
    errors = _errors(pixels, truth)
    differing = int(np.count_nonzero(errors.any(axis=-1)))
    if not differing:
        return "exact"
    share = differing / len(errors)
    return f"PSNR {_psnr(errors):.1f} dB" if share > 0.01 else f"{differing} px differ"


def run_server(
    result: ServerResult, xvfb: Xvfb, scene: Scene, timing: Timing, phase: str, workdir: Path
) -> None:
    """Start one server, run one phase on it, stop it, adding to ``result``; failures become
    notes, not crashes."""
    peer = PEERS[result.name]
    started = time.perf_counter()
    scene.restore()
    try:
        server = RunningServer(peer, xvfb.display, xvfb.env, workdir / result.name)
    except RuntimeError as error:
        result.error = str(error)
        return
    bench = Bench(server, xvfb, scene, timing, result, workdir)
    try:
        print(f"  {result.name}: {phase}", file=sys.stderr, flush=True)
        bench.phase = phase
        try:
            getattr(bench, phase)()
        except (Refused, RuntimeError, OSError) as error:
            died = "" if server.alive() else f"; server exited: {server.log_tail()}"
            result.errors[phase] = f"{type(error).__name__}: {error}{died}"
    finally:
        bench.pool.stop()
        server.stop()
        result.unsolicited.update(bench.unsolicited())
        result.seconds += time.perf_counter() - started


def run_phases(
    servers: Sequence[str],
    xvfb: Xvfb,
    scene: Scene,
    timing: Timing,
    only: Sequence[str],
    workdir: Path,
) -> list[ServerResult]:
    """Each phase on every server before the next phase, the servers' order turning from one
    phase to the next: the machine's load drifts over a run, and this way it weighs on the
    servers alike instead of on whichever ran its phases last."""
    results = [ServerResult(name, PEERS[name].version()) for name in servers]
    for turn, phase in enumerate(phase for phase in PHASES if phase in only):
        for result in results[turn % len(results) :] + results[: turn % len(results)]:
            if result.error is None:
                run_server(result, xvfb, scene, timing, phase, workdir)
    return results


# --- the table ---------------------------------------------------------------------------


@attrs.frozen
class Row:
    """One figure: a value and its text per server; ``higher`` says which way is better."""

    label: str
    values: dict[str, float | None]
    texts: dict[str, str]
    ratio: bool = True
    higher: bool = False


def _number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _row(
    label: str,
    results: list[ServerResult],
    pick: Callable[[ServerResult], float | None],
    digits: int = 1,
    *,
    higher: bool = False,
    text: Callable[[ServerResult], str] | None = None,
) -> Row:
    values: dict[str, float | None] = {}
    texts: dict[str, str] = {}
    for result in results:
        try:
            value = pick(result)
        except (KeyError, AttributeError, TypeError, ZeroDivisionError):
            value = None
        values[result.name] = value
        texts[result.name] = (
            "failed" if result.error else text(result) if text else _number(value, digits)
        )
    return Row(label, values, texts, higher=higher)


def rows(results: list[ServerResult]) -> list[Row]:
    """Every figure of the table, in order."""

    def lat(q: float) -> Callable[[ServerResult], float | None]:
        return lambda r: r.latency.percentile(q) if r.latency else None

    def load(count: int, pick: Callable[[Load], float | None]) -> Callable:
        return lambda r: pick(r.loads[count])

    def ups(count: int) -> Callable[[ServerResult], str]:
        def text(r: ServerResult) -> str:
            item = r.loads.get(count)
            if item is None or item.ups_mean is None:
                return "–"
            return f"{item.ups_mean:.1f} (min {item.ups_min:.1f})"

        return text

    def rss_per_viewer(r: ServerResult) -> float | None:
        return (r.loads[10].rss - r.loads[1].rss) / 9 / 1e6

    table = [
        _row("server CPU, no viewer (% of a core)", results, lambda r: r.idle.server, 2),
        _row("Xvfb CPU, no viewer (%)", results, lambda r: r.idle.xvfb, 2),
        _row("latency p50, 64x48 paint → decoded (ms)", results, lat(50)),
        _row("latency p95 (ms)", results, lat(95)),
    ]
    for label in ANIMATION_ENCODINGS:
        table.append(
            _row(
                f"animation 640x480 @ 60 Hz, {label}: frames/s",
                results,
                lambda r, k=label: r.animation[k].fps,
                higher=True,
            )
        )
        table.append(
            _row(
                f"… {label}: server CPU (%)", results, lambda r, k=label: r.animation[k].cpu.server
            )
        )
    table += _sharing_rows(results)
    for count in VIEWER_COUNTS:
        table.append(
            _row(
                f"static screen, {_plural(count)}: server CPU (%)",
                results,
                load(count, lambda x: x.static.server),
            )
        )
    table.append(
        _row("static screen, 1 viewer: Xvfb CPU (%)", results, load(1, lambda x: x.static.xvfb))
    )
    for count in VIEWER_COUNTS:
        table.append(
            _row(
                f"20 Hz clock, {_plural(count)}: server CPU (%)",
                results,
                load(count, lambda x: x.changing.server),
            )
        )
        table.append(
            _row(
                f"… {_plural(count)}: clock updates/s each, mean (min)",
                results,
                load(count, lambda x: x.ups_mean),
                higher=True,
                text=ups(count),
            )
        )
    table.append(
        _row("20 Hz clock, 10 viewers: Xvfb CPU (%)", results, load(10, lambda x: x.changing.xvfb))
    )
    table.append(
        _row(
            f"viewers admitted of {VIEWER_COUNTS[-1]}",
            results,
            load(VIEWER_COUNTS[-1], lambda x: x.admitted),
            0,
            higher=True,
        )
    )
    table.append(_row("RSS per extra viewer (MB)", results, rss_per_viewer, 2))
    table += _copy_rows(results)
    table += _refresh_rows(results)
    first = _row(
        "new viewer's first frame after a change made while none was connected",
        results,
        lambda r: None,
        text=lambda r: r.first_frame or "–",
    )
    table.append(attrs.evolve(first, ratio=False))
    for label in FULL_FRAME_ENCODINGS:
        table.append(
            _row(
                f"full 1080p frame, {label}: server CPU (ms/frame), same screen",
                results,
                lambda r, k=label: r.full[k].cpu_ms,
            )
        )
        table.append(
            _row(
                f"… {label}: server CPU (ms/frame), new pixels each frame",
                results,
                lambda r, k=label: r.full[k].new_cpu_ms,
            )
        )
        table.append(
            _row(f"… {label}: KB/frame", results, lambda r, k=label: r.full[k].bytes / 1000, 0)
        )
        check = _row(
            f"… {label}: decoded vs X server",
            results,
            lambda r: None,
            text=lambda r, k=label: r.full[k].check if k in r.full else "–",
        )
        table.append(attrs.evolve(check, ratio=False))
    table += _h264_rows(results)
    return table


def _plural(count: int) -> str:
    return f"{count} viewer{'s' * (count > 1)}"


def _sharing_rows(results: list[ServerResult]) -> list[Row]:
    table = []
    for count in SHARING_COUNTS:
        table.append(
            _row(
                f"same settings, animation tight+JPEG q8, {_plural(count)}: server CPU (%)",
                results,
                lambda r, n=count: r.sharing[n].cpu.server,
            )
        )
        table.append(
            _row(
                f"… {_plural(count)}: frames/s decoded by the first viewer",
                results,
                lambda r, n=count: r.sharing[n].fps,
                higher=True,
            )
        )
        table.append(
            _row(
                f"… {_plural(count)}: updates/s of the least served viewer",
                results,
                lambda r, n=count: r.sharing[n].ups_min,
                higher=True,
            )
        )
    one, many = SHARING_COUNTS
    table.append(
        _row(
            f"… server CPU with {many} viewers / with {one}",
            results,
            lambda r: r.sharing[many].cpu.server / r.sharing[one].cpu.server,
            2,
        )
    )
    return table


def _copy_rows(results: list[ServerResult]) -> list[Row]:
    table = []
    for kind, title in COPY_KINDS.items():
        table += [
            _row(
                f"{title}: KB/step, viewer with CopyRect",
                results,
                lambda r, k=kind: r.copies[k].bytes_with / 1000,
            ),
            _row(
                f"… {kind}: KB/step, viewer without CopyRect",
                results,
                lambda r, k=kind: r.copies[k].bytes_without / 1000,
            ),
            _row(
                f"… {kind}: bytes with / without", results, lambda r, k=kind: r.copies[k].ratio, 2
            ),
            attrs.evolve(
                _row(
                    f"… {kind}: CopyRect rectangles received",
                    results,
                    lambda r, k=kind: r.copies[k].copies,
                    0,
                ),
                ratio=False,
            ),
            attrs.evolve(
                _row(
                    f"… {kind}: decoded vs X server, with / without CopyRect",
                    results,
                    lambda r: None,
                    text=lambda r, k=kind: (
                        f"{r.copies[k].check_with} / {r.copies[k].check_without}"
                        if k in r.copies
                        else "–"
                    ),
                ),
                ratio=False,
            ),
        ]
    return table


def _psnr_text(value: float | None) -> str:
    if value is None:
        return "–"
    return "exact" if value == math.inf else f"{value:.1f}"


def _refresh_rows(results: list[ServerResult]) -> list[Row]:
    def exact_after(r: ServerResult) -> str:
        if r.refresh is None:
            return "–"
        if r.refresh.exact_after is None:
            return f"never in {r.refresh.window:g} s"
        return f"{r.refresh.exact_after:.2f}"

    table = [
        attrs.evolve(
            _row(
                "refresh, wallpaper moved once, tight+JPEG q8: PSNR after the first update (dB)",
                results,
                lambda r: r.refresh.first,
                text=lambda r: _psnr_text(r.refresh.first if r.refresh else None),
            ),
            ratio=False,
        )
    ]
    for at in REFRESH_SAMPLES:
        table.append(
            attrs.evolve(
                _row(
                    f"… PSNR {at:g} s after the change (dB)",
                    results,
                    lambda r, t=at: r.refresh.later[t],
                    text=lambda r, t=at: _psnr_text(r.refresh.later.get(t) if r.refresh else None),
                ),
                ratio=False,
            )
        )
    table.append(
        _row("… exact after (s)", results, lambda r: r.refresh.exact_after, text=exact_after)
    )
    return table


def _h264_rows(results: list[ServerResult]) -> list[Row]:
    def h264(text: Callable[[FullFrame], str]) -> Callable[[ServerResult], str]:
        def cell(r: ServerResult) -> str:
            if r.h264_sent is False:
                return "n/a"
            return "–" if r.h264 is None else text(r.h264)

        return cell

    return [
        _row(
            "full 1080p frame, h264 (vncd: h264 = true): server CPU (ms/frame), new pixels "
            "each frame",
            results,
            lambda r: r.h264.new_cpu_ms,
            text=h264(lambda f: f"{f.new_cpu_ms:.1f}"),
        ),
        _row(
            "… h264: KB/frame, new pixels each frame",
            results,
            lambda r: r.h264.new_bytes / 1000,
            text=h264(lambda f: f"{f.new_bytes / 1000:.0f}"),
        ),
        attrs.evolve(
            _row(
                "… h264: last new frame decoded vs X server",
                results,
                lambda r: None,
                text=h264(lambda f: f.new_check),
            ),
            ratio=False,
        ),
    ]


def ratio(vncd: float | None, peer: float | None) -> str:
    if vncd is None or peer is None:
        return "–"
    if peer == 0:
        return "=" if vncd == 0 else "∞"
    return f"{vncd / peer:.2f}×"


def markdown_table(results: list[ServerResult]) -> str:
    names = [r.name for r in results]
    peers = [name for name in names if name != "vncd"] if "vncd" in names else []
    header = ["figure", *names, *(f"vncd / {peer}" for peer in peers)]
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    for row in rows(results):
        if all(text == "–" for text in row.texts.values()):
            continue  # a phase that was not run
        cells = [row.label, *(row.texts[name] for name in names)]
        for peer in peers:
            cells.append(ratio(row.values["vncd"], row.values[peer]) if row.ratio else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- targets (issues 8 and 9) ------------------------------------------------------------


def targets(results: list[ServerResult]) -> list[tuple[str, str, str]]:
    """(goal, what was measured, status) for each goal figure of issues 8 and 9."""
    by = {r.name: r for r in results}
    vncd, tiger = by.get("vncd"), by.get("x0vncserver")
    out: list[tuple[str, str, str]] = []

    def goal(text: str, measure: Callable[[], tuple[str, bool]]) -> None:
        try:
            measured, met = measure()
        except (KeyError, AttributeError, TypeError, ValueError, ZeroDivisionError):
            out.append((text, "no data", "not measured"))
            return
        out.append((text, measured, "met" if met else "**not met**"))

    def loads(result: ServerResult | None) -> dict[int, Load]:
        if result is None:
            raise KeyError("vncd was not measured")
        return result.loads

    goal(
        "8: no viewer → no capture (server CPU ≤ 0.2 % of a core)",
        lambda: (f"{vncd.idle.server:.2f} %", vncd.idle.server <= 0.2),
    )
    goal(
        "8: viewers on a static screen ≤ 0.5 % (1, 10, 50 viewers)",
        lambda: (
            ", ".join(f"{loads(vncd)[n].static.server:.1f}" for n in VIEWER_COUNTS) + " %",
            max(loads(vncd)[n].static.server for n in VIEWER_COUNTS) <= 0.5,
        ),
    )
    goal(
        "8: latency median ≤ 0.8× TigerVNC's",
        lambda: (
            f"{vncd.latency.percentile(50):.1f} ms vs {tiger.latency.percentile(50):.1f} ms",
            vncd.latency.percentile(50) <= 0.8 * tiger.latency.percentile(50),
        ),
    )
    goal(
        "8: latency p95 ≤ TigerVNC's p95",
        lambda: (
            f"{vncd.latency.percentile(95):.1f} ms vs {tiger.latency.percentile(95):.1f} ms",
            vncd.latency.percentile(95) <= tiger.latency.percentile(95),
        ),
    )
    for label in ANIMATION_ENCODINGS:
        goal(
            f"8: 60 distinct frames/s at 60 Hz, {label} (≥ 58 counted)",
            lambda k=label: (f"{vncd.animation[k].fps:.1f}/s", vncd.animation[k].fps >= 58),
        )
    many = VIEWER_COUNTS[-1]
    goal(
        f"8: {many} viewers of a changing screen all admitted",
        lambda: (f"{loads(vncd)[many].admitted} of {many}", loads(vncd)[many].admitted == many),
    )
    goal(
        f"8: each of {many} viewers ≥ 19.5 updates/s of a 20 Hz change",
        lambda: (f"min {loads(vncd)[many].ups_min:.1f}/s", loads(vncd)[many].ups_min >= 19.5),
    )
    goal(
        f"8: {many} viewers' total CPU ≤ 2× one viewer's (changing screen)",
        lambda: (
            f"{loads(vncd)[many].changing.server:.1f} % vs {loads(vncd)[1].changing.server:.1f} %",
            loads(vncd)[many].changing.server <= 2 * loads(vncd)[1].changing.server,
        ),
    )
    goal(
        "8: ≤ 2 MB per extra viewer at 1080p",
        lambda: (
            f"{(loads(vncd)[10].rss - loads(vncd)[1].rss) / 9 / 1e6:.2f} MB",
            (loads(vncd)[10].rss - loads(vncd)[1].rss) / 9 / 1e6 <= 2,
        ),
    )
    out.append(
        (
            "8: a slow link gets fewer, fresher frames; a stalled viewer keeps flat memory",
            "not measured by this bench (see the tests)",
            "–",
        )
    )
    for label in FULL_FRAME_ENCODINGS:
        goal(
            f"9: CPU per full frame (new pixels each frame) ≤ 1.0× TigerVNC's, {label}",
            lambda k=label: (
                f"{vncd.full[k].new_cpu_ms:.1f} vs {tiger.full[k].new_cpu_ms:.1f} ms",
                vncd.full[k].new_cpu_ms <= tiger.full[k].new_cpu_ms,
            ),
        )
    for label in FULL_FRAME_ENCODINGS:

        def size(k: str = label) -> tuple[str, bool]:
            peers = [r.full[k] for r in results if r.name != "vncd" and k in r.full]
            best = min(peers, key=lambda f: f.bytes)
            own = vncd.full[k]
            text = (
                f"{own.bytes / 1000:.0f} KB ({own.check}) vs "
                f"{best.bytes / 1000:.0f} KB ({best.check})"
            )
            return text, own.bytes <= 1.1 * best.bytes

        goal(f"9: bytes per full frame ≤ 1.1× the best peer's, {label}", size)
    for label in ANIMATION_ENCODINGS:
        goal(
            f"9: animation CPU ≤ TigerVNC's, {label}",
            lambda k=label: (
                f"{vncd.animation[k].cpu.server:.1f} vs {tiger.animation[k].cpu.server:.1f} %",
                vncd.animation[k].cpu.server <= tiger.animation[k].cpu.server,
            ),
        )
    one, many = SHARING_COUNTS
    goal(
        "9: ten viewers with the same settings cost ≤ 1.5× one viewer's CPU",
        lambda: (
            f"{vncd.sharing[many].cpu.server:.1f} % vs {vncd.sharing[one].cpu.server:.1f} % "
            "(animation, tight+JPEG q8)",
            vncd.sharing[many].cpu.server <= 1.5 * vncd.sharing[one].cpu.server,
        ),
    )

    def copies() -> tuple[str, bool]:
        figures = [vncd.copies[kind] for kind in COPY_KINDS]
        text = ", ".join(
            f"{kind} {f.ratio:.2f}× ({f.check_with})"
            for kind, f in zip(COPY_KINDS, figures, strict=True)
        )
        return text, all(f.ratio <= 0.2 and f.check_with == "exact" for f in figures)

    goal("9: scrolling and window moves as CopyRect (bytes ≤ 0.2× sending the pixels)", copies)

    def refresh() -> tuple[str, bool]:
        figures = vncd.refresh
        if figures.exact_after is None:
            last = figures.later[REFRESH_SAMPLES[-1]]
            return f"not exact in {figures.window:g} s ({_psnr_text(last)} dB)", False
        return f"exact {figures.exact_after:.2f} s after the change", True

    goal("9: lossy areas end up lossless once the screen is still", refresh)
    return out


# --- report ------------------------------------------------------------------------------


def machine() -> str:
    """CPU, cores, memory, OS and Python: what the figures depend on."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kilobytes = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kilobytes / 1e6:.1f} GB"
    debian = ""
    with contextlib.suppress(OSError):
        debian = f", Debian {Path('/etc/debian_version').read_text().strip()}"
    return (
        f"{model}, {len(os.sched_getaffinity(0))} cores{memory}{debian}, "
        f"Linux {platform.release()}, Python {platform.python_version()}"
    )


def report(
    results: list[ServerResult],
    command: str,
    started: datetime.datetime,
    seconds: float,
    load: str,
    full_run: bool,
) -> str:
    """The generated part of docs/performance.md (and what is printed)."""
    lines = [
        "## Latest run",
        "",
        f"- Command: `{command}`",
        f"- Date: {started:%Y-%m-%d %H:%M} UTC; took {seconds / 60:.1f} min",
        f"- Machine: {machine()}; load average {load}",
        "- Servers: " + "; ".join(f"{r.name}: {r.version or 'unknown version'}" for r in results),
        "",
        markdown_table(results),
        "",
    ]
    notes = []
    for result in results:
        if result.error:
            notes.append(f"- {result.name} did not run: {result.error}")
        for phase, error in result.errors.items():
            notes.append(f"- {result.name}, {phase}: {error}")
        for phase, count in result.unsolicited.items():
            notes.append(f"- {result.name}, {phase}: {count} updates answered no request")
        if result.latency and result.latency.missed:
            notes.append(
                f"- {result.name}: {result.latency.missed} latency samples never seen within 2 s"
            )
        painters = []
        if result.animation_painter_fps is not None:
            painters.append(f"animation {result.animation_painter_fps:.1f}/s")
        if result.sharing_painter_fps is not None:
            painters.append(f"animation for ten viewers {result.sharing_painter_fps:.1f}/s")
        if result.clock_painter_fps is not None:
            painters.append(f"clock {result.clock_painter_fps:.1f}/s")
        if painters:
            notes.append(f"- {result.name}: painters drew " + ", ".join(painters))
        for label, full in result.full.items():
            notes.append(
                f"- {result.name}, full frames {label}: {full.frames} frames, "
                f"{full.ms_per_frame:.0f} ms per request → decoded (same screen)"
            )
    if notes:
        lines += ["Notes:", "", *notes, ""]
    lines += [
        "## Targets (issues 8 and 9)",
        "",
        "| goal | measured (vncd vs peer) | status |",
        "|---|---|---|",
        *(
            f"| {goal} | {measured} | {status} |"
            for goal, measured, status in targets(results)
            if measured != "no data" or full_run
        ),
        "",
    ]
    return "\n".join(lines)


INTRO = """# Performance: vncd side by side with TigerVNC and x11vnc

`benchmarks/sidebyside.py` starts an Xvfb 1920x1080x24 with reproducible content (a
photo-like wallpaper and three xterms of seeded text), runs vncd, TigerVNC's x0vncserver
(1.12) and x11vnc (0.9.16, with `-nonap`) on it, each with its default settings, phase by
phase (every server runs a phase before the next phase starts, in an order that turns from
one phase to the next, so that the machine's drifting load weighs on them alike), and
measures each with the same client, built on `protocol`'s client role, which decodes every
rectangle. Run it from the repository root:

```sh
.venv/bin/python -m benchmarks.sidebyside     # or: just bench-side (about 10 minutes)
.venv/bin/python -m benchmarks.sidebyside --quick --only latency --servers vncd,x0vncserver
```

It installs the peers (Debian packages x11vnc and tigervnc-scraping-server) when they are
missing. A full run rewrites everything below the marker; `--quick`, `--only` and `--servers`
runs print their table without touching this file (`--json FILE` keeps every sample).

What the figures mean (the module docstring has the details):

- **Server CPU** is utime + stime of the server's processes (/proc) over a window, in % of
  one core; Xvfb's CPU is shown where capture makes the X server work.
- **Latency**: a 64x48 rectangle of a new colour is painted while the viewer (Tight, JPEG
  quality 8, compression 2, as TigerVNC's viewer asks) has a request outstanding; the time
  until the viewer has decoded those pixels. 50 samples at random moments.
- **Animation**: a 640x480 region redrawn at 60 frames/s, each frame numbered; distinct
  frames the viewer decoded per second, and the server's CPU meanwhile.
- **Viewers**: 1, 10 and 50 viewers on a static screen (measured once updates have stopped)
  and with a small 20 Hz "clock"; updates/s are distinct clock values each viewer decoded.
  RSS per extra viewer = (RSS with 10 viewers - RSS with 1) / 9.
- **Ten viewers**: the animation with Tight + JPEG quality 8 for one viewer, then for ten
  with the same settings: server CPU for each and the ratio (a server that encodes once for
  viewers alike stays near 1×). One viewer decodes and counts frames; the nine others only
  count updates, since ten decoders of 60 frames/s would not keep up on this machine.
- **CopyRect**: an xterm scrolling a line every 0.1 s (30 steps), and a 480x360 window
  showing a photo dragged 6x4 px every 0.1 s over the wallpaper (30 steps, there and back),
  each watched by a viewer asking for CopyRect then lossless Tight and one asking for lossless
  Tight only: bytes per step for each, the ratio with / without (what copying saves over
  sending the pixels), the CopyRect rectangles received, and both decoded pictures compared
  with the X server's pixels at the end.
- **Refresh**: a viewer asking as TigerVNC's viewer does (Tight, JPEG quality 8) sees the
  wallpaper redrawn shifted once, then a still screen: the PSNR of its picture right after the
  first update that follows the change, 0.5, 2 and 5 s after the change, and when it became
  exact ("never" within 8 s). A server with a lossless refresh ends exact; TigerVNC's raises
  the quality without reaching exact.
- **Full frames**: whole-screen non-incremental requests, one at a time, on the unchanged
  screen (a server may answer from a cache) and with new pixels before each request (it must
  encode); CPU per frame net of the server's idle use; bytes per frame; the decoded frame
  compared with the X server's pixels. For **H.264**, vncd is started a second time with
  `[encodings] h264 = true` and a viewer asks for Open H.264 only; the figures are those with
  new pixels each frame, asked for by incremental requests as an H.264 viewer does (CPU,
  bytes, the last frame's PSNR; the wallpaper only moves, which H.264's motion compensation
  sends cheaply); "n/a" for a server that sends no H.264 (x0vncserver 1.12 and x11vnc).
- Ratios are vncd / peer; for frames/s, updates/s and viewers admitted higher is better, for
  the rest lower is better.

The machine has 2 cores shared by the servers, the client and the painters, and often with
other jobs: figures move by 10-30 % between runs; compare servers within one run.

"""


def write_docs(text: str) -> None:
    """Replace the generated part of docs/performance.md, keeping what is written above it."""
    head = INTRO
    if DOCS.exists():
        current = DOCS.read_text()
        if BEGIN in current:
            head = current.split(BEGIN, 1)[0]
    DOCS.write_text(f"{head}{BEGIN}\n\n{text}")


# --- main --------------------------------------------------------------------------------


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default="vncd,x0vncserver,x11vnc", help="comma-separated")
    parser.add_argument("--quick", action="store_true", help="fewer samples, shorter windows")
    parser.add_argument("--only", default=",".join(PHASES), help=f"phases of {','.join(PHASES)}")
    write = parser.add_mutually_exclusive_group()
    write.add_argument("--write", dest="write", action="store_true", default=None)
    write.add_argument("--no-write", dest="write", action="store_false")
    parser.add_argument("--json", type=Path, help="save the raw results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the servers' logs and configs")
    arguments = parser.parse_args(argv)
    servers, only = _csv(arguments.servers), _csv(arguments.only)
    for name in servers:
        if name not in PEERS:
            parser.error(f"unknown server {name!r}; choose from {', '.join(PEERS)}")
    for phase in only:
        if phase not in PHASES:
            parser.error(f"unknown phase {phase!r}; choose from {', '.join(PHASES)}")
    full_run = not arguments.quick and set(only) == set(PHASES) and set(servers) == set(PEERS)
    write_it = full_run if arguments.write is None else arguments.write
    timing = Timing.quick() if arguments.quick else Timing()
    command = shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))

    # SIGTERM ends the run like Ctrl-C: through every finally below.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = datetime.datetime.now(datetime.UTC)
    clock = time.perf_counter()
    ensure_installed([PEERS[name] for name in servers])
    results: list[ServerResult] = []
    with contextlib.ExitStack() as stack:
        if arguments.keep:
            workdir = Path(tempfile.mkdtemp(prefix="sidebyside-"))
            print(f"keeping logs and configs in {workdir}", file=sys.stderr)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sidebyside-")))
        xvfb = Xvfb(workdir)
        scene: Scene | None = None
        try:
            xvfb.start()
            scene = Scene(xvfb)
            scene.build()
            print(f"Xvfb {xvfb.display} ready; measuring {', '.join(servers)}", file=sys.stderr)
            results = run_phases(servers, xvfb, scene, timing, only, workdir)
        finally:
            if scene is not None:
                scene.close()
            xvfb.stop()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    text = report(results, command, started, time.perf_counter() - clock, load, full_run)
    print(text)
    if arguments.json:
        arguments.json.write_text(json.dumps([attrs.asdict(r) for r in results], indent=1))
    if write_it:
        write_docs(text)
        print(f"wrote {DOCS.relative_to(REPOSITORY)}", file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # every process was stopped on the way out
        print("interrupted", file=sys.stderr)
        sys.exit(130)
