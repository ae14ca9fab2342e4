"""Hypothesis strategies shared by the protocol tests: pixel formats and frames."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from protocol._pixelformat import BGRX, PixelFormat


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
