"""Prometheus metrics of one server, and the /metrics and /readyz pages.

Each server has a registry of its own (tests run several servers in one process). Most
figures already exist as counters somewhere (the guard, the frame bus, the sessions, the
shared encode cache) and are read when /metrics is scraped, by ``HubCollector``; only what
must be seen when it happens is recorded then, by ``Meters``, in one cheap call per capture,
encode or update (plain integer counters where a histogram is not needed).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import attrs
import trio
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from protocol import Rectangle
from protocol.encodings import Encoding

from .transports import StatusPage

if TYPE_CHECKING:
    from .hub import Hub

#: A rectangle's header on the wire (rfbproto 7.6.1: x, y, width, height, encoding).
RECTANGLE_HEADER = 12
#: Histogram buckets in seconds, for captures, encodes and latencies alike: from half a
#: millisecond (a small patch) to a couple of seconds (a stalled link).
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
#: /readyz answers 503 once a capture has been owed this long without one finishing.
READY_OVERDUE_SECONDS = 5.0


@attrs.frozen
class MetricInfo:
    """One metric as README.md lists it (a test holds the two together)."""

    name: str
    kind: str  # "counter", "gauge" or "histogram"
    help: str
    labels: tuple[str, ...] = ()


VIEWERS = MetricInfo(
    "vncd_viewers",
    "gauge",
    "Viewers past the handshake, by transport (tcp, tls, websocket, wss) and security type.",
    ("transport", "security"),
)
QUEUED = MetricInfo(
    "vncd_viewer_queued_bytes",
    "gauge",
    "Bytes written to a viewer that its fence answers have not yet confirmed (or the "
    "congestion model presumed) arrived; only viewers that answer fences.",
    ("viewer",),
)
PENDING = MetricInfo(
    "vncd_pending_connections",
    "gauge",
    "Connections not authenticated yet (each holds one of limits.max_unauthenticated).",
)
BLOCKED = MetricInfo(
    "vncd_blocked_addresses",
    "gauge",
    "Addresses that must wait before trying a password again (the back-off).",
)
AUTHENTICATIONS = MetricInfo(
    "vncd_authentications_total",
    "counter",
    "Passwords and user names checked, by result (success, failure).",
    ("result",),
)
FRAMES_CAPTURED = MetricInfo(
    "vncd_frames_captured_total", "counter", "Captures of the desktop, changed or not."
)
FRAMES_CHANGED = MetricInfo(
    "vncd_frames_changed_total", "counter", "Captures that found changed pixels."
)
CAPTURE_SECONDS = MetricInfo(
    "vncd_capture_duration_seconds",
    "histogram",
    "Time to capture a frame and find what changed, hand-off to the worker thread included.",
)
ENCODE_SECONDS = MetricInfo(
    "vncd_encode_duration_seconds",
    "histogram",
    "Time to encode one update's boxes, by encoding (an encoding shared with other viewers "
    "counts once).",
    ("encoding",),
)
LATENCY = MetricInfo(
    "vncd_update_latency_seconds",
    "histogram",
    "From the oldest change an update carries reaching the viewer's damage to the update "
    "being written to its connection.",
)
RECTANGLES = MetricInfo(
    "vncd_sent_rectangles_total",
    "counter",
    "Rectangles sent in updates, by encoding (pseudo-encodings too).",
    ("encoding",),
)
RECTANGLE_BYTES = MetricInfo(
    "vncd_sent_rectangle_bytes_total",
    "counter",
    "Bytes of the rectangles sent in updates (headers included), by encoding.",
    ("encoding",),
)
DEFERRED = MetricInfo(
    "vncd_updates_deferred_total",
    "counter",
    "Updates that were due but waited for a viewer's congestion window (once per wait).",
)
CACHE = MetricInfo(
    "vncd_shared_encodings_total",
    "counter",
    "Updates looked up among those encoded for other viewers, by result (hit, miss).",
    ("result",),
)

#: Every metric, in the order README.md lists them.
METRICS = (
    VIEWERS,
    QUEUED,
    PENDING,
    BLOCKED,
    AUTHENTICATIONS,
    FRAMES_CAPTURED,
    FRAMES_CHANGED,
    CAPTURE_SECONDS,
    ENCODE_SECONDS,
    LATENCY,
    RECTANGLES,
    RECTANGLE_BYTES,
    DEFERRED,
    CACHE,
)


def encoding_name(number: int) -> str:
    """``tight``, ``copy_rect``, ``cursor_with_alpha``...; the number for one without a name."""
    try:
        return Encoding(number).name.lower()
    except ValueError:
        return str(number)


def _histogram(info: MetricInfo, registry: CollectorRegistry) -> Histogram:
    return Histogram(info.name, info.help, info.labels, registry=registry, buckets=BUCKETS)


class Meters:
    """What the pipeline reports as it happens, on the server's own registry. Each hook is one
    call: two histograms without labels, one whose children are kept by encoding number, and
    plain counters that ``HubCollector`` reads when scraped."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._captures = _histogram(CAPTURE_SECONDS, self.registry)
        self._encodes = _histogram(ENCODE_SECONDS, self.registry)
        self._encodes_by_number: dict[int, Histogram] = {}
        self._latency = _histogram(LATENCY, self.registry)
        #: By encoding number: rectangles sent, and their bytes.
        self.rectangles: collections.Counter[int] = collections.Counter()
        self.rectangle_bytes: collections.Counter[int] = collections.Counter()
        self.updates_deferred = 0

    def captured(self, seconds: float) -> None:
        """A capture took ``seconds`` (vncd.frames.FrameBus)."""
        self._captures.observe(seconds)

    def encoded(self, encoding: int, seconds: float) -> None:
        """An update's boxes took ``seconds`` to encode (vncd.updates.UpdateBuilder)."""
        child = self._encodes_by_number.get(encoding)
        if child is None:
            child = self._encodes.labels(encoding_name(encoding))
            self._encodes_by_number[encoding] = child
        child.observe(seconds)

    def sent(self, rectangles: Sequence[Rectangle]) -> None:
        """An update with these rectangles goes out."""
        counts, sizes = self.rectangles, self.rectangle_bytes
        for rectangle in rectangles:
            counts[rectangle.encoding] += 1
            sizes[rectangle.encoding] += RECTANGLE_HEADER + len(rectangle.payload)

    def written(self, latency: float) -> None:
        """An update carrying damage was written ``latency`` seconds after its oldest change
        arrived."""
        self._latency.observe(latency)


