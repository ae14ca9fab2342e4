"""Using the web client as a person would: open it, read its status line, look at and point
into the remote screen (noVNC's canvas)."""

from __future__ import annotations

import base64
import io
import math
import time
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import numpy as np
from PIL import Image

from tests.protocol.roundtrip import psnr

if TYPE_CHECKING:
    from playwright.sync_api import Page

CANVAS = "#screen canvas"


def open_client(page: Page, url: str, **params: str | int) -> None:
    """Load the page, with URL parameters such as ``quality=9`` or ``password=...``."""
    page.goto(f"{url}?{urlencode(params)}" if params else url)


def wait_for_state(page: Page, state: str, timeout: float = 10.0) -> None:
    """Wait until the status line reports ``state`` (connected, credentials, retrying, …)."""
    page.locator(f'#status[data-state="{state}"]').wait_for(
        state="attached", timeout=timeout * 1000
    )


def screen_pixels(page: Page) -> np.ndarray:
    """The remote screen as the page holds it, (H, W, 3) RGB, read back as a PNG."""
    data_url = page.evaluate(f"() => document.querySelector({CANVAS!r}).toDataURL('image/png')")
    png = base64.b64decode(data_url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def wait_for_pixels(page: Page, expected: np.ndarray, timeout: float = 10.0) -> np.ndarray:
    """Poll the screen until it equals ``expected`` (updates may take several messages);
    returns the last screen either way, for the caller's assertion."""
    deadline = time.monotonic() + timeout
    while True:
        pixels = screen_pixels(page)
        if np.array_equal(pixels, expected) or time.monotonic() > deadline:
            return pixels
        time.sleep(0.2)


def wait_for_psnr(page: Page, truth: np.ndarray, bound: float, timeout: float = 10.0) -> float:
    """Poll the screen until it is within ``bound`` dB of ``truth`` (lossy encodings); returns
    the last PSNR either way, for the caller's assertion."""
    deadline = time.monotonic() + timeout
    while (quality := psnr(screen_pixels(page), truth)) < bound and time.monotonic() < deadline:
        time.sleep(0.2)
    return quality


def screen_point(page: Page, x: int, y: int) -> tuple[int, int]:
    """Page coordinates that noVNC maps to remote pixel (x, y), which the canvas may show
    scaled. Mouse events carry whole CSS pixels and noVNC truncates (position - canvas
    edge) / scale, so pick the whole coordinate nearest the pixel's middle that lands in it."""
    canvas = page.locator(CANVAS)
    box = canvas.bounding_box()
    assert box is not None, "the remote screen is not displayed"
    width, height = canvas.evaluate("canvas => [canvas.width, canvas.height]")
    return (
        _client_coordinate(box["x"], box["width"] / width, x),
        _client_coordinate(box["y"], box["height"] / height, y),
    )


def _client_coordinate(edge: float, scale: float, index: int) -> int:
    middle = edge + (index + 0.5) * scale
    candidates = range(math.floor(edge + index * scale), math.ceil(edge + (index + 1) * scale) + 1)
    for client in sorted(candidates, key=lambda client: abs(client - middle)):
        if int((client - edge) / scale) == index:
            return client
    raise AssertionError(f"no whole page coordinate shows remote pixel {index}")
