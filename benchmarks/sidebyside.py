"""vncd side by side with TigerVNC's x0vncserver and x11vnc, on one Xvfb, measured by one
client: the table in docs/performance.md (issues 8 and 9).

Run from the repository root: ``python -m benchmarks.sidebyside`` (or ``just bench-side``);
``--quick`` takes fewer samples and shorter windows (for development), ``--only PHASE,...``
runs some phases, ``--servers NAME,...`` some servers. A full run (all servers, all phases, not
quick) rewrites the generated part of docs/performance.md; ``--write``/``--no-write`` force it.
``--json FILE`` saves every raw figure (each latency sample, …) for a closer look, ``--keep``
the servers' logs and configs.

Setup: Xvfb 1920x1080x24 with a photo-like wallpaper and three xterms of seeded text
(``desktop_scene``); each server in turn serves that display on 127.0.0.1 with its default
settings (``peers``) and is measured by viewers built on ``protocol.ClientConnection`` that
decode every rectangle (``measure_client``). The scene is restored before each server and
phase. Server CPU is utime + stime from /proc/PID/stat of the server's process tree, in % of
one core over a window (clock ticks of 10 ms: a 4 s window resolves 0.25 %); Xvfb's CPU is read
the same way, since capturing costs the X server too. The client, the painters and the servers
share the machine's cores, so every figure includes that contention, equally for each server.

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
- **animation** (raw, hextile, tight + JPEG q8): a painter process draws a 640x480 scrolling
  photo at 60 frames/s, each frame numbered with a barcode; a viewer with one incremental
  request outstanding decodes every update and reads the number back. Frames/s = distinct
  numbers decoded per second over the window; with the server's CPU over the same window.
- **viewers**: 1, then 10, then 50 viewers asking for the same encodings as for latency,
  connected one after the other, each once the one before has decoded its first full update
  (a viewer counts as admitted once it has). Server CPU on a static screen is measured once
  no viewer has had an update for 1.5 s: TigerVNC re-sends the areas it sent as JPEG
  losslessly, one column per update, which takes this client ~25 s for 50 viewers. Then RSS
  (/proc/PID/statm); then a painter changes a 128x16 barcode "clock" at 20 Hz and we read
  server CPU and, per viewer, distinct clock values decoded per second (mean and minimum over
  the admitted viewers). RSS per extra viewer is (RSS with 10 - RSS with 1) / 9.

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

from .desktop_scene import (
    ANIMATION,
    ANIMATION_CELL,
    CLOCK,
    CLOCK_CELL,
    CURSOR_CORNER,
    Box,
    Painter,
    Scene,
    Xvfb,
    read_barcode,
    spot,
    spot_colour,
)
from .measure_client import (
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

PHASES = ("idle", "latency", "fullframe", "animation", "viewers")
FULL_FRAME_ENCODINGS: dict[str, tuple[int, ...]] = {
    "raw": RAW,
    "hextile": HEXTILE,
    "zrle": ZRLE,
    "tight": TIGHT_LOSSLESS,
    "tight+JPEG q8": TIGHT_JPEG,
}
ANIMATION_ENCODINGS = {"raw": RAW, "hextile": HEXTILE, "tight+JPEG q8": TIGHT_JPEG}
VIEWER_COUNTS = (1, 10, 50)
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
    animation_window: float = 4.0
    static_window: float = 4.0
    clock_warmup: float = 1.0
    clock_window: float = 3.0

    @classmethod
    def quick(cls) -> Timing:
        return cls(0.5, 2.0, 12, 2, 6, 0.5, 1.0, 0.5, 2.0, 1.5, 0.5, 1.5)


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
    what it encoded before) and with new pixels before each request (it must encode)."""

    cpu_ms: float
    new_cpu_ms: float
    bytes: float
    check: str
    frames: int
    ms_per_frame: float  # wall clock per request → decoded, unchanged screen


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
    animation: dict[str, Animation] = attrs.Factory(dict)
    animation_painter_fps: float | None = None
    loads: dict[int, Load] = attrs.Factory(dict)
    clock_painter_fps: float | None = None
    unsolicited: dict[str, int] = attrs.Factory(dict)  # phase → updates nobody asked for
    seconds: float = 0.0


# --- phases ------------------------------------------------------------------------------


