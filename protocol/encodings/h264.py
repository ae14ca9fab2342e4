"""Open H.264 encoding (rfbproto 7.7.12, "Open H.264 Encoding"), through PyAV (FFmpeg).

Optional: it needs the ``av`` package (the ``h264`` extra). Without it this module still
imports but registers nothing, so the registry does not offer the encoding and neither side
can pick it; ``CAN_ENCODE`` and ``CAN_DECODE`` tell which halves are registered.

A rectangle is U32 *length*, U32 *flags* (bit 0 ResetContext, bit 1 ResetAllContexts, other
bits ignored), then *length* bytes of H.264 Annex B data: zero or more whole frames. H.264 is
differential, so both sides keep a decoding context per rectangle geometry (x, y, width,
height): the client keeps at least 64 and drops the one unused for longest when it needs
another (the spec's rule and noVNC's; TigerVNC drops the oldest created instead).

Choices the spec leaves open:

- Frames of odd size cannot be 4:2:0, so the encoder pads one row or column (repeating the
  edge) and the client crops: the spec allows frames larger than the rectangle, and TigerVNC
  and noVNC crop them.
- Colour: full-range BT.709 with the sRGB transfer, written into the SPS as the spec asks;
  the decoder converts with whatever the stream signals.
- One slice per frame: the spec allows more, but noVNC 1.7 decodes each slice as a frame of
  its own (see ``_EncoderContext.open``).
- Clients: the decoded picture is RGB whatever the client's PixelFormat, so the encoder only
  serves 32-bpp true-colour clients (``H264Encoder.supports``), which is what the viewers that
  implement H.264 use.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Generator
from fractions import Fraction

import attrs
import numpy as np

from .._errors import LocalProtocolError, RemoteProtocolError
from .._events import Rectangle
from .._framebuffer import Framebuffer
from .._pixelformat import PixelFormat
from ._base import EncodeSettings, read_bytes, require_inside
from ._registry import Encoding, register_decoder, register_encoder

try:
    import av
    from av.video.reformatter import ColorRange, Colorspace, Interpolation
except ImportError:  # the optional extra is not installed
    av = None

#: Whether PyAV is installed with libx264 (to encode) and FFmpeg's H.264 decoder (to decode).
CAN_ENCODE = av is not None and "libx264" in av.codecs_available
CAN_DECODE = av is not None and "h264" in av.codecs_available

_HEADER = struct.Struct(">II")  # length, flags
RESET_CONTEXT = 1 << 0
RESET_ALL_CONTEXTS = 1 << 1

#: Contexts a client must be able to hold; a client creating one more drops one.
CLIENT_CONTEXTS = 64
#: libx264 instances an encoder keeps (each holds several frames): one per screen is the
#: normal case; a geometry whose instance was dropped restarts with ResetContext.
ENCODER_CONTEXTS = 4

#: Largest H.264 body a decoder accepts for a rectangle: an intra frame of noise at the best
#: quality is under 2.5 bytes a pixel, so 8 leave room for several frames, plus the headers.
BYTES_PER_PIXEL_LIMIT = 8
HEADER_SLACK = 1 << 16
MAX_LENGTH = 64 << 20

#: CRF when the client sent no quality: x264's own default, about quality level 6.
DEFAULT_CRF = 23
#: CRF at fine quality 0 and 100 (lower is better; the baseline profile has no lossless).
WORST_CRF, BEST_CRF = 45, 12
FRAME_RATE = 60  # nominal: x264's rate control wants one, updates come when they come

_Geometry = tuple[int, int, int, int]


def crf_for(settings: EncodeSettings) -> int:
    """The x264 CRF for the client's quality: a fine quality 0..100 wins over a quality
    level 0..9, which counts as the fine quality level * 100 / 9."""
    if settings.fine_quality is not None:
        fine = settings.fine_quality
    elif settings.quality is not None:
        fine = settings.quality * 100 / 9
    else:
        return DEFAULT_CRF
    return round(WORST_CRF - (WORST_CRF - BEST_CRF) * fine / 100)


def data_limit(width: int, height: int) -> int:
    """The longest H.264 body a width x height rectangle may carry."""
    return min(MAX_LENGTH, BYTES_PER_PIXEL_LIMIT * width * height + HEADER_SLACK)


def _even_frame(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` with even width and height (edge repeated), rows of packed BGRX."""
    height, width = pixels.shape[:2]
    if not (height | width) & 1 and pixels.strides[1:] == (4, 1):
        return pixels
    return np.pad(pixels, ((0, height & 1), (0, width & 1), (0, 0)), mode="edge")


