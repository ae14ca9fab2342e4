"""Hypothesis strategies and content generators shared by the protocol tests: pixel formats,
frames, and pictures of the kinds each encoding has a form for."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from protocol._pixelformat import BGRX, PixelFormat

from .roundtrip import FORMATS


@st.composite
def pixel_formats(draw: st.DrawFn) -> PixelFormat:
    """Any valid format: each channel 1..16 bits, laid out without overlap in any order
    with any gaps, either endian; or a colour-map format."""
    bpp = draw(st.sampled_from([8, 16, 32]))
    depth = draw(st.integers(0, bpp))
    big_endian = draw(st.booleans())
    if not draw(st.booleans()):
        return PixelFormat(bpp, depth, big_endian, False, 0, 0, 0, 0, 0, 0)
    widths = [draw(st.integers(1, min(16, bpp - 2))) for _ in range(3)]
    while sum(widths) > bpp:
        widths[widths.index(max(widths))] -= 1
    order = draw(st.permutations([0, 1, 2]))
    spare = bpp - sum(widths)
    shifts = [0, 0, 0]
    position = 0
    for channel in order:
        gap = draw(st.integers(0, spare))
        spare -= gap
        shifts[channel] = position + gap
        position += gap + widths[channel]
    maxima = [(1 << w) - 1 for w in widths]
    return PixelFormat(bpp, depth, big_endian, True, *maxima, *shifts)


def byte_formats() -> st.SearchStrategy[PixelFormat]:
    """The 32-bpp formats with whole-byte channels (the byte-permutation path)."""
    return st.builds(
        lambda big, shifts: PixelFormat(32, 24, big, True, 255, 255, 255, *shifts),
        st.booleans(),
        st.permutations([0, 8, 16, 24]).map(lambda p: p[:3]),
    )


frames = arrays(
    np.uint8,
    st.tuples(st.integers(0, 6), st.integers(0, 6), st.just(4)),
    elements=st.integers(0, 255),
)
any_format = st.one_of(pixel_formats(), byte_formats(), st.just(BGRX))


def led_by(heads: st.SearchStrategy[int], max_size: int | None = 60) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes after a first byte drawn from ``heads``: garbage that gets past a
    dispatch on that byte more often than chance would."""
    return st.builds(lambda head, rest: bytes([head]) + rest, heads, st.binary(max_size=max_size))


#: Viewer formats more often than chance would pick them, and any other.
formats = st.one_of(st.sampled_from(FORMATS), any_format)


# --- Pictures for the lossless encodings (RRE, Hextile, Zlib) -----------------------------

PICTURE_KINDS = ("solid", "two", "few", "noise", "gradient", "text")


