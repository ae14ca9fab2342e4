"""Reading `xwd -root` dumps: the ground truth of what an X display shows."""

from __future__ import annotations

import struct
import subprocess

import numpy as np

_HEADER = struct.Struct(">25I")


def parse_xwd(data: bytes) -> np.ndarray:
    """An XWD (version 7, ZPixmap, 32 bits per pixel) dump as an (H, W, 3) RGB array."""
    fields = _HEADER.unpack_from(data)
    header_size, version, pixmap_format, _depth, width, height = fields[:6]
    byte_order, bits_per_pixel, bytes_per_line = fields[7], fields[11], fields[12]
    red_mask, green_mask, blue_mask = fields[14:17]
    colour_count = fields[19]
    if version != 7 or pixmap_format != 2 or bits_per_pixel != 32:
        raise ValueError(f"unsupported xwd dump (version {version}, {bits_per_pixel} bpp)")
    start = header_size + 12 * colour_count
    dtype = ">u4" if byte_order else "<u4"
    rows = np.frombuffer(data, dtype=np.uint8, count=bytes_per_line * height, offset=start)
    words = rows.reshape(height, bytes_per_line)[:, : width * 4].copy().view(dtype)
    channels = []
    for mask in (red_mask, green_mask, blue_mask):
        shift = (mask & -mask).bit_length() - 1
        channels.append(((words >> shift) & (mask >> shift)).astype(np.uint8))
    return np.stack(channels, axis=-1)


def xwd_root(display: str) -> np.ndarray:
    """The root window of ``display`` right now, as RGB."""
    dump = subprocess.run(
        ["xwd", "-root", "-silent", "-display", display], check=True, capture_output=True
    ).stdout
    return parse_xwd(dump)