@attrs.define
class _EncoderContext:
    """One libx264 instance: the server's half of one geometry's context."""

    codec: av.CodecContext
    crf: int
    frames: int = 0

    @classmethod
    def open(cls, width: int, height: int, crf: int) -> _EncoderContext:
        codec = av.CodecContext.create("libx264", "w")
        codec.width, codec.height = width + (width & 1), height + (height & 1)
        codec.pix_fmt = "yuv420p"
        codec.time_base = Fraction(1, FRAME_RATE)
        # The VUI colour description the spec asks for (ITU-T H.273 code points).
        codec.color_range = ColorRange.JPEG
        codec.colorspace = 1  # matrix BT.709
        codec.color_primaries = 1  # BT.709
        codec.color_trc = 13  # IEC 61966-2-1 (sRGB)
        codec.max_b_frames = 0
        # No periodic intra frames: the transport is reliable, and a context starts with one.
        codec.gop_size = 1 << 30
        # One thread, hence one slice per frame. tune=zerolatency turns on x264's sliced
        # threads, which cut every frame into one slice per thread; noVNC 1.7's H264Parser
        # hands each slice NAL unit to WebCodecs as a frame of its own, so it showed only a
        # frame's last slice (the rest of the screen flat green). Frame threads instead would
        # hold each frame back by one frame per extra thread. Measured on this 2-core machine
        # for a 1920x1080 frame: about 1 ms more x264 time than two sliced threads on idle
        # cores (delta frames ~3 -> ~4 ms), nothing on one core. test_h264.py guards this.
        codec.thread_count = 1
        codec.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",  # no lookahead, no frame threads: one packet per frame
            "profile": "baseline",  # the profile the spec prescribes
            "crf": str(crf),
        }
        codec.open()
        return cls(codec, crf)

    def encode(self, pixels: np.ndarray) -> bytes:
        frame = av.VideoFrame.from_numpy_buffer(_even_frame(pixels), format="bgra")
        frame = frame.reformat(
            format="yuv420p",
            dst_colorspace=Colorspace.ITU709,
            dst_color_range=ColorRange.JPEG,
            # Area averaging to make the 4:2:0 chroma: of swscale's filters, the best PSNR on
            # text (chroma subsampling is what limits text quality).
            interpolation=Interpolation.AREA,
        )
        frame.pts = self.frames
        self.frames += 1
        return b"".join(bytes(packet) for packet in self.codec.encode(frame))


class H264Encoder:
    """Per-connection libx264 contexts by geometry. Each new geometry costs an intra frame,
    so give it the same region (the whole screen) every time rather than damage rectangles.

    A change of quality restarts the geometry's context, so the next rectangle is an intra
    frame with ResetContext."""

    encoding = Encoding.OPEN_H264
    #: Tells a server to hand over the whole frame whenever anything changed.
    whole_frame = True

    def __init__(self) -> None:
        self._contexts: OrderedDict[_Geometry, _EncoderContext] = OrderedDict()
        #: Geometries the client holds a context for since the last ResetAllContexts.
        self._client_geometries: set[_Geometry] = set()

    def forget_client(self) -> None:
        """Start every geometry afresh: its next frame is an intra frame with ResetContext,
        which a client decodes whatever it holds (a server sends one when the viewer asks for
        the whole picture, as a viewer that lost its picture does)."""
        self._contexts.clear()

    @staticmethod
    def supports(pixel_format: PixelFormat) -> bool:
        """Whether a client of this format can be sent H.264 (32-bpp true colour)."""
        return pixel_format.true_colour and pixel_format.bits_per_pixel == 32

    def encode(
        self,
        pixels: np.ndarray,
        x: int,
        y: int,
        pixel_format: PixelFormat,
        settings: EncodeSettings,
    ) -> list[Rectangle]:
        """One rectangle, or none for an empty region (there is no frame to send)."""
        if not self.supports(pixel_format):
            raise LocalProtocolError(
                f"Open H.264 needs a 32-bpp true-colour client, not {pixel_format}"
            )
        height, width = pixels.shape[:2]
        if not width or not height:
            return []
        geometry = (x, y, width, height)
        crf = crf_for(settings)
        context = self._contexts.get(geometry)
        flags = 0
        if context is None or context.crf != crf:
            context = _EncoderContext.open(width, height, crf)
            flags = RESET_CONTEXT
            if (
                geometry not in self._client_geometries
                and len(self._client_geometries) >= CLIENT_CONTEXTS
            ):
                # One more would make the client drop one, and TigerVNC and noVNC disagree
                # on which: start over so the client holds exactly what we hold.
                flags = RESET_ALL_CONTEXTS
        try:
            data = context.encode(pixels)
        except BaseException:
            # The client may not have got what libx264 now refers to: start afresh.
            self._contexts.pop(geometry, None)
            raise
        if flags & RESET_ALL_CONTEXTS:
            self._contexts.clear()
            self._client_geometries.clear()
        self._client_geometries.add(geometry)
        self._contexts[geometry] = context
        self._contexts.move_to_end(geometry)
        while len(self._contexts) > ENCODER_CONTEXTS:
            self._contexts.popitem(last=False)
        payload = _HEADER.pack(len(data), flags) + data
        return [Rectangle(x, y, width, height, self.encoding, payload)]


