"""Open H.264 (encoding 50): wire layout, contexts and their reset flags, quality, odd sizes,
and a decoder that turns any bad input into RemoteProtocolError. Lossy, so round trips are
judged by PSNR."""

from __future__ import annotations

import contextlib
import struct
import subprocess
import sys
from collections.abc import Sequence

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.contents import photo, text_desktop
from protocol._errors import LocalProtocolError, RemoteProtocolError
from protocol._events import Rectangle
from protocol._framebuffer import Framebuffer
from protocol._pixelformat import BGRX
from protocol.encodings import h264
from protocol.encodings._base import CHUNK, EncodeSettings
from protocol.encodings._registry import DECODERS, ENCODERS, Encoding
from tests.requirements import unavailable

from .roundtrip import FORMATS, NEED, RGB565, cut_lists, feed, psnr, split, through_the_wire

try:
    import av
except ImportError:  # h264 imports without it, but then registers nothing
    unavailable("PyAV is not installed: pip install -e '.[h264]'", extra="h264")

DEFAULT = EncodeSettings()
TEXT = np.ascontiguousarray(text_desktop()[60:252, 48:304])  # editor window, 256x192
SMOOTH = np.ascontiguousarray(photo()[400:592, 800:1056])
RGBX = FORMATS[1]
START = b"\x00\x00\x00\x01"


def header(rectangle: Rectangle) -> tuple[int, int]:
    """(length, flags) of an Open H.264 rectangle."""
    return struct.unpack_from(">II", rectangle.payload)


def nal_types(data: bytes) -> list[int]:
    """The NAL unit types of an Annex B stream, in order."""
    return [
        unit[0] & 0x1F for unit in data.replace(START, b"\x00\x00\x01").split(b"\x00\x00\x01")[1:]
    ]


def with_data(rectangle: Rectangle, data: bytes, flags: int) -> Rectangle:
    return attrs.evolve(rectangle, payload=struct.pack(">II", len(data), flags) + data)


class Client:
    """A client's side: one decoder and framebuffer, fed over the wire in pieces."""

    def __init__(self, width: int, height: int) -> None:
        self.decoder = h264.H264Decoder()
        self.framebuffer = Framebuffer.blank(width, height)

    def receive(self, rectangle: Rectangle, cuts: Sequence[int] = ()) -> np.ndarray:
        received = through_the_wire(rectangle, BGRX, list(cuts))
        self.decoder.decode(received, BGRX, self.framebuffer)
        x, y, w, h = rectangle.x, rectangle.y, rectangle.width, rectangle.height
        return self.framebuffer.pixels[y : y + h, x : x + w]


def test_registered_with_its_number() -> None:
    assert h264.CAN_ENCODE and h264.CAN_DECODE
    assert ENCODERS[Encoding.OPEN_H264] is h264.H264Encoder
    assert DECODERS[Encoding.OPEN_H264] is h264.H264Decoder


