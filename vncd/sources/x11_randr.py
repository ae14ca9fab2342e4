"""Resizing an X screen through RandR (a viewer's SetDesktopSize, rfbproto 7.5.11), where it is
safe: one output showing the whole screen, switched to a mode of the requested size.

A monitor gets only a mode it already lists (as TigerVNC's x0vncserver does): a made-up
timing could blank a real screen. An output whose modes have no pixel clock is virtual (Xvfb's
"screen"; Xvnc lists real timings, so it counts as a monitor) and gets a mode of any size,
named ``vncd-WxH``; those that fall out of use are deleted again, so following a browser
window's every size leaves no trail. Displays with several active outputs, clones or a
rotation are not touched (which screen should change?).

Measured here (Debian 12, Xvfb 21.1.7, python-xlib 0.33): Xvfb keeps the framebuffer it
allocated for ``-screen 0 WxHxD`` and RandR only changes the visible part, so the screen can
shrink and grow again up to its start size and never beyond (``GetScreenSizeRange`` says so);
``xrandr --fb`` alone fails halfway (the output keeps a mode larger than the screen). A
resize here (create and add a mode, set the CRTC, set the screen size: 5-7 requests) takes
1-5 ms; Xvfb repaints the whole root afterwards, so DAMAGE reports the new screen and the
capture follows. The cost of growing is memory: see ``xvfb.py``.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import Xlib.display
import Xlib.error
from Xlib.ext import randr

from .base import SourceError

log = logging.getLogger(__name__)

#: GetScreenResourcesCurrent (1.3) reads the configuration without probing the monitors,
#: which can take hundreds of milliseconds on real hardware.
RANDR_VERSION = (1, 3)
MODE_PREFIX = "vncd-"  # the modes we create, so that we delete only ours
SET_CONFIG_SUCCESS = 0  # RRSetConfigSuccess (randrproto.txt, SetCrtcConfig)


class ScreenResizer:
    """Resizes the screen of one X connection, in the thread that owns the connection."""

    def __init__(self, x: Xlib.display.Display) -> None:
        self._x = x
        self._root = x.screen().root
        self._opcode = x.display.get_extension_major(randr.extname)
        screen = x.screen()
        #: Physical size follows the pixels at the display's own resolution (Xvfb: -dpi).
        self._mm_per_pixel = (
            screen.width_in_mms / screen.width_in_pixels,
            screen.height_in_mms / screen.height_in_pixels,
        )

    @classmethod
    def open(cls, x: Xlib.display.Display) -> ScreenResizer | None:
        """A resizer for ``x``'s screen; None when the server lacks RandR 1.3."""
        if not x.has_extension(randr.extname):
            return None
        version = x.xrandr_query_version()
        if (version.major_version, version.minor_version) < RANDR_VERSION:
            return None
        return cls(x)

    def resize(self, width: int, height: int) -> bool:
        """Make the screen width x height: True once it is; False where this display is not
        resized (several outputs, clones, rotation, a monitor without such a mode).  Raises
        SourceError when the size is beyond the screen's range (Xvfb: its start size) or the
        server refused."""
        try:
            return self._resize(width, height)
        except Xlib.error.XError as error:
            raise SourceError(
                f"the X server refused to resize to {width}x{height}: {error}"
            ) from error

    def _resize(self, width: int, height: int) -> bool:
        resources = self._root.xrandr_get_screen_resources_current()
        stamp = resources.config_timestamp
        crtcs = {crtc: self._x.xrandr_get_crtc_info(crtc, stamp) for crtc in resources.crtcs}
        chosen = sole_output(crtcs)
        if chosen is None:
            log.info("not resizing: the X screen is not one unrotated output without clones")
            return False
        crtc, info = chosen
        limits = self._root.xrandr_get_screen_size_range()
        if not (
            limits.min_width <= width <= limits.max_width
            and limits.min_height <= height <= limits.max_height
        ):
            raise SourceError(
                f"{width}x{height} is outside the X screen's sizes, "
                f"{limits.min_width}x{limits.min_height} to {limits.max_width}x{limits.max_height}"
            )
        output = info.outputs[0]
        mode = self._mode_for(resources, output, width, height)
        if mode is None:
            log.info("not resizing: the monitor has no %dx%d mode", width, height)
            return False
        self._apply(crtc, info, output, mode, (width, height), stamp)
        self._delete_unused_modes(output, mode)
        return True

    def _mode_for(self, resources: Any, output: int, width: int, height: int) -> int | None:
        """The output's mode of that size; on a virtual output one is made if it lacks it."""
        modes = {mode.id: mode for mode in resources.modes}
        names = _mode_names(resources)
        listed = self._x.xrandr_get_output_info(output, resources.config_timestamp).modes
        for mode in listed:
            if (modes[mode].width, modes[mode].height) == (width, height):
                return mode
        if any(modes[mode].dot_clock for mode in listed):
            return None  # a monitor: only the timings it offers
        name = f"{MODE_PREFIX}{width}x{height}"
        mode = next((mode for mode, known in names.items() if known == name), None)
        if mode is None:
            # Zero timings, like Xvfb's own mode: nothing scans this mode out.
            info = dict.fromkeys(_TIMINGS, 0) | {
                "width": width,
                "height": height,
                "name_length": len(name),
            }
            mode = self._root.xrandr_create_mode(info, name).mode
        self._checked(randr.AddOutputMode, output=output, mode=mode)
        return mode

    def _apply(
        self, crtc: int, info: Any, output: int, mode: int, size: tuple[int, int], stamp: int
    ) -> None:
        """Screen and CRTC change in an order where the CRTC always fits the screen: grow the
        screen to hold both sizes, set the mode, then shrink the screen to the new size."""
        geometry = self._root.get_geometry()
        current = (geometry.width, geometry.height)
        both = (max(current[0], size[0]), max(current[1], size[1]))
        if both != current:
            self._set_screen_size(both)
        if mode != info.mode or (info.x, info.y) != (0, 0):
            reply = self._x.xrandr_set_crtc_config(crtc, stamp, 0, 0, mode, info.rotation, [output])
            if reply.status != SET_CONFIG_SUCCESS:
                raise SourceError(f"the X server did not set the new mode (status {reply.status})")
        if size != both:
            self._set_screen_size(size)

    def _set_screen_size(self, size: tuple[int, int]) -> None:
        width, height = size
        self._checked(
            randr.SetScreenSize,
            window=self._root,
            width=width,
            height=height,
            width_in_millimeters=round(width * self._mm_per_pixel[0]),
            height_in_millimeters=round(height * self._mm_per_pixel[1]),
        )

    def _checked(self, request: type, **fields: object) -> None:
        """Send a request that has no reply and wait for the server's verdict."""
        catch = Xlib.error.CatchError()
        request(display=self._x.display, onerror=catch, opcode=self._opcode, **fields)
        self._x.sync()
        if (error := catch.get_error()) is not None:
            raise error

    def _delete_unused_modes(self, output: int, current: int) -> None:
        """Our modes other than ``current`` go: off the output, then destroyed (a mode still
        in use elsewhere stays, refused by the server)."""
        resources = self._root.xrandr_get_screen_resources_current()
        for mode, name in _mode_names(resources).items():
            if mode == current or not name.startswith(MODE_PREFIX):
                continue
            for request, fields in (
                (randr.DeleteOutputMode, {"output": output, "mode": mode}),
                (randr.DestroyMode, {"mode": mode}),
            ):
                with contextlib.suppress(Xlib.error.XError):
                    self._checked(request, **fields)


#: RandR_ModeInfo's fields besides the size and the name.
_TIMINGS = (
    "id",
    "dot_clock",
    "h_sync_start",
    "h_sync_end",
    "h_total",
    "h_skew",
    "v_sync_start",
    "v_sync_end",
    "v_total",
    "flags",
)


def sole_output(crtcs: dict[int, Any]) -> tuple[int, Any] | None:
    """The one CRTC that shows anything, if it drives one output unrotated: (id, its info).
    With several monitors, or one picture on two (clones), which one should change?"""
    active = [(crtc, info) for crtc, info in crtcs.items() if info.mode]
    if len(active) != 1:
        return None
    crtc, info = active[0]
    if len(info.outputs) != 1 or info.rotation != randr.Rotate_0:
        return None
    return crtc, info


def _mode_names(resources: Any) -> dict[int, str]:
    """Each mode's name: GetScreenResources sends them back to back, in the modes' order."""
    names, offset = {}, 0
    for mode in resources.modes:
        names[mode.id] = resources.names[offset : offset + mode.name_length]
        offset += mode.name_length
    return names
