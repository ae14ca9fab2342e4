"""Painting known, varied pixels on an X display's root window with python-xlib."""

from __future__ import annotations

import numpy as np
from Xlib import X, display


def paint_root(display_name: str, pixels: np.ndarray) -> None:
    """Make ``pixels`` (H, W, 3 RGB uint8, the root's size) the root window's background.

    A background pixmap stays on screen after this client disconnects (Xvfb runs with
    -noreset), unlike drawing on the window itself."""
    connection = display.Display(display_name)
    try:
        screen = connection.screen()
        root = screen.root
        height, width = pixels.shape[:2]
        pixmap = root.create_pixmap(width, height, screen.root_depth)
        context = pixmap.create_gc()
        bgrx = np.zeros((height, width, 4), dtype=np.uint8)
        bgrx[..., 0], bgrx[..., 1], bgrx[..., 2] = pixels[..., 2], pixels[..., 1], pixels[..., 0]
        band = max(1, 60000 // (width * 4))  # keep each request under the X request size
        for top in range(0, height, band):
            rows = bgrx[top : top + band]
            pixmap.put_image(
                context, 0, top, width, rows.shape[0], X.ZPixmap, 24, 0, rows.tobytes()
            )
        root.change_attributes(background_pixmap=pixmap)
        root.clear_area(0, 0, width, height)
        connection.sync()
    finally:
        connection.close()


def varied_scene(width: int, height: int, seed: int = 1) -> np.ndarray:
    """Gradients, noise and flat blocks: thousands of distinct colours, sharp edges."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    scene = np.stack(
        [(x * 255 // max(1, width - 1)), (y * 255 // max(1, height - 1)), ((x + y) % 256)],
        axis=-1,
    ).astype(np.uint8)
    scene[height // 2 :, : width // 3] = rng.integers(0, 256, (height - height // 2, width // 3, 3))
    scene[40:200, 600:900] = (12, 200, 90)
    return scene
