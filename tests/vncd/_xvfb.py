"""A private Xvfb for tests (a free display number chosen by Xvfb itself, -displayfd), and
what tests of X clients need around it: polling for a state."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator

from benchmarks.desktop_scene import read_display
from tests.requirements import require_programs


def wait_for(condition: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds.
    (X clients act in their own processes: there is nothing to wait on but their effects.)"""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@contextlib.contextmanager
def private_xvfb(width: int = 640, height: int = 480, depth: int = 24) -> Iterator[str]:
    """Start Xvfb on a free display, yield its name (":N"), kill it afterwards.

    ``-noreset`` keeps the root window's contents when the last client leaves; ``-nolisten
    tcp`` keeps it off the network.
    """
    require_programs("Xvfb")
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [
            "Xvfb",
            "-displayfd",
            str(write_end),
            "-screen",
            "0",
            f"{width}x{height}x{depth}",
            "-noreset",
            "-nolisten",
            "tcp",
        ],
        pass_fds=(write_end,),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        yield read_display(read_end, process)
    finally:
        os.close(read_end)
        process.kill()
        process.wait()
