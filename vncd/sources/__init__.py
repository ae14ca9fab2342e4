"""Desktop sources (base: the interface; demo, x11, xvfb, desktop) and ``open_source`` to pick
one."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from .base import Source, SourceConfig, SourceError, SourceStatistics
from .demo import DemoSource
from .desktop import DesktopSource
from .scaled import ScaledSource, scale_factor
from .x11 import X11Source
from .xvfb import open_xvfb

__all__ = [
    "DemoSource",
    "DesktopSource",
    "Source",
    "SourceConfig",
    "SourceError",
    "SourceStatistics",
    "X11Source",
    "open_source",
    "open_xvfb",
]

log = logging.getLogger(__name__)

#: Where "auto" serves the desktop through mss and pynput (sys.platform values).
DESKTOP_PLATFORMS = ("win32", "darwin")


@asynccontextmanager
async def open_source(config: SourceConfig) -> AsyncIterator[Source]:
    """Start the configured source, scaled if so configured, and stop it on exit."""
    async with _open_unscaled(config) as source:
        if config.scale == 1:
            yield source
            return
        scaled = ScaledSource(source, scale_factor(config.scale))
        log.info("serving the %dx%d desktop scaled to %dx%d", *source.size, *scaled.size)
        yield scaled


@asynccontextmanager
async def _open_unscaled(config: SourceConfig) -> AsyncIterator[Source]:
    """Start the configured source and stop it on exit; "auto" is desktop on Windows and macOS,
    else x11 when a display answers, else demo."""
    if config.kind == "desktop" or (config.kind == "auto" and sys.platform in DESKTOP_PLATFORMS):
        desktop = await _open_desktop(config)
        try:
            yield desktop or DemoSource(config.geometry)
        finally:
            if desktop is not None:
                desktop.close()
    elif config.kind == "demo":
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
        raise SourceError(f"unknown source kind {config.kind!r} (auto, demo, x11, xvfb or desktop)")


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


async def _open_desktop(config: SourceConfig) -> DesktopSource | None:
    """The desktop source; for "auto", None (→ demo) when it cannot start."""
    if config.display and config.kind == "desktop":
        raise SourceError(
            f"source.display = {config.display!r} is for kind x11: the desktop source serves "
            "the desktop vncd runs on ($DISPLAY on X11)"
        )
    try:
        return await trio.to_thread.run_sync(DesktopSource, config.monitor)
    except SourceError as error:
        if config.kind == "desktop":
            raise
        log.info("%s: serving the demo desktop", error)
        return None