def test_without_av_the_module_imports_and_offers_nothing() -> None:
    script = (
        "import sys; sys.modules['av'] = None\n"
        "from protocol.encodings import h264\n"
        "from protocol.encodings._registry import DECODERS, ENCODERS\n"
        "assert not h264.CAN_ENCODE and not h264.CAN_DECODE\n"
        "assert 50 not in ENCODERS and 50 not in DECODERS\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=".", timeout=60)


def test_wire_layout_baseline_annex_b_with_colour_description() -> None:
    """length, flags, then Annex B: the first rectangle of a context is SPS, PPS and an IDR
    slice with ResetContext; the next a P slice with no flags. The SPS says baseline
    profile (66) and the VUI full-range BT.709 with the sRGB transfer."""
    encoder = h264.H264Encoder()
    [first] = encoder.encode(SMOOTH, 5, 7, BGRX, DEFAULT)
    [second] = encoder.encode(SMOOTH, 5, 7, BGRX, DEFAULT)
    assert (first.x, first.y, first.width, first.height) == (5, 7, 256, 192)
    assert first.encoding == 50
    for rectangle, flags in ((first, h264.RESET_CONTEXT), (second, 0)):
        length, got_flags = header(rectangle)
        assert got_flags == flags
        assert length == len(rectangle.payload) - 8
        assert rectangle.payload[8:12] == START
    first_types, second_types = nal_types(first.payload[8:]), nal_types(second.payload[8:])
    assert {7, 8, 5} <= set(first_types)
    assert first_types.index(7) < first_types.index(8) < first_types.index(5)
    assert 5 not in second_types and 7 not in second_types and 1 in second_types
    sps = first.payload[8:].split(START + b"\x67", 1)[1]
    assert sps[0] == 66

    decoder = av.CodecContext.create("h264", "r")
    [frame] = [
        f for p in decoder.parse(first.payload[8:]) + decoder.parse(b"") for f in decoder.decode(p)
    ]
    assert (frame.color_range, frame.colorspace, frame.color_primaries, frame.color_trc) == (
        2,  # JPEG (full) range
        1,  # BT.709 matrix
        1,  # BT.709 primaries
        13,  # IEC 61966-2-1
    )


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (1920, 1080), (256, 192)])
def test_every_frame_is_one_slice(width: int, height: int) -> None:
    """noVNC 1.7 (core/decoders/h264.js) cuts the Annex B data into frames at every slice NAL
    unit and gives each piece to WebCodecs as a frame of its own, so a frame of several slices
    shows only its last slice there (a 1280x800 screen was half flat green). x264's sliced
    threads (tune=zerolatency) make one slice per thread: this fails on any machine with more
    than one core if the encoder lets x264 thread its slices again."""
    base = np.ascontiguousarray(photo()[:height, :width])
    encoder = h264.H264Encoder()
    for step in range(3):  # the intra frame, then delta frames with a change
        frame = base.copy()
        frame[40 * step : 40 * step + 30, 100:700] = (200, 30 * step, 90, 0)
        [rectangle] = encoder.encode(frame, 0, 0, BGRX, DEFAULT)
        types = nal_types(rectangle.payload[8:])
        slices = [t for t in types if t in (1, 5)]  # coded slice: non-IDR, IDR
        assert slices == [5 if step == 0 else 1], f"frame {step}: NAL unit types {types}"


@pytest.mark.parametrize(
    ("content", "quality", "floor"),
    [
        (SMOOTH, None, 36),
        (SMOOTH, 9, 40),
        (SMOOTH, 0, 25),
        (TEXT, None, 30),
        (TEXT, 9, 32),
        (TEXT, 0, 20),
    ],
    ids=["smooth-default", "smooth-q9", "smooth-q0", "text-default", "text-q9", "text-q0"],
)
def test_round_trip_quality(content: np.ndarray, quality: int | None, floor: float) -> None:
    client = Client(300, 200)
    [rectangle] = h264.H264Encoder().encode(content, 20, 4, BGRX, EncodeSettings(quality=quality))
    decoded = client.receive(rectangle, [1, 9, 1000])
    assert psnr(decoded, content) >= floor
    assert not client.framebuffer.pixels[..., 3].any()  # X stays 0
    assert not client.framebuffer.pixels[:4].any()  # nothing outside the rectangle


@pytest.mark.parametrize("content", [SMOOTH, TEXT], ids=["smooth", "text"])
def test_better_quality_costs_bytes_and_buys_fidelity(content: np.ndarray) -> None:
    results = []
    for fine in (0, 50, 100):
        [rectangle] = h264.H264Encoder().encode(
            content, 0, 0, BGRX, EncodeSettings(quality=0, fine_quality=fine)
        )
        results.append((len(rectangle.payload), psnr(Client(256, 192).receive(rectangle), content)))
    sizes, fidelity = zip(*results, strict=True)
    assert sizes[0] < sizes[1] < sizes[2]
    assert fidelity[0] < fidelity[1] <= fidelity[2] + 0.2


def test_crf_mapping() -> None:
    assert h264.crf_for(EncodeSettings()) == h264.DEFAULT_CRF
    assert h264.crf_for(EncodeSettings(quality=0)) == h264.WORST_CRF
    assert h264.crf_for(EncodeSettings(quality=9)) == h264.BEST_CRF
    assert h264.crf_for(EncodeSettings(quality=6)) == h264.DEFAULT_CRF
    assert h264.crf_for(EncodeSettings(quality=9, fine_quality=0)) == h264.WORST_CRF
    crfs = [h264.crf_for(EncodeSettings(fine_quality=f)) for f in range(101)]
    assert crfs == sorted(crfs, reverse=True)


