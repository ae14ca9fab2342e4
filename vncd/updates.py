"""Turning damage into a FramebufferUpdate for one viewer.

The builder keeps a copy of what its viewer shows. Damaged tiles are merged into rectangles,
each rectangle is shrunk to the pixels that really differ from the viewer's copy (so damage is
exact: a one-pixel change sends one pixel, a change that was undone sends nothing), and the
rest is encoded with the viewer's preferred encoding. ``build`` is plain synchronous code meant
to run in a worker thread: numpy, zlib and libjpeg release the GIL.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

import numpy as np

from protocol import PixelFormat, Rectangle
from protocol.encodings import ENCODERS, EncodeSettings, Encoding, make_encoder

from .frames import TILE, changed_pixels
from .region import Box


def tile_boxes(tiles: np.ndarray) -> list[Box]:
    """Merge a tile mask into few boxes: runs along each tile row, then equal runs of
    consecutive rows joined vertically. Boxes are in pixels and may overhang the frame."""
    boxes: list[Box] = []
    open_runs: dict[tuple[int, int], list[int]] = {}  # (first, end column) → [first row, rows]
    for row in range(tiles.shape[0]):
        line = np.concatenate(([False], tiles[row], [False]))
        edges = np.flatnonzero(line[1:] != line[:-1])
        runs = set(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))
        for run in list(open_runs):
            if run not in runs:
                boxes.append(_run_box(run, *open_runs.pop(run)))
        for run in runs:
            if run in open_runs:
                open_runs[run][1] += 1
            else:
                open_runs[run] = [row, 1]
    boxes.extend(_run_box(run, first, count) for run, (first, count) in open_runs.items())
    return boxes


def _run_box(run: tuple[int, int], first_row: int, rows: int) -> Box:
    first_column, end_column = run
    return Box(
        first_column * TILE, first_row * TILE, (end_column - first_column) * TILE, rows * TILE
    )


def exact_box(box: Box, new: np.ndarray, old: np.ndarray) -> Box | None:
    """The bounding box of the pixels inside ``box`` where ``new`` and ``old`` differ."""
    rows, columns = box.slices()
    differs = changed_pixels(old[rows, columns], new[rows, columns])
    changed_rows = np.flatnonzero(differs.any(axis=1))
    if changed_rows.size == 0:
        return None
    changed_columns = np.flatnonzero(differs.any(axis=0))
    return Box(
        box.x + int(changed_columns[0]),
        box.y + int(changed_rows[0]),
        int(changed_columns[-1] - changed_columns[0]) + 1,
        int(changed_rows[-1] - changed_rows[0]) + 1,
    )


def offered_encodings(h264: bool) -> frozenset[int]:
    """The pixel encodings this server will use: every registered encoder, except the ones
    that are off unless the configuration asks for them."""
    offered = set(ENCODERS)
    if not h264:
        offered.discard(Encoding.OPEN_H264)
    return frozenset(offered)


def choose_encoding(
    client_encodings: Sequence[int], pixel_format: PixelFormat, offered: Collection[int]
) -> int:
    """The viewer's most preferred encoding that we offer and that can carry its pixel
    format (Raw, which every viewer must support, when none)."""
    for number in client_encodings:
        if number in offered:
            supports = getattr(ENCODERS[number], "supports", None)
            if supports is None or supports(pixel_format):
                return number
    return Encoding.RAW


class UpdateBuilder:
    """Per-viewer update state: its encoders (with their zlib streams) and its pixels."""

    def __init__(self) -> None:
        self._encoders: dict[int, object] = {}
        self.viewer_pixels: np.ndarray | None = None

    def forget_viewer(self) -> None:
        """The viewer's picture is unknown (new size): the next update must be complete."""
        self.viewer_pixels = None

    def build(
        self,
        pixels: np.ndarray,
        damage: np.ndarray | None,
        refresh: Iterable[Box],
        pixel_format: PixelFormat,
        encoding: int,
        settings: EncodeSettings,
    ) -> list[Rectangle]:
        """Rectangles bringing the viewer up to date with ``pixels``.

        ``damage`` is the tile hint (None: anything may have changed); ``refresh`` are areas
        the viewer asked for in full (non-incremental requests), sent whether changed or not.
        Changes are sent wherever they are, not only inside the last request's area: viewers
        paint any rectangle inside the framebuffer, and it keeps the viewer's copy exact.
        """
        height, width = pixels.shape[:2]
        frame = Box(0, 0, width, height)
        viewer = self.viewer_pixels
        if viewer is None or viewer.shape != pixels.shape:
            viewer = self.viewer_pixels = np.zeros_like(pixels)
            refresh = [frame]
        encoder = self._encoder(encoding)
        rectangles: list[Rectangle] = []

        def send(box: Box) -> None:
            rows, columns = box.slices()
            region = pixels[rows, columns]
            rectangles.extend(encoder.encode(region, box.x, box.y, pixel_format, settings))
            viewer[rows, columns] = region

        for box in refresh:
            box = box.intersect(frame)
            if not box.empty:
                send(box)
        candidates = [frame] if damage is None else tile_boxes(damage)
        changed = []
        for candidate in candidates:
            candidate = candidate.intersect(frame)
            exact = None if candidate.empty else exact_box(candidate, pixels, viewer)
            if exact is not None:
                changed.append(exact)
        if changed and getattr(encoder, "whole_frame", False):
            changed = [frame]  # a video codec keeps one context for the whole screen
        for box in changed:
            send(box)
        return rectangles

    def _encoder(self, encoding: int):
        if encoding not in self._encoders:
            self._encoders[encoding] = make_encoder(encoding)
        return self._encoders[encoding]
