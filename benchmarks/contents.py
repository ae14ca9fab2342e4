"""Deterministic 1920x1080 screen contents for benchmarks, as (H, W, 4) uint8 BGRX arrays.

Encoders behave very differently on desktop-like and photo-like pixels, so every benchmark
measures the same three seeded pictures: ``text_desktop()`` (flat window chrome and lots of
small anti-aliased text), ``photo()`` (smooth, natural-looking image with fine texture) and
``mixed()`` (a text desktop with a photo window). Nothing is downloaded. Results are cached and
read-only, so benchmarks may share them without copying; slice or copy before writing.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 1920, 1080

_VOCABULARY = (
    "def class return import from self None True False async await with yield lambda "
    "numpy array frame pixel encode decode rect tile zlib stream buffer width height "
    "server client viewer update request colour format bytes len range for while if else "
    "the of and to in is that it was for on are as with his they at be this have from or "
    "$ ls -la cd make git status diff commit 0x1f 255 1920 1080 /usr/bin/python3 error: ok"
)
_WORDS = _VOCABULARY.split()

# (left, top, width, height, body RGB, text RGB, title) of the text windows, back to front.
_WINDOWS = (
    (40, 30, 900, 640, (255, 255, 255), (30, 30, 30), "editor.py - Code"),
    (700, 120, 1000, 560, (24, 24, 28), (200, 220, 200), "Terminal - bash"),
    (180, 560, 820, 440, (250, 248, 240), (40, 40, 90), "notes.txt"),
    (1060, 520, 820, 480, (30, 32, 48), (230, 230, 170), "Terminal - htop"),
)
_PHOTO_WINDOW = (560, 150, 960, 640)
_TITLE_HEIGHT = 24
_TASKBAR_HEIGHT = 36


@functools.cache
def text_desktop() -> np.ndarray:
    """A desktop of overlapping editor/terminal windows full of small text."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (58, 110, 165))
    draw = ImageDraw.Draw(image)
    rng = np.random.default_rng(1)
    font = ImageFont.load_default(size=13)
    for left, top, width, height, body, ink, title in _WINDOWS:
        _window_frame(draw, font, left, top, width, height, title)
        body_box = (left + 1, top + _TITLE_HEIGHT, left + width - 2, top + height - 2)
        draw.rectangle(body_box, fill=body)
        _text_lines(draw, font, rng, body_box, ink)
    _taskbar(draw, font)
    return _freeze(_bgrx(image))


@functools.cache
def photo() -> np.ndarray:
    """A smooth natural-looking image: gradients, low-frequency noise and fine texture."""
    rng = np.random.default_rng(2)
    ys = np.linspace(0.0, 1.0, HEIGHT, dtype=np.float32)[:, None, None]
    xs = np.linspace(0.0, 1.0, WIDTH, dtype=np.float32)[None, :, None]
    # Sky-like vertical gradient blending into warm ground, tilted slightly.
    top = np.array([90, 150, 230], np.float32)
    bottom = np.array([120, 100, 60], np.float32)
    blend = np.clip(ys * 1.3 - 0.15 + 0.2 * xs, 0.0, 1.0)
    rgb = top * (1 - blend) + bottom * blend
    rgb = rgb + 25 * np.sin(6.0 * xs + 3.0 * ys) * np.array([0.6, 1.0, 0.4], np.float32)
    # Blotchy shading: mostly brightness (shared by the channels), a little hue.
    rgb = rgb + _smooth_noise(rng, (6, 10), 1, 40.0) + _smooth_noise(rng, (9, 16), 3, 12.0)
    rgb = rgb + _smooth_noise(rng, (68, 120), 1, 10.0)
    # Texture grows towards the "ground" half, like foliage and gravel in a photograph.
    texture = rng.normal(0.0, 1.0, (HEIGHT, WIDTH, 1)).astype(np.float32)
    rgb = rgb + texture * (2.0 + 10.0 * blend)
    rgb = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    return _freeze(_bgrx_from_rgb(rgb))