def test_small_changes_stay_in_one_context() -> None:
    encoder, client = h264.H264Encoder(), Client(256, 192)
    frame = TEXT.copy()
    [first] = encoder.encode(frame, 0, 0, BGRX, DEFAULT)
    client.receive(first)
    for step in range(4):
        frame[100 + 4 * step : 104 + 4 * step, 30:130] = (20, 200, 40, 0)  # a line being typed
        [rectangle] = encoder.encode(frame, 0, 0, BGRX, DEFAULT)
        assert header(rectangle)[1] == 0
        assert 5 not in nal_types(rectangle.payload[8:])
        assert len(rectangle.payload) * 20 < len(first.payload)
        decoded = client.receive(rectangle, [3, 50])
        assert psnr(decoded, frame) >= 30
        typed = decoded[100 : 104 + 4 * step, 30:130, :3].astype(int)
        assert np.abs(typed - (20, 200, 40)).mean() < 12


def test_a_window_of_a_frame_encodes_like_a_copy() -> None:
    whole = photo()
    window = whole[100:164, 200:296]
    assert not window.flags.c_contiguous
    [a] = h264.H264Encoder().encode(window, 200, 100, BGRX, DEFAULT)
    [b] = h264.H264Encoder().encode(window.copy(), 200, 100, BGRX, DEFAULT)
    assert a == b


def test_the_x_byte_is_ignored() -> None:
    noisy_x = SMOOTH.copy()
    noisy_x[..., 3] = np.random.default_rng(3).integers(0, 256, SMOOTH.shape[:2])
    [a] = h264.H264Encoder().encode(SMOOTH, 0, 0, BGRX, DEFAULT)
    [b] = h264.H264Encoder().encode(noisy_x, 0, 0, BGRX, DEFAULT)
    assert a == b