class Bench:
    """One server's run: the phases share its port, the pool, the CPU meter and the scene."""

    def __init__(
        self,
        server: RunningServer,
        xvfb: Xvfb,
        scene: Scene,
        timing: Timing,
        result: ServerResult,
    ) -> None:
        self.server = server
        self.xvfb = xvfb
        self.scene = scene
        self.timing = timing
        self.result = result
        self.meter = CpuMeter(server.pid, xvfb.pid)
        self.pool = ViewerPool()
        self.phase = ""
        self.connected: list[tuple[str, Viewer]] = []

    def connect(
        self, encodings: Sequence[int], *, pointer: bool = True, auto_request: bool = True
    ) -> Viewer:
        """A viewer connected and handed to the pool, kept for ``unsolicited()``."""
        viewer = connect(self.server.port, encodings, pointer=pointer, auto_request=auto_request)
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

    def viewer(self, encodings: Sequence[int], *, auto_request: bool = True) -> Viewer:
        """A connected viewer that has decoded its first (full) update."""
        viewer = self.connect(encodings, auto_request=auto_request)
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

    def _full_frames(self, encodings: Sequence[int], truth: np.ndarray) -> FullFrame:
        viewer = self.viewer(encodings, auto_request=False)
        try:
            time.sleep(0.3)
            baseline = self.meter.over(self.timing.baseline).server / 100
            received = viewer.bytes_received()
            same_ms, same_frames, elapsed = self._request_frames(viewer, baseline, None)
            size = (viewer.bytes_received() - received) / same_frames
            check = compare(viewer.framebuffer.pixels, truth)
            new_ms, new_frames, _ = self._request_frames(viewer, baseline, self.scene.shift)
            self.scene.restore()  # while connected, so the server sees it
            time.sleep(self.timing.settle)
            return FullFrame(same_ms, new_ms, size, check, same_frames + new_frames, elapsed)
        finally:
            self.pool.close(viewer)

    def _request_frames(
        self, viewer: Viewer, baseline: float, change: Callable[[int], None] | None
    ) -> tuple[float, int, float]:
        """Whole-screen requests one after the other, each after ``change`` (then a pause
        for every server to have seen it): server CPU ms per frame net of ``baseline`` (CPU
        seconds per second while idle), frames, wall ms per request → decoded."""
        timing = self.timing
        start = self.meter.read()
        frames = 0
        while frames < timing.full_max_frames and (
            frames < timing.full_min_frames
            or time.perf_counter() - start.at < timing.full_min_seconds
        ):
            if change is not None:
                change(frames)
                time.sleep(CHANGE_PAUSE)
            before = viewer.updates
            viewer.request(incremental=False)
            if not viewer.wait_updates(before + 1, FIRST_UPDATE_SECONDS):
                raise RuntimeError(f"no full update ({viewer.error or 'timed out'})")
            frames += 1
        end = self.meter.read()
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


def compare(pixels: np.ndarray, truth: np.ndarray) -> str:
    """ "exact", or how far a decoded frame is from the X server's pixels (cursor corner
    masked: servers that draw the cursor into the framebuffer differ there by design)."""
    mask = np.ones(truth.shape[:2], bool)
    CURSOR_CORNER.of(mask)[...] = False
    error = pixels[..., :3].astype(np.int16) - truth[..., :3]
    error = error[mask]
    differing = int(np.count_nonzero(error.any(axis=-1)))
    if not differing:
        return "exact"
    mse = float(np.mean(error.astype(np.float64) ** 2))
    psnr = 10 * math.log10(255**2 / mse)
    share = differing / mask.sum()
    return f"PSNR {psnr:.1f} dB" if share > 0.01 else f"{differing} px differ"


def run_server(
    name: str, xvfb: Xvfb, scene: Scene, timing: Timing, only: Sequence[str], workdir: Path
) -> ServerResult:
    """Start one server, run the phases on it, stop it; failures become notes, not crashes."""
    peer = PEERS[name]
    result = ServerResult(name, peer.version())
    started = time.perf_counter()
    scene.restore()
    try:
        server = RunningServer(peer, xvfb.display, xvfb.env, workdir / name)
    except RuntimeError as error:
        result.error = str(error)
        return result
    bench = Bench(server, xvfb, scene, timing, result)
    try:
        for phase in PHASES:
            if phase not in only:
                continue
            if not server.alive():
                result.errors[phase] = f"server exited: {server.log_tail()}"
                continue
            print(f"  {name}: {phase}", file=sys.stderr, flush=True)
            bench.phase = phase
            scene.restore()
            try:
                getattr(bench, phase)()
            except (Refused, RuntimeError, OSError) as error:
                died = "" if server.alive() else f"; server exited: {server.log_tail()}"
                result.errors[phase] = f"{type(error).__name__}: {error}{died}"
    finally:
        bench.pool.stop()
        server.stop()
        result.unsolicited = bench.unsolicited()
        result.seconds = time.perf_counter() - started
    return result


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
        except (KeyError, AttributeError, TypeError):
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
    for count in VIEWER_COUNTS:
        table.append(
            _row(
                f"static screen, {count} viewer{'s' * (count > 1)}: server CPU (%)",
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
                f"20 Hz clock, {count} viewer{'s' * (count > 1)}: server CPU (%)",
                results,
                load(count, lambda x: x.changing.server),
            )
        )
        table.append(
            _row(
                f"… {count} viewer{'s' * (count > 1)}: clock updates/s each, mean (min)",
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
    return table


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
        assert result is not None
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
    goal(
        "9: ten viewers cost ≤ 1.5× one viewer's CPU (20 Hz clock)",
        lambda: (
            f"{loads(vncd)[10].changing.server:.1f} % vs {loads(vncd)[1].changing.server:.1f} %",
            loads(vncd)[10].changing.server <= 1.5 * loads(vncd)[1].changing.server,
        ),
    )
    out.append(
        (
            "9: scrolling and window moves as CopyRect (bytes ≤ 0.2×)",
            "not measured by this bench",
            "–",
        )
    )
    out.append(
        (
            "9: lossy areas end up lossless once the screen is still",
            "not measured by this bench",
            "–",
        )
    )
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
(1.12) and x11vnc (0.9.16, with `-nonap`) on it in turn, each with its default settings, and
measures each with the same client, built on `protocol`'s client role, which decodes every
rectangle. Run it from the repository root:

```sh
.venv/bin/python -m benchmarks.sidebyside     # or: just bench-side (5-7 minutes)
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
- **Full frames**: whole-screen non-incremental requests, one at a time, on the unchanged
  screen (a server may answer from a cache) and with new pixels before each request (it must
  encode); CPU per frame net of the server's idle use; bytes per frame; the decoded frame
  compared with the X server's pixels.
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
            for name in servers:
                results.append(run_server(name, xvfb, scene, timing, only, workdir))
                print(f"  {name}: done in {results[-1].seconds:.0f} s", file=sys.stderr)
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