@functools.cache
def mixed() -> np.ndarray:
    """The text desktop with a photo viewer window on top of it."""
    image = Image.fromarray(np.ascontiguousarray(text_desktop()[..., 2::-1]), "RGB")
    draw = ImageDraw.Draw(image)
    left, top, width, height = _PHOTO_WINDOW
    _window_frame(draw, ImageFont.load_default(size=13), left, top, width, height, "photo.jpg")
    inner = (width - 3, height - _TITLE_HEIGHT - 2)
    picture = photo()[200 : 200 + inner[1], 400 : 400 + inner[0], 2::-1]
    image.paste(
        Image.fromarray(np.ascontiguousarray(picture), "RGB"), (left + 1, top + _TITLE_HEIGHT)
    )
    return _freeze(_bgrx(image))


def _window_frame(draw, font, left: int, top: int, width: int, height: int, title: str) -> None:
    """Border, title bar with a vertical gradient, title and the three buttons."""
    draw.rectangle((left, top, left + width - 1, top + height - 1), fill=(90, 90, 96))
    for row in range(_TITLE_HEIGHT - 1):
        shade = 70 + row * 2
        draw.line(
            (left + 1, top + 1 + row, left + width - 2, top + 1 + row),
            fill=(shade, shade, shade + 20),
        )
    draw.text((left + 10, top + 5), title, fill=(240, 240, 240), font=font)
    for index, colour in enumerate(((230, 80, 70), (240, 190, 60), (90, 190, 90))):
        cx = left + width - 20 - 22 * index
        draw.ellipse((cx - 7, top + 5, cx + 7, top + 19), fill=colour)


def _text_lines(draw, font, rng: np.random.Generator, box: tuple[int, int, int, int], ink) -> None:
    """Lines of random words, indented and sometimes highlighted, clipped to ``box``."""
    left, top, right, bottom = box
    line_height = 16
    accents = ((200, 60, 60), (40, 120, 200), (150, 80, 170), (30, 150, 90))
    for line_top in range(top + 4, bottom - line_height, line_height):
        if rng.random() < 0.12:
            continue
        x = left + 6 + 14 * int(rng.integers(0, 4))
        for word in rng.choice(_WORDS, size=int(rng.integers(2, 14))):
            colour = accents[int(rng.integers(0, 4))] if rng.random() < 0.2 else ink
            text = str(word)
            width = draw.textlength(text, font=font)
            if x + width > right - 4:
                break
            draw.text((x, line_top), text, fill=colour, font=font)
            x += int(width) + 7


def _taskbar(draw, font) -> None:
    """A bottom panel with buttons and a clock."""
    top = HEIGHT - _TASKBAR_HEIGHT
    draw.rectangle((0, top, WIDTH - 1, HEIGHT - 1), fill=(35, 38, 45))
    for index, (*_, title) in enumerate(_WINDOWS):
        left = 60 + 190 * index
        draw.rectangle((left, top + 5, left + 180, HEIGHT - 6), fill=(60, 64, 74))
        draw.text((left + 8, top + 11), title, fill=(220, 220, 220), font=font)
    draw.text((WIDTH - 70, top + 11), "12:34", fill=(220, 220, 220), font=font)


def _smooth_noise(
    rng: np.random.Generator, grid: tuple[int, int], channels: int, amplitude: float
) -> np.ndarray:
    """Random values on a coarse grid, bicubically upsampled to the frame."""
    coarse = rng.normal(0.0, amplitude, (channels, *grid)).astype(np.float32)
    planes = [
        np.asarray(Image.fromarray(plane, "F").resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC))
        for plane in coarse
    ]
    return np.stack(planes, axis=-1)


def _bgrx(image: Image.Image) -> np.ndarray:
    return _bgrx_from_rgb(np.asarray(image))


def _bgrx_from_rgb(rgb: np.ndarray) -> np.ndarray:
    frame = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
    frame[..., 2::-1] = rgb
    return frame


def _freeze(frame: np.ndarray) -> np.ndarray:
    frame.flags.writeable = False
    return frame
