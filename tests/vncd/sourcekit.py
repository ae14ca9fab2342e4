"""Driving a source directly, as a session would: its settings, keys, and where its picture
changed."""

from __future__ import annotations

import types

import numpy as np

from vncd.sources import Source


def source_config(kind: str, **overrides: object) -> types.SimpleNamespace:
    """What ``open_source`` reads (any object with SourceConfig's attributes): ``kind`` with
    small defaults (no display named, 320x200 resizable up to 640x400, no session command,
    not scaled) and ``overrides``."""
    settings = {
        "display": None,
        "geometry": (320, 200),
        "command": "",
        "resize": "any",
        "max_size": (640, 400),
        "scale": 1.0,
        "monitor": 0,
    }
    return types.SimpleNamespace(kind=kind, **{**settings, **overrides})


def press(source: Source, *keys: int) -> None:
    """Press the keys in order, release them in reverse: one key is a tap, several a chord
    such as Ctrl+C."""
    for keysym in keys:
        source.inject_key(keysym, True)
    for keysym in reversed(keys):
        source.inject_key(keysym, False)


def type_text(source: Source, text: str) -> None:
    """Tap each character's keysym (Latin-1 keysyms are the characters' code points)."""
    for char in text:
        press(source, ord(char))


def changed_box(before: np.ndarray, after: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) bounding the pixels that differ (exclusive ends), or None."""
    rows, columns = np.nonzero((before != after).any(axis=2))
    if rows.size == 0:
        return None
    return columns.min(), rows.min(), columns.max() + 1, rows.max() + 1
