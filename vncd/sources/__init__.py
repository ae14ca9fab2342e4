"""Desktop sources (base: the interface; demo, x11, xvfb) and ``open_source`` to pick one."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from .base import Source, SourceConfig, SourceError, SourceStatistics
from .demo import DemoSource
from .x11 import X11Source
from .xvfb import open_xvfb

__all__ = [
    "DemoSource",
    "Source",
    "SourceConfig",
    "SourceError",
    "SourceStatistics",
    "X11Source",
    "open_source",
    "open_xvfb",
]

log = logging.getLogger(__name__)


@asynccontextmanager
async def open_source(config: SourceConfig) -> AsyncIterator[Source]:
    """Start the configured source and stop it on exit; "auto" is x11 when a display answers."""
    if config.kind == "demo":
        yield DemoSource(config.geometry)
    elif config.kind == "xvfb":
        max_size = None if config.resize == "none" else config.max_size
        async with open_xvfb(config.geometry, config.command, max_size) as source:
            yield source
    elif config.kind in ("x11", "auto"):
        source = await _attach(config)
        if source is None:
            yield DemoSource(config.geometry)
            return
        try:
            yield source
        finally:
            source.close()
    else:
        raise SourceError(f"unknown source kind {config.kind!r} (auto, demo, x11 or xvfb)")


async def _attach(config: SourceConfig) -> X11Source | None:
    """The X11 source; for "auto", None (→ demo) when there is no reachable display."""
    if config.kind == "auto" and not (config.display or os.environ.get("DISPLAY")):
        log.info("no $DISPLAY: serving the demo desktop")
        return None
    try:
        return await trio.to_thread.run_sync(X11Source, config.display)
    except SourceError as error:
        if config.kind == "x11":
            raise
        log.info("%s: serving the demo desktop", error)
        return None
