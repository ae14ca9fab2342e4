"""A private Xvfb for tests: a free display number chosen by Xvfb itself (-displayfd)."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
from collections.abc import Iterator

import pytest

STARTUP_SECONDS = 20


def need_xvfb() -> None:
    """Skip the calling test when Xvfb is not installed."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed")


@contextlib.contextmanager
def private_xvfb(width: int = 640, height: int = 480, depth: int = 24) -> Iterator[str]:
    """Start Xvfb on a free display, yield its name (":N"), kill it afterwards.

    ``-noreset`` keeps the root window's contents when the last client leaves; ``-nolisten
    tcp`` keeps it off the network.
    """
    need_xvfb()
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
        number = b""
        while not number.endswith(b"\n"):
            ready, _, _ = select.select([read_end], [], [], STARTUP_SECONDS)
            chunk = os.read(read_end, 16) if ready else b""
            if not chunk:
                raise RuntimeError(f"Xvfb did not start (exit status {process.poll()})")
            number += chunk
        yield f":{int(number)}"
    finally:
        os.close(read_end)
        process.kill()
        process.wait()
