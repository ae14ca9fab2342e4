"""vncd: a VNC server on Trio, built on the sans-I/O ``protocol`` package.

Embedding: a program serves its own pixels with ``await vncd.serve(source, config)`` in a
Trio program, or ``vncd.run(source, config)`` for a blocking call. ``source`` is anything
with the ``Source`` interface (``vncd.sources.base``: size, capture, damage, input,
clipboard, resize); ``Canvas`` is a ready one that shows RGB arrays and Pillow images.
"""

from __future__ import annotations

import functools

import trio

from .canvas import Canvas
from .config import Config, ConfigError, load_config, parse_config
from .region import Box
from .sources.base import Source, SourceError, SourceStatistics

__all__ = [
    "Box",
    "Canvas",
    "Config",
    "ConfigError",
    "Source",
    "SourceError",
    "SourceStatistics",
    "load_config",
    "parse_config",
    "run",
    "serve",
]


async def serve(
    source: Source,
    config: Config | None = None,
    *,
    task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``source`` to VNC viewers and browsers until cancelled, with ``config``'s
    listener, security and limits (default: ``Config()``, 127.0.0.1:5900, no password);
    ``[source]`` is not used. ``nursery.start(vncd.serve, ...)`` returns the listeners once
    they listen (port 0 picks a free port). The caller's own signal handling stays."""
    from .server import serve as serve_config

    await serve_config(
        config or Config(), handle_signals=False, source=source, task_status=task_status
    )


def run(source: Source, config: Config | None = None) -> None:
    """``serve`` in a Trio run of its own, until Ctrl-C or SIGTERM."""
    from .server import serve as serve_config

    trio.run(functools.partial(serve_config, config or Config(), source=source))
