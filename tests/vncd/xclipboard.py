"""Other X clients on the clipboard: xclip and xsel copying and pasting, as a desktop's
applications do."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator

from tests.requirements import require_programs

XCLIP_SECONDS = 10.0


def paste(display: str, *arguments: str) -> subprocess.CompletedProcess[bytes]:
    """Run ``xclip -o`` with ``arguments``: what another X client gets when it pastes."""
    require_programs("xclip")
    return subprocess.run(
        ["xclip", "-o", *arguments],
        env={**os.environ, "DISPLAY": display},
        capture_output=True,
        timeout=XCLIP_SECONDS,
    )


def clipboard_bytes(display: str) -> bytes:
    """What an X client pastes from CLIPBOARD (nothing when no one owns it)."""
    return paste(display, "-selection", "clipboard").stdout


@contextlib.contextmanager
def copied(display: str, program: str, data: bytes, target: str | None = None) -> Iterator[None]:
    """Another X client (``program``: xclip or xsel) copies ``data`` to CLIPBOARD and serves
    it until the block ends; xclip can be told to offer it as ``target`` alone."""
    require_programs(program)
    if program == "xclip":
        only = ("-t", target) if target is not None else ()
        argv = ["xclip", "-quiet", "-selection", "clipboard", *only, "-i"]
    else:
        assert target is None, "xsel chooses its own targets"
        argv = ["xsel", "--nodetach", "--clipboard", "--input"]
    process = subprocess.Popen(
        argv,
        env={**os.environ, "DISPLAY": display},
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        process.stdin.write(data)
        process.stdin.close()
        yield
    finally:
        process.kill()
        process.wait()
