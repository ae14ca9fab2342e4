"""X clients and viewer commands that the interop and browser tests share."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import numpy as np
from PIL import Image

from .xpaint import paint_root, varied_scene


def x(display: str, *command: str) -> subprocess.Popen:
    """Start an X client on ``display``."""
    return subprocess.Popen(
        list(command), env={**os.environ, "DISPLAY": display}, stdout=subprocess.DEVNULL
    )


def vncdo(port: int, *actions: str, password: str | None = None) -> None:
    command = ["vncdo", "-s", f"127.0.0.1::{port}"]
    if password is not None:
        command += ["-p", password]
    subprocess.run([*command, *actions], check=True, timeout=60)


def load_rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def busy_desktop(display: str) -> list[subprocess.Popen]:
    """A root window of gradients and noise, and an xterm full of text: varied pixels."""
    paint_root(display, varied_scene(1024, 768))
    terminal = x(
        display, "xterm", "-geometry", "70x20+40+30", "-e", "sh", "-c", "ls -la /usr; sleep 600"
    )
    subprocess.run(["xdotool", "mousemove", "1023", "767"], env={**os.environ, "DISPLAY": display})
    time.sleep(1.5)
    return [terminal]


def wait_for_line(path: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not path.read_text().endswith("\n"):
        time.sleep(0.1)