@pytest.mark.parametrize(
    ("width", "height"), [(1, 1), (15, 17), (17, 3), (65, 3), (3, 65), (2, 1), (66, 48)]
)
def test_odd_sizes_are_padded_and_cropped(width: int, height: int) -> None:
    ys, xs = np.mgrid[0:height, 0:width]
    content = np.zeros((height, width, 4), np.uint8)
    content[..., 0] = 40 + 3 * xs  # gentle slopes: 4:2:0 cannot keep steep colour edges
    content[..., 1] = 200 - 2 * ys
    content[..., 2] = 128
    content[:, : width // 2 & ~1, :3] //= 2  # a sharp edge that scaling would smear
    encoder, client = h264.H264Encoder(), Client(80, 80)
    client.framebuffer.pixels[...] = 77
    for _ in range(2):
        [rectangle] = encoder.encode(content, 10, 9, BGRX, EncodeSettings(quality=9))
        assert (rectangle.width, rectangle.height) == (width, height)
        decoded = client.receive(rectangle)
        assert psnr(decoded, content) >= 32
        pixels = client.framebuffer.pixels
        outside = np.ones((80, 80), bool)
        outside[9 : 9 + height, 10 : 10 + width] = False
        assert (pixels[outside] == 77).all()


def test_pixel_formats_supported() -> None:
    supports = h264.H264Encoder.supports
    assert supports(BGRX) and supports(RGBX) and supports(FORMATS[2]) and supports(FORMATS[3])
    assert not supports(RGB565)
    for colour_map in (pf for pf in FORMATS if not pf.true_colour):
        assert not supports(colour_map)
    with pytest.raises(LocalProtocolError):
        h264.H264Encoder().encode(SMOOTH, 0, 0, RGB565, DEFAULT)


def test_the_decoded_picture_does_not_depend_on_the_client_format() -> None:
    [rectangle] = h264.H264Encoder().encode(SMOOTH, 0, 0, RGBX, DEFAULT)
    results = []
    for pf in (BGRX, RGBX):
        framebuffer = Framebuffer.blank(256, 192)
        h264.H264Decoder().decode(rectangle, pf, framebuffer)
        results.append(framebuffer.pixels)
    assert (results[0] == results[1]).all()


def test_empty_region_sends_nothing() -> None:
    assert h264.H264Encoder().encode(SMOOTH[:0], 0, 0, BGRX, DEFAULT) == []
    assert h264.H264Encoder().encode(SMOOTH[:, :0], 0, 0, BGRX, DEFAULT) == []


def test_quality_change_restarts_the_context() -> None:
    encoder, client = h264.H264Encoder(), Client(256, 192)
    for quality, flags in ((5, h264.RESET_CONTEXT), (5, 0), (8, h264.RESET_CONTEXT), (8, 0)):
        [rectangle] = encoder.encode(SMOOTH, 0, 0, BGRX, EncodeSettings(quality=quality))
        assert header(rectangle)[1] == flags
        assert (5 in nal_types(rectangle.payload[8:])) == bool(flags)
        assert psnr(client.receive(rectangle), SMOOTH) >= 33


def test_each_geometry_has_its_context() -> None:
    """Two regions alternate; each keeps its own context (only its first rectangle resets),
    and a decoder keeps them apart."""
    encoder, client = h264.H264Encoder(), Client(256, 192)
    left, right = TEXT[:, :128], TEXT[:, 128:]
    for round_ in range(3):
        for x, part in ((0, left), (128, right)):
            [rectangle] = encoder.encode(part, x, 0, BGRX, DEFAULT)
            assert header(rectangle)[1] == (h264.RESET_CONTEXT if round_ == 0 else 0)
            assert psnr(client.receive(rectangle), part) >= 30


def test_a_dropped_encoder_context_restarts_with_reset() -> None:
    """The encoder keeps ENCODER_CONTEXTS libx264 instances; a geometry it dropped comes
    back with ResetContext and an intra frame, which the client decodes."""
    encoder, client = h264.H264Encoder(), Client(256, 192)
    tiles = [(16 * i, 0, 16, 16) for i in range(h264.ENCODER_CONTEXTS + 1)]
    for x, y, w, h in [*tiles, tiles[-1], tiles[0]]:
        [rectangle] = encoder.encode(SMOOTH[y : y + h, x : x + w], x, y, BGRX, DEFAULT)
        client.receive(rectangle)
    assert header(rectangle)[1] == h264.RESET_CONTEXT
    [again] = encoder.encode(SMOOTH[:16, :16], 0, 0, BGRX, DEFAULT)
    assert header(again)[1] == 0
    assert psnr(client.receive(again), SMOOTH[:16, :16]) >= 30


def test_forgetting_the_client_makes_the_next_frame_an_intra_frame() -> None:
    """What a server does when a viewer asks for the whole picture: the next frame decodes
    in a fresh client, which a delta frame would not."""
    encoder = h264.H264Encoder()
    [intra] = encoder.encode(SMOOTH, 0, 0, BGRX, DEFAULT)
    [delta] = encoder.encode(SMOOTH, 0, 0, BGRX, DEFAULT)
    assert header(intra)[1] == h264.RESET_CONTEXT and header(delta)[1] == 0
    encoder.forget_client()
    [again] = encoder.encode(SMOOTH, 0, 0, BGRX, DEFAULT)
    assert header(again)[1] == h264.RESET_CONTEXT
    assert psnr(Client(256, 192).receive(again), SMOOTH) >= 35


def test_the_65th_geometry_resets_all_contexts() -> None:
    """A client holds 64 contexts and viewers disagree on which to drop for a 65th, so the
    encoder starts over with ResetAllContexts; afterwards the geometries restart."""
    encoder, client = h264.H264Encoder(), Client(512, 512)
    geometries = [(8 * (i % 64), 8 * (i // 64), 8, 8) for i in range(h264.CLIENT_CONTEXTS + 1)]
    flags = []
    for x, y, w, h in geometries:
        [rectangle] = encoder.encode(SMOOTH[:h, :w], x, y, BGRX, DEFAULT)
        client.receive(rectangle)
        flags.append(header(rectangle)[1])
    assert flags == [h264.RESET_CONTEXT] * 64 + [h264.RESET_ALL_CONTEXTS]
    [rectangle] = encoder.encode(SMOOTH[:8, :8], 0, 0, BGRX, DEFAULT)
    assert header(rectangle)[1] == h264.RESET_CONTEXT
    client.receive(rectangle)


def test_a_p_frame_needs_its_context() -> None:
    """A delta frame decodes only in the context that saw its intra frame: without it (a
    new client, or after either reset flag) it is bad data."""
    encoder = h264.H264Encoder()
    frame = SMOOTH.copy()
    [intra] = encoder.encode(frame, 0, 0, BGRX, DEFAULT)
    frame[50:60] = 0
    [delta] = encoder.encode(frame, 0, 0, BGRX, DEFAULT)

    with pytest.raises(RemoteProtocolError):
        Client(256, 192).receive(delta)
    for flags in (h264.RESET_CONTEXT, h264.RESET_ALL_CONTEXTS, h264.RESET_CONTEXT | 0xFFFC):
        client = Client(256, 192)
        client.receive(intra)
        client.receive(with_data(intra, b"", flags))  # a control message: flags only
        with pytest.raises(RemoteProtocolError):
            client.receive(delta)
    client = Client(256, 192)
    client.receive(intra)
    client.receive(with_data(intra, b"", 0xFFFC))  # unknown flags are ignored
    assert psnr(client.receive(delta), frame) >= 35


def test_reset_context_lets_a_new_stream_replace_the_old() -> None:
    client = Client(256, 192)
    for content in (SMOOTH, TEXT):
        encoder = h264.H264Encoder()  # e.g. the server restarted its encoder
        [rectangle] = encoder.encode(content, 0, 0, BGRX, DEFAULT)
        assert header(rectangle)[1] == h264.RESET_CONTEXT
        assert psnr(client.receive(rectangle), content) >= 30
        [rectangle] = encoder.encode(content, 0, 0, BGRX, DEFAULT)
        assert psnr(client.receive(rectangle), content) >= 30


def test_reset_all_keeps_other_geometries_out() -> None:
    encoder, client = h264.H264Encoder(), Client(256, 192)
    [a] = encoder.encode(SMOOTH[:, :128], 0, 0, BGRX, DEFAULT)
    [b] = encoder.encode(SMOOTH[:, 128:], 128, 0, BGRX, DEFAULT)
    [b_delta] = encoder.encode(SMOOTH[:, 128:], 128, 0, BGRX, DEFAULT)
    client.receive(a)
    client.receive(b)
    client.receive(with_data(a, a.payload[8:], h264.RESET_ALL_CONTEXTS))
    with pytest.raises(RemoteProtocolError):
        client.receive(b_delta)


def test_decoder_drops_the_least_recently_used_context() -> None:
    """Beyond 64 the context unused for longest goes (the spec's rule), not the oldest."""
    client = Client(512, 512)
    deltas = {}
    for i in range(h264.CLIENT_CONTEXTS + 1):
        x, y = 8 * (i % 64), 8 * (i // 64)
        encoder = h264.H264Encoder()
        [intra] = encoder.encode(SMOOTH[:8, :8], x, y, BGRX, DEFAULT)
        [deltas[i]] = encoder.encode(SMOOTH[:8, :8], x, y, BGRX, DEFAULT)
        client.receive(intra)
        if i == 63:
            client.receive(deltas.pop(0))  # the first context is used again
    client.receive(deltas[2])
    with pytest.raises(RemoteProtocolError):
        client.receive(deltas[1])


def test_several_frames_in_one_rectangle_show_the_last() -> None:
    encoder = h264.H264Encoder()
    frames = [SMOOTH.copy() for _ in range(3)]
    frames[1][:50] = 0
    frames[2][:, :60] = 255
    datas = [encoder.encode(f, 0, 0, BGRX, DEFAULT)[0].payload[8:] for f in frames]
    [first] = h264.H264Encoder().encode(frames[0], 0, 0, BGRX, DEFAULT)
    together = with_data(first, b"".join(datas), h264.RESET_CONTEXT)
    decoded = Client(256, 192).receive(together, [0, 17, 5000])
    assert psnr(decoded, frames[2]) >= 35


def test_length_is_checked_before_the_body() -> None:
    rectangle = Rectangle(0, 0, 100, 100, 50)
    limit = h264.data_limit(100, 100)
    assert limit == 8 * 100 * 100 + h264.HEADER_SLACK
    assert h264.data_limit(65535, 65535) == h264.MAX_LENGTH
    reader = h264.H264Decoder().read_payload(rectangle, BGRX)
    assert next(reader) == 8
    with pytest.raises(RemoteProtocolError):
        reader.send(struct.pack(">II", limit + 1, 0))
    reader = h264.H264Decoder().read_payload(Rectangle(0, 0, 4000, 4000, 50), BGRX)
    next(reader)
    assert reader.send(struct.pack(">II", 5 << 20, 0)) == CHUNK  # bounded reads
    assert feed(h264.H264Decoder().read_payload(rectangle, BGRX), [b"\0" * 7]) is NEED


def test_a_frame_smaller_than_its_rectangle_is_refused() -> None:
    [rectangle] = h264.H264Encoder().encode(SMOOTH[:16, :16], 0, 0, BGRX, DEFAULT)
    with pytest.raises(RemoteProtocolError, match="smaller"):
        Client(64, 64).receive(attrs.evolve(rectangle, width=32, height=32))


def test_a_frame_far_larger_than_its_rectangle_is_refused() -> None:
    """The SPS cannot make the decoder allocate pictures out of proportion to the rectangle."""
    [rectangle] = h264.H264Encoder().encode(SMOOTH, 0, 0, BGRX, DEFAULT)
    with pytest.raises(RemoteProtocolError):
        Client(64, 64).receive(attrs.evolve(rectangle, width=8, height=8))


def test_rectangle_outside_the_framebuffer_is_refused() -> None:
    [rectangle] = h264.H264Encoder().encode(SMOOTH[:16, :16], 60, 0, BGRX, DEFAULT)
    with pytest.raises(RemoteProtocolError):
        Client(64, 64).receive(rectangle)


@pytest.mark.parametrize("payload", [b"", b"\0\0\0", struct.pack(">II", 5, 0) + b"abc"])
def test_malformed_payload_is_refused(payload: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        h264.H264Decoder().decode(Rectangle(0, 0, 8, 8, 50, payload), BGRX, Framebuffer.blank(8, 8))


_VALID = h264.H264Encoder().encode(TEXT[:48, :64], 0, 0, BGRX, DEFAULT)[0].payload[8:]


def _decode_or_refuse(data: bytes, flags: int, cuts: list[int]) -> None:
    client = Client(64, 48)
    with contextlib.suppress(RemoteProtocolError):
        client.receive(with_data(Rectangle(0, 0, 64, 48, 50), data, flags), cuts)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600), st.integers(0, 0xFFFFFFFF), cut_lists)
def test_arbitrary_data_only_raises_remote_protocol_error(
    data: bytes, flags: int, cuts: list[int]
) -> None:
    _decode_or_refuse(data, flags, cuts)
    _decode_or_refuse(START + b"\x67" + data, flags, cuts)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)), min_size=1, max_size=12
    )
)
def test_corrupted_streams_only_raise_remote_protocol_error(
    changes: list[tuple[int, int]],
) -> None:
    data = bytearray(_VALID)
    for index, value in changes:
        data[index] = value
    _decode_or_refuse(bytes(data), h264.RESET_CONTEXT, [])


_READER_LIMIT = h264.data_limit(2, 2)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, _READER_LIMIT + 10) | st.integers(_READER_LIMIT, 0xFFFFFFFF),
    st.integers(0, 0xFFFFFFFF),
    cut_lists,
)
def test_reader_takes_exactly_the_payload_or_refuses_early(
    length: int, flags: int, cuts: list[int]
) -> None:
    reader = h264.H264Decoder().read_payload(Rectangle(0, 0, 2, 2, 50), BGRX)
    head = struct.pack(">II", length, flags)
    if length > _READER_LIMIT:
        with pytest.raises(RemoteProtocolError):
            feed(reader, split(head, cuts))
        return
    wire = head + bytes(range(256)) * (length // 256) + bytes(length % 256)
    assert feed(reader, split(wire, cuts)) == wire