class HubCollector:
    """The figures read from the hub at each scrape: viewers, queues, the guard, the bus,
    the shared encodings and the counters ``Meters`` keeps."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def collect(self) -> Iterator[Metric]:
        hub, now = self._hub, trio.current_time()
        sessions = [session for session in hub.sessions if session.admission is not None]
        viewers = _family(VIEWERS)
        by_kind = collections.Counter(
            (session.transport, session.admission.security) for session in sessions
        )
        for labels, count in sorted(by_kind.items()):
            viewers.add_metric(labels, count)
        yield viewers
        queued = _family(QUEUED)
        for session in sorted(sessions, key=lambda session: session.peer):
            if session.scheduler.fences:
                queued.add_metric([session.peer], session.scheduler.congestion.in_flight(now))
        yield queued
        guard = hub.guard.statistics(now)
        yield _family(PENDING, guard.pending)
        yield _family(BLOCKED, guard.blocked_addresses)
        authentications = _family(AUTHENTICATIONS)
        authentications.add_metric(["success"], guard.successes)
        authentications.add_metric(["failure"], guard.failures)
        yield authentications
        bus = hub.bus.statistics()
        yield _family(FRAMES_CAPTURED, bus.frames_captured)
        yield _family(FRAMES_CHANGED, bus.frames_changed)
        meters = hub.meters
        for info, counts in (
            (RECTANGLES, meters.rectangles),
            (RECTANGLE_BYTES, meters.rectangle_bytes),
        ):
            family = _family(info)
            for number, count in sorted(counts.items()):
                family.add_metric([encoding_name(number)], count)
            yield family
        yield _family(DEFERRED, meters.updates_deferred)
        cache = _family(CACHE)
        cache.add_metric(["hit"], hub.shared_encodings.hits)
        cache.add_metric(["miss"], hub.shared_encodings.misses)
        yield cache


def _family(info: MetricInfo, value: float | None = None) -> Metric:
    """An empty family for ``info`` (or one holding ``value``, without labels)."""
    kind = CounterMetricFamily if info.kind == "counter" else GaugeMetricFamily
    if value is not None:
        return kind(info.name, info.help, value=value)
    return kind(info.name, info.help, labels=info.labels)


def status_pages(hub: Hub) -> dict[str, Callable[[], StatusPage]]:
    """/readyz and /metrics of ``hub`` (whose collector this registers: once per hub)."""
    registry = hub.meters.registry
    registry.register(HubCollector(hub))

    def metrics_page() -> StatusPage:
        return StatusPage(200, CONTENT_TYPE_LATEST, generate_latest(registry))

    return {"/readyz": lambda: readiness(hub), "/metrics": metrics_page}


def readiness(hub: Hub) -> StatusPage:
    """/readyz: ready while the capture loop keeps up, meaning no capture has been owed
    (damage reported, or a new viewer waiting for its first frame) for
    ``READY_OVERDUE_SECONDS`` without one finishing. A still desktop or no viewers owe
    nothing, so they are ready; a capture that hangs (a wedged X server) is not."""
    overdue = hub.bus.overdue(trio.current_time())
    if overdue >= READY_OVERDUE_SECONDS:
        text = f"not ready: a capture has been owed for {overdue:.1f} s\n"
        return StatusPage(503, "text/plain; charset=utf-8", text.encode())
    return StatusPage(200, "text/plain; charset=utf-8", b"ready\n")
