"""A live drawing served to VNC viewers and browsers by vncd, embedded in a Trio program.

Drag with the left button to paint, right-click to clear; the bar along the bottom is
redrawn ten times a second (numpy), so the picture is live even when nobody draws.

    python docs/examples/sketch.py [PORT]      # then: vncviewer 127.0.0.1::PORT
"""

from __future__ import annotations

import logging
import math
import sys

import numpy as np
import trio
from PIL import Image, ImageDraw

import vncd

WIDTH, HEIGHT, BAR = 640, 480, 24
PAPER = (255, 255, 255)
INK = (200, 30, 60)
BRUSH = 5  # radius in pixels


class Sketch:
    """The program's own state: its picture (Pillow), where the stroke is, and the canvas
    that shows the picture to the viewers."""

    def __init__(self, canvas: vncd.Canvas) -> None:
        self.canvas = canvas
        self.picture = Image.new("RGB", (WIDTH, HEIGHT - BAR), PAPER)
        self.last: tuple[int, int] | None = None  # the stroke's last point while drawing
        canvas.on_pointer = self.pointer

    def pointer(self, x: int, y: int, buttons: int) -> None:
        if buttons & 0b100:  # button 3: a clean sheet
            self.picture.paste(PAPER, (0, 0, *self.picture.size))
            self.canvas.paste(self.picture)
        if not buttons & 0b1 or y >= HEIGHT - BAR:
            self.last = None
            return
        start, self.last = self.last or (x, y), (x, y)
        self.stroke(start, (x, y))

    def stroke(self, start: tuple[int, int], end: tuple[int, int]) -> None:
        """Paint a round-ended line into the picture, then show the box it touched."""
        draw = ImageDraw.Draw(self.picture)
        draw.line([start, end], fill=INK, width=2 * BRUSH)
        for x, y in (start, end):
            draw.ellipse((x - BRUSH, y - BRUSH, x + BRUSH, y + BRUSH), fill=INK)
        left, top = min(start[0], end[0]) - BRUSH, min(start[1], end[1]) - BRUSH
        right, bottom = max(start[0], end[0]) + BRUSH + 1, max(start[1], end[1]) + BRUSH + 1
        box = (max(left, 0), max(top, 0), min(right, WIDTH), min(bottom, HEIGHT - BAR))
        self.canvas.paste(self.picture.crop(box), box[0], box[1])


async def animate(canvas: vncd.Canvas) -> None:
    """A band of colour that slides along the bottom bar, ten frames a second."""
    x = np.arange(WIDTH)
    for frame in range(sys.maxsize):
        phase = 2 * math.pi * (x / WIDTH - frame / 50)
        rgb = np.stack([127 + 127 * np.sin(phase + shift) for shift in (0, 2.1, 4.2)], -1)
        canvas.paste(np.repeat(rgb.astype(np.uint8)[None], BAR, 0), 0, HEIGHT - BAR)
        await trio.sleep(0.1)


async def main(port: int) -> None:
    canvas = vncd.Canvas(WIDTH, HEIGHT, name="sketch", background=PAPER)
    Sketch(canvas)
    config = vncd.parse_config("", "sketch", overrides={"server.port": port})
    async with trio.open_nursery() as nursery:
        nursery.start_soon(animate, canvas)
        await nursery.start(vncd.serve, canvas, config)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 5900)
