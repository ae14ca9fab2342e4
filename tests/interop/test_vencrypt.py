"""VeNCrypt with real viewers: TigerVNC's (1.12, GnuTLS) with every X509 and TLS subtype
that has a check inside, gtk-vnc's gvnccapture with anonymous TLS, and the refusals a
user sees (wrong password, wrong user, a certificate the viewer does not trust)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.requirements import require_programs
from tests.vncd._xvfb import private_xvfb
from tests.vncd.certificates import make_certificate
from tests.vncd.userfiles import users_file

from .tigervnc import QUIET
from .vncd_process import VncdProcess, vncd_launcher

pytestmark = pytest.mark.interop

PASSWORD = "s3cret"
USER, USER_PASSWORD = "anne", "annes-pw"
ALL_TYPES = ["X509Vnc", "X509Plain", "X509None", "TLSVnc", "TLSPlain", "TLSNone", "VncAuth"]


@pytest.fixture(scope="module")
def viewer_display() -> Iterator[str]:
    require_programs("xtigervncviewer")
    with private_xvfb(800, 600) as display:
        yield display


@pytest.fixture
def vencrypt_vncd(tmp_path: Path) -> Iterator[Callable[..., VncdProcess]]:
    """``start(*types)``: vncd (demo desktop) with a password, a user, a certificate for
    localhost and 127.0.0.1 in tmp_path/tls, and ``[security] types``."""
    certificate, key = make_certificate(tmp_path / "tls")
    with vncd_launcher(tmp_path) as launch:

        def start(*types: str) -> VncdProcess:
            names = ", ".join(f'"{name}"' for name in types)
            return launch(
                f'password = "{PASSWORD}"\n'
                '[source]\nkind = "demo"\ngeometry = "320x200"\n'
                f'[tls]\ncertificate = "{certificate}"\nkey = "{key}"\n'
                f"[security]\ntypes = [{names}]\n"
                f'users_file = "{users_file(tmp_path / "users", {USER: USER_PASSWORD})}"\n'
            )

        yield start


def tigervnc(
    display: str, port: int, security: str, ca: Path, user: str, password: str
) -> subprocess.Popen:
    """xtigervncviewer with one security type; credentials from the environment (its
    VNC_USERNAME / VNC_PASSWORD), errors on stderr."""
    environment = {**os.environ, "VNC_USERNAME": user, "VNC_PASSWORD": password}
    return subprocess.Popen(
        [
            "xtigervncviewer",
            "-display",
            display,
            *QUIET,
            "-Log=*:stderr:30",
            f"-SecurityTypes={security}",
            f"-X509CA={ca}",
            f"127.0.0.1::{port}",
        ],
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_log(server: VncdProcess, text: str, timeout: float = 15) -> str:
    assert server.log_path is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = server.log_path.read_text()
        if text in log:
            return log
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in vncd's log:\n{server.log_path.read_text()}")


def stop(process: subprocess.Popen) -> str:
    """End the viewer; its stderr."""
    if process.poll() is None:
        process.terminate()
    try:
        _, errors = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        _, errors = process.communicate()
    return errors


@pytest.mark.parametrize(
    ("security", "user", "password"),
    [
        ("X509Vnc", "", PASSWORD),
        ("X509Plain", USER, USER_PASSWORD),
        ("X509None", "", ""),
        ("TLSVnc", "", PASSWORD),
        ("TLSPlain", USER, USER_PASSWORD),
        ("TLSNone", "", ""),
    ],
)
def test_tigervnc_connects(vencrypt_vncd, viewer_display, tmp_path, security, user, password):
    server = vencrypt_vncd(*ALL_TYPES)
    wait_for_log(server, f"offered to VNC viewers: {', '.join(ALL_TYPES)}")
    viewer = tigervnc(
        viewer_display, server.port, security, tmp_path / "tls" / "cert.pem", user, password
    )
    try:
        wait_for_log(server, "connected (RFB 3.8")
        assert viewer.poll() is None, stop(viewer)
    finally:
        stop(viewer)


@pytest.mark.parametrize(
    ("security", "user", "password"),
    [("X509Vnc", "", "wrong"), ("X509Plain", USER, "wrong"), ("X509Plain", "bob", USER_PASSWORD)],
)
def test_tigervnc_wrong_credentials(
    vencrypt_vncd, viewer_display, tmp_path, security, user, password
):
    server = vencrypt_vncd(*ALL_TYPES)
    viewer = tigervnc(
        viewer_display, server.port, security, tmp_path / "tls" / "cert.pem", user, password
    )
    log = wait_for_log(server, "refused: authentication failed")
    assert "connected (RFB" not in log
    assert viewer.wait(15) is not None
    assert "Authentication failure: authentication failed" in " ".join(stop(viewer).split())


def test_tigervnc_refuses_an_untrusted_certificate(vencrypt_vncd, viewer_display, tmp_path):
    server = vencrypt_vncd("X509Vnc")
    other, _ = make_certificate(tmp_path / "other")
    viewer = tigervnc(viewer_display, server.port, "X509Vnc", other, "", PASSWORD)
    assert viewer.wait(15) is not None
    errors = " ".join(stop(viewer).split())  # its log wraps lines
    assert "Invalid status of server certificate verification" in errors, errors
    log = wait_for_log(server, "refused: the viewer closed the connection during VeNCrypt")
    assert "connected (RFB" not in log


def test_gvnccapture_with_anonymous_tls(vencrypt_vncd, tmp_path):
    """gtk-vnc takes TLSNone (anonymous finite-field DH) from the subtypes it knows."""
    server = vencrypt_vncd("TLSNone")
    shot = tmp_path / "gvnc.png"
    result = subprocess.run(
        ["gvnccapture", "--debug", f"127.0.0.1:{server.port - 5900}", str(shot)],
        timeout=60,
        capture_output=True,
        text=True,
    )
    output = result.stdout + result.stderr  # its debug lines go to standard output
    assert result.returncode == 0, output[-2000:]
    assert "Choose auth subtype 257" in output
    assert shot.stat().st_size > 0
    wait_for_log(server, "connected (RFB 3.8")


def test_gvnccapture_refuses_a_certificate_it_does_not_trust(vencrypt_vncd, tmp_path):
    """gvnccapture cannot be given a CA (it uses the system's trust): vncd's self-signed
    certificate is refused, with gtk-vnc's reason, and nothing is admitted."""
    server = vencrypt_vncd("X509None")
    result = subprocess.run(
        ["gvnccapture", "--debug", f"127.0.0.1:{server.port - 5900}", str(tmp_path / "no.png")],
        timeout=60,
        capture_output=True,
        text=True,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Choose auth subtype 260" in output
    assert "The certificate is not trusted" in output
    # It checks after the handshake, so vncd only sees the viewer leave.
    log = wait_for_log(server, "connection closed during")
    assert "connected (RFB" not in log
