"""vncd embedded in a program: ``vncd.serve`` with a ``vncd.Canvas`` over real sockets, and the
example app (docs/examples/sketch.py) run as a user would, painted on by vncdotool."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import trio
from PIL import Image

import vncd
from protocol import ClientCutText, FramebufferUpdateRequest, PointerEvent
from tests.requirements import program_path

from .viewer import Viewer

ROOT = Path(__file__).resolve().parents[2]
SKETCH = ROOT / "docs" / "examples" / "sketch.py"


def rgb(viewer: Viewer) -> np.ndarray:
    """The viewer's picture as (H, W, 3) RGB."""
    return viewer.framebuffer.pixels[:, :, 2::-1]


def local_config() -> vncd.Config:
    return vncd.parse_config("", "test", overrides={"server.port": 0})


async def test_a_canvas_is_served_and_hears_its_viewers() -> None:
    canvas = vncd.Canvas(80, 60, name="embedded", background=(10, 20, 30))
    pointer: list[tuple[int, int, int]] = []
    pasted: list[str] = []
    canvas.on_pointer = lambda x, y, mask: pointer.append((x, y, mask))
    canvas.on_clipboard = pasted.append
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(vncd.serve, canvas, local_config())
        port = listeners[0].socket.getsockname()[1]
        viewer = Viewer(await trio.open_tcp_stream("127.0.0.1", port))
        with trio.fail_after(10):
            init = await viewer.handshake()
            assert (init.width, init.height, init.name) == (80, 60, "embedded")
            await viewer.full_update()
            assert (rgb(viewer)[0, 0] == (10, 20, 30)).all()
            # A paste shows up as an update of just that box.
            canvas.paste(np.full((4, 5, 3), (200, 100, 50), np.uint8), 70, 50)
            await viewer.send(FramebufferUpdateRequest(True, 0, 0, 80, 60))
            update = await viewer.next_update()
            boxes = {(r.x, r.y, r.width, r.height) for r in update.rectangles}
            assert boxes == {(70, 50, 5, 4)}
            assert (rgb(viewer)[50:54, 70:75] == (200, 100, 50)).all()
            # A Pillow image is cut at the canvas's edge.
            canvas.paste(Image.new("RGB", (20, 20), (0, 255, 0)), 75, -5)
            await viewer.send(FramebufferUpdateRequest(True, 0, 0, 80, 60))
            await viewer.next_update()
            assert (rgb(viewer)[0:15, 75:80] == (0, 255, 0)).all()
            # Input and the clipboard, both ways.
            await viewer.send(PointerEvent(1, 12, 34), ClientCutText("from the viewer"))
            while not pasted:  # the program's text comes after the viewer's
                await trio.sleep(0.01)
            canvas.clipboard = "from the program"
            assert await viewer.next_cut_text() == "from the program"
        assert pointer[-1] == (12, 34, 1)
        assert pasted == ["from the viewer"]
        nursery.cancel_scope.cancel()


def test_canvas_refuses_what_it_cannot_show() -> None:
    canvas = vncd.Canvas(10, 10)
    with pytest.raises(ValueError, match="uint8 RGB array"):
        canvas.paste(np.zeros((2, 2), np.uint8))
    with pytest.raises(vncd.SourceError, match="1x1 to 16384x16384"):
        vncd.Canvas(0, 10)
    assert not canvas.resize(20, 20)


def vncdo(port: int, *commands: str) -> None:
    subprocess.run(
        [program_path("vncdo"), "-s", f"127.0.0.1::{port}", *commands], check=True, timeout=30
    )


def test_the_sketch_example_paints_what_a_viewer_drags(tmp_path: Path) -> None:
    """Run as its docstring says, from outside the checkout; vncdotool paints a stroke in two, the
    capture shows the ink along it, and the bottom bar moves between two captures."""
    process = subprocess.Popen(
        [sys.executable, str(SKETCH), "0"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stderr.readline()
        port = int(re.search(r"listening on \S+ port (\d+)", line)[1])
        vncdo(port, "move", "100", "200", "mousedown", "1", "move", "200", "200")
        vncdo(port, "move", "200", "200", "mousedown", "1", "move", "300", "200", "mouseup", "1")
        vncdo(port, "capture", str(tmp_path / "first.png"))
        time.sleep(0.3)
        vncdo(port, "capture", str(tmp_path / "second.png"))
    finally:
        process.terminate()
        process.wait(10)
    first = np.asarray(Image.open(tmp_path / "first.png").convert("RGB"))
    second = np.asarray(Image.open(tmp_path / "second.png").convert("RGB"))
    assert first.shape == (480, 640, 3)
    assert (first[200, 100:301] == (200, 30, 60)).all()  # the stroke, in INK
    assert (first[150, 100:301] == (255, 255, 255)).all()  # paper above it
    assert (first[:456] == second[:456]).all() and (first[456:] != second[456:]).any()


def readme_example() -> str:
    """The code block of the README's "Embedding vncd in a program"."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Embedding vncd in a program", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_example_serves_its_canvas(tmp_path: Path) -> None:
    """Run as written (on another port): the red box it fills is what a viewer captures."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = tmp_path / "app.py"
    script.write_text(readme_example().replace("5901", str(port)))
    process = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as client:
                if client.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)
        vncdo(port, "capture", str(tmp_path / "shot.png"))
    finally:
        process.terminate()
        process.wait(10)
    shot = np.asarray(Image.open(tmp_path / "shot.png").convert("RGB"))
    assert shot.shape == (480, 640, 3)
    assert (shot[10:60, 10:110] == (200, 30, 60)).all()
    assert (shot[60:, 110:] == (255, 255, 255)).all()