def _open_decoder(width: int, height: int) -> av.CodecContext:
    codec = av.CodecContext.create("h264", "r")
    # Bound what a stream's SPS can make the decoder allocate: frames may be larger than the
    # rectangle, but not without limit.
    codec.options = {"max_pixels": str(4 * (width + 16) * (height + 16))}
    codec.open()
    return codec


def _decode_last(codec: av.CodecContext, data: bytes) -> av.VideoFrame | None:
    """Decode every frame in ``data`` (whole frames, so the parser is flushed) and return the
    last picture, the one to show; None if the data held no picture."""
    packets = codec.parse(data) + codec.parse(b"")
    last = None
    for packet in packets:
        for frame in codec.decode(packet):
            last = frame
    return last


class H264Decoder:
    """Per-connection libavcodec contexts by geometry, the least recently used dropped
    beyond ``CLIENT_CONTEXTS``. Unlike TigerVNC, which ignores decoding errors, any error is
    a RemoteProtocolError, as is a frame smaller than its rectangle."""

    encoding = Encoding.OPEN_H264

    def __init__(self) -> None:
        self._contexts: OrderedDict[_Geometry, av.CodecContext] = OrderedDict()

    def read_payload(
        self, rectangle: Rectangle, pixel_format: PixelFormat
    ) -> Generator[int, bytes, bytes]:
        header = yield _HEADER.size
        remaining, _ = _HEADER.unpack(header)
        limit = data_limit(rectangle.width, rectangle.height)
        if remaining > limit:
            raise RemoteProtocolError(
                f"Open H.264 length {remaining} exceeds {limit} for a "
                f"{rectangle.width}x{rectangle.height} rectangle"
            )
        return header + (yield from read_bytes(remaining))

    def decode(
        self, rectangle: Rectangle, pixel_format: PixelFormat, framebuffer: Framebuffer
    ) -> None:
        x, y, width, height = rectangle.x, rectangle.y, rectangle.width, rectangle.height
        payload = rectangle.payload
        if len(payload) < _HEADER.size:
            raise RemoteProtocolError(f"Open H.264 payload of {len(payload)} bytes has no header")
        length, flags = _HEADER.unpack_from(payload)
        if len(payload) != _HEADER.size + length:
            raise RemoteProtocolError(
                f"Open H.264 length {length} but {len(payload) - _HEADER.size} bytes of data"
            )
        require_inside(framebuffer, rectangle, "Open H.264")
        geometry = (x, y, width, height)
        # Flags apply before the data; an empty body is a control message.
        if flags & RESET_ALL_CONTEXTS:
            self._contexts.clear()
        elif flags & RESET_CONTEXT:
            self._contexts.pop(geometry, None)
        if not length:
            return
        codec = self._contexts.pop(geometry, None)
        if codec is None:
            if len(self._contexts) >= CLIENT_CONTEXTS:
                self._contexts.popitem(last=False)
            codec = _open_decoder(width, height)
        self._contexts[geometry] = codec
        try:
            frame = _decode_last(codec, payload[_HEADER.size :])
            if frame is None:
                return
            if frame.width < width or frame.height < height:
                raise RemoteProtocolError(
                    f"Open H.264 frame {frame.width}x{frame.height} is smaller than its "
                    f"{width}x{height} rectangle"
                )
            # bgr24, not bgra: this FFmpeg's swscale leaves pixels unwritten when it makes
            # bgra from 4:2:0 at some widths (18, 66, ...).
            pixels = frame.to_ndarray(format="bgr24")
        except av.FFmpegError as error:
            raise RemoteProtocolError(f"Open H.264 data does not decode: {error}") from error
        target = framebuffer.pixels[y : y + height, x : x + width]
        target[..., :3] = pixels[:height, :width]
        target[..., 3] = 0


if CAN_ENCODE:
    register_encoder(H264Encoder)
if CAN_DECODE:
    register_decoder(H264Decoder)
