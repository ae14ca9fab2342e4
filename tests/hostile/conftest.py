"""One vncd on an animated private Xvfb, shared by every hostile test (starting one costs a
second or two; the folder must stay well under a minute)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.interop.vncd_process import vncd_launcher, x11_source
from tests.vncd._xvfb import private_xvfb
from tests.vncd.animation import Animation
from tests.vncd.userfiles import users_file
from vncd.region import Box

from .kit import PASSWORD, USER, USER_PASSWORD, Served

#: Short limits, so that blocks and deadlines pass within a test.
CONFIG = f"""password = "{PASSWORD}"
[limits]
handshake_seconds = 2
auth_backoff_seconds = 1
auth_backoff_max_seconds = 2
max_cut_text = 65536
"""


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with (
        private_xvfb(320, 240) as display,
        Animation(display, Box(16, 16, 64, 64), 20, noise=False),
        vncd_launcher(tmp_path_factory.mktemp("hostile")) as start,
    ):
        users = users_file(tmp_path_factory.mktemp("users") / "users", {USER: USER_PASSWORD})
        # Tight beside VNC authentication, for the named logins (vncd.users) over a plain wire.
        named = f'[security]\ntypes = ["VncAuth", "Tight"]\nusers_file = "{users}"\n'
        yield Served(start(CONFIG + named + x11_source(display)))