def picture(kind: str, width: int, height: int, seed: int) -> np.ndarray:
    """(H, W, 4) BGRX content of one kind; the X byte is random (it must not matter)."""
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, (16, 4), dtype=np.uint8)
    if kind == "noise":
        return rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    if kind == "gradient":
        ramp = np.add.outer(np.arange(height) * 7, np.arange(width) * 3)
        pixels = (ramp[..., None] * rng.integers(1, 5, 4) + palette[0]).astype(np.uint8)
        return pixels
    if kind == "text":  # flat background, strokes, and anti-aliasing-like in-between shades
        index = np.zeros((height, width), np.intp)
        strokes = rng.random((height, width)) < 0.2
        index[strokes] = 1
        edges = np.zeros_like(strokes)
        edges[:, 1:] |= strokes[:, :-1] & ~strokes[:, 1:]
        index[edges] = rng.integers(2, 5, int(edges.sum()))
        return palette[index]
    colours = {"solid": 1, "two": 2, "few": 16}[kind]
    blocky = rng.integers(0, colours, (height // 3 + 1, width // 3 + 1))
    index = np.repeat(np.repeat(blocky, 3, axis=0), 3, axis=1)[:height, :width]
    flecks = rng.random((height, width)) < 0.1
    index[flecks] = rng.integers(0, colours, int(flecks.sum()))
    return palette[index]


@st.composite
def pictures(draw: st.DrawFn, max_side: int = 40) -> np.ndarray:
    """Content of every kind at awkward sizes: 1x1, tile-edge sizes and odd shapes."""
    side = st.one_of(st.sampled_from([1, 2, 15, 16, 17, 33]), st.integers(0, max_side))
    return picture(
        draw(st.sampled_from(PICTURE_KINDS)),
        draw(side),
        draw(side),
        draw(st.integers(0, 2**32 - 1)),
    )


# --- Images for Tight and TightPNG (their palette, copy and JPEG forms) -------------------


@st.composite
def images(draw: st.DrawFn) -> np.ndarray:
    """Desktop-like and photo-like content of awkward sizes."""
    sizes = [(1, 1), (15, 17), (65, 3), (3, 65), (64, 64), (70, 130)]
    height, width = draw(
        st.one_of(st.sampled_from(sizes), st.tuples(st.integers(1, 90), st.integers(1, 90)))
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["solid", "two", "few", "many", "noise", "gradient", "text"]))
    if kind == "noise":
        return rng.integers(0, 256, (height, width, 4), np.uint8)
    if kind == "gradient":
        ys, xs = np.mgrid[0:height, 0:width]
        return np.stack([xs * 7 % 256, ys * 5 % 256, (xs + ys) % 256, xs % 3], -1).astype(np.uint8)
    colours = rng.integers(
        0, 256, ({"solid": 1, "two": 2, "few": 16, "many": 300, "text": 3}[kind], 4), np.uint8
    )
    if kind != "text":
        return colours[rng.integers(0, len(colours), (height, width))]
    pixels = np.broadcast_to(colours[0], (height, width, 4)).copy()
    pixels[rng.random((height, width)) < 0.15] = colours[1]
    pixels[rng.random((height, width)) < 0.03] = colours[2]
    return pixels


def smooth(height: int = 96, width: int = 160) -> np.ndarray:
    """Gradients in every channel: what JPEG is for."""
    ys, xs = np.mgrid[0:height, 0:width]
    pixels = np.zeros((height, width, 4), np.uint8)
    pixels[..., 2] = xs * 255 // (width - 1)
    pixels[..., 1] = ys * 255 // (height - 1)
    pixels[..., 0] = (xs + ys) * 255 // (width + height - 2)
    return pixels


# --- Screens and tile streams for TRLE and ZRLE (rfbproto 7.7.5, 7.7.8) -------------------

SCREEN_SIZES = st.one_of(
    st.sampled_from([(1, 1), (3, 65), (70, 130), (17, 15), (16, 16), (64, 64), (1, 200)]),
    st.tuples(st.integers(1, 90), st.integers(1, 140)),
)
SCREEN_KINDS = ["solid", "two", "few", "palette", "noise", "gradient", "text"]


@st.composite
def screens(draw: st.DrawFn) -> np.ndarray:
    """(H, W, 4) canonical pixels of a kind that exercises one tile form or another, with a
    size that cuts tiles at the edges."""
    height, width = draw(SCREEN_SIZES)
    kind = draw(st.sampled_from(SCREEN_KINDS))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "noise":
        return rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    if kind == "gradient":
        ramp = np.add.outer(np.arange(height), np.arange(width)) * rng.integers(1, 5)
        pixels = np.zeros((height, width, 4), np.uint8)
        pixels[..., rng.integers(0, 3)] = ramp % 256
        return pixels
    colours = {"solid": 1, "two": 2, "few": 16, "palette": 127, "text": 5}[kind]
    palette = rng.integers(0, 256, (colours, 4), dtype=np.uint8)
    if kind == "text":  # a background, glyph-like blobs of a few shades
        indices = np.zeros((height, width), np.int64)
        for _ in range(rng.integers(1, 12)):
            top, left = rng.integers(0, height), rng.integers(0, width)
            size = rng.integers(1, 9, 2)
            indices[top : top + size[0], left : left + size[1]] = rng.integers(1, colours)
    else:
        # Runs of random length: long ones favour RLE, short ones packed palettes.
        run = int(rng.integers(1, 40))
        indices = np.repeat(rng.integers(0, colours, height * width // run + 1), run)
        indices = indices[: height * width].reshape(height, width)
    return palette[indices]


@st.composite
def tile_streams(draw: st.DrawFn, size: int, reuse: bool) -> tuple[int, int, bytes, np.ndarray]:
    """A valid stream of tiles (``size`` square, TRLE's 127/129 when ``reuse``) built
    independently of the encoder, in every form the spec allows (runs of one written as
    runs, palettes with unused or repeated colours...): (width, height, bytes, the BGR233
    values the client must see)."""
    height, width = draw(st.tuples(st.integers(1, 40), st.integers(1, 70)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    out = bytearray()
    image = np.zeros((height, width), np.uint8)
    palette: np.ndarray | None = None
    for top in range(0, height, size):
        for left in range(0, width, size):
            th, tw = min(size, height - top), min(size, width - left)
            forms = ["raw", "solid", "packed", "plain", "palette"]
            if reuse and palette is not None:
                forms += ["reuse palette"] + ["reuse packed"] * (len(palette) <= 16)
            form = forms[rng.integers(len(forms))]
            if form in ("packed", "palette"):
                palette = rng.integers(0, 256, rng.integers(2, 17 if form == "packed" else 128))
            values = _tile(out, form, palette, th, tw, rng)
            image[top : top + th, left : left + tw] = values.reshape(th, tw)
    return width, height, bytes(out), image


def _tile(
    out: bytearray,
    form: str,
    palette: np.ndarray | None,
    th: int,
    tw: int,
    rng: np.random.Generator,
) -> np.ndarray:
    pixels = th * tw
    if form == "raw":
        values = rng.integers(0, 256, pixels)
        out += bytes([0]) + bytes(values.tolist())
        return values
    if form == "solid":
        value = int(rng.integers(0, 256))
        out += bytes([1, value])
        return np.full(pixels, value)
    if form in ("packed", "reuse packed"):
        assert palette is not None
        out += bytes([127]) if form == "reuse packed" else bytes([len(palette), *palette])
        bits = 1 if len(palette) <= 2 else 2 if len(palette) <= 4 else 4
        indices = rng.integers(0, len(palette), (th, tw))
        padded = np.zeros((th, -(-tw * bits // 8) * 8 // bits), np.int64)
        padded[:, :tw] = indices
        weights = 1 << (8 - bits * np.arange(1, 8 // bits + 1))
        out += bytes((padded.reshape(th, -1, 8 // bits) * weights).sum(-1).ravel().tolist())
        return palette[indices.ravel()]
    # Plain or palette RLE: cut the tile into runs.
    cuts = np.sort(rng.choice(np.arange(1, pixels), rng.integers(0, pixels), replace=False))
    lengths = np.diff(np.concatenate([[0], cuts, [pixels]]))
    if form == "plain":
        out += bytes([128])
        colours = rng.integers(0, 256, len(lengths))
    else:
        assert palette is not None
        out += bytes([129]) if form == "reuse palette" else bytes([128 + len(palette), *palette])
        indices = rng.integers(0, len(palette), len(lengths))
        colours = palette[indices]
    for run, length in enumerate(lengths.tolist()):
        long_form = length > 1 or rng.integers(2) == 1
        if form == "plain":
            out.append(int(colours[run]))
        else:
            out.append(int(indices[run]) | (0x80 if long_form else 0))
        if form == "plain" or long_form:
            out += b"\xff" * ((length - 1) // 255) + bytes([(length - 1) % 255])
    return np.repeat(colours, lengths)
