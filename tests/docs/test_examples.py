"""docs/protocol.md's examples against a real `vncd run` (the demo desktop, with a password):
the client saves the screen a real viewer sees, and the proxy carries a real viewer (vncdo)
and the client, logging each message both ways and offering only what it can follow."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from docs.examples.rfb_client import Client
from protocol import (
    ClientInit,
    FramebufferUpdate,
    ProtocolVersion,
    SecurityTypeChosen,
    ServerInit,
    VncAuthResponse,
)
from protocol.encodings import Encoding
from protocol.security import SecurityType, vncauth
from tests.interop.vncd_process import vncd_launcher
from tests.requirements import program_path
from vncd.sources.demo import TITLE_HEIGHT

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
PASSWORD = "s3cret"
#: The config after [server]'s host and port (vncd_launcher writes those).
SERVER = (
    f'password = "{PASSWORD}"\nname = "docs demo"\n[source]\nkind = "demo"\ngeometry = "320x200"\n'
)


def client(port: int, png: Path, password: str = PASSWORD) -> subprocess.CompletedProcess:
    """docs/examples/rfb_client.py, as its docstring says to run it."""
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "rfb_client.py"), "127.0.0.1", str(port), str(png)],
        env={**os.environ, "VNC_PASSWORD": password},
        capture_output=True,
        text=True,
        timeout=60,
    )


def vncdo_capture(port: int, png: Path) -> None:
    subprocess.run(
        [program_path("vncdo"), "-s", f"127.0.0.1::{port}", "-p", PASSWORD, "capture", str(png)],
        check=True,
        capture_output=True,
        timeout=60,
    )


def below_title(png: Path) -> np.ndarray:
    """The screen without its title bar, whose clock ticks between two captures."""
    return np.asarray(Image.open(png).convert("RGB"))[TITLE_HEIGHT:]


@contextlib.contextmanager
def proxy(server_port: int, log: Path) -> Iterator[int]:
    """docs/examples/rfb_proxy.py in front of ``server_port``; the port it listens on."""
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, str(EXAMPLES / "rfb_proxy.py"), "0", "127.0.0.1", str(server_port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while not (found := re.search(r"listening on port ([0-9]+)", log.read_text())):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield int(found[1])
    finally:
        process.terminate()
        process.wait(10)


def test_the_client_saves_what_a_viewer_sees(tmp_path: Path) -> None:
    with vncd_launcher(tmp_path) as start:
        port = start(SERVER).port
        result = client(port, tmp_path / "client.png")
        vncdo_capture(port, tmp_path / "vncdo.png")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"docs demo: 320x200 saved to {tmp_path / 'client.png'}\n"
    assert Image.open(tmp_path / "client.png").size == (320, 200)
    assert np.array_equal(below_title(tmp_path / "client.png"), below_title(tmp_path / "vncdo.png"))


def test_the_client_with_a_wrong_password_says_so(tmp_path: Path) -> None:
    with vncd_launcher(tmp_path) as start:
        result = client(start(SERVER).port, tmp_path / "no.png", password="wrong")
    assert result.returncode == 1
    assert result.stderr.startswith("refused: ")
    assert not (tmp_path / "no.png").exists()


def test_the_proxy_carries_a_viewer_and_logs_both_ways(tmp_path: Path) -> None:
    with vncd_launcher(tmp_path) as start:
        port = start(SERVER).port
        vncdo_capture(port, tmp_path / "direct.png")
        with proxy(port, tmp_path / "proxy.log") as proxy_port:
            vncdo_capture(proxy_port, tmp_path / "proxied.png")
            result = client(proxy_port, tmp_path / "client.png")
    assert result.returncode == 0, result.stderr
    direct = below_title(tmp_path / "direct.png")
    assert np.array_equal(below_title(tmp_path / "proxied.png"), direct)
    assert np.array_equal(below_title(tmp_path / "client.png"), direct)
    log = (tmp_path / "proxy.log").read_text().splitlines()
    for line in (
        "server: ProtocolVersion",
        "viewer: VncAuthResponse",
        "server: ServerInit",
        "viewer: SetEncodings",
        "viewer: FramebufferUpdateRequest",
        "viewer closed the connection",
    ):
        assert log.count(line) == 2, (line, log)  # vncdo's connection and the client's
    updates = [line for line in log if line.startswith("server: FramebufferUpdate, ")]
    assert any("ZRLE" in line for line in updates), updates  # the client asks for ZRLE


def test_the_proxy_offers_only_what_it_can_follow(tmp_path: Path) -> None:
    """vncd offers VeNCrypt (19) first: the viewer is offered VNC authentication alone, and
    a server that offers nothing else is refused with the reason."""
    both = SERVER.replace("[source]", '[security]\ntypes = ["TLSVnc", "VncAuth"]\n[source]')
    only_tls = SERVER.replace("[source]", '[security]\ntypes = ["TLSVnc"]\n[source]')
    with vncd_launcher(tmp_path) as start:
        with proxy(start(both).port, tmp_path / "both.log") as proxy_port:
            followed = client(proxy_port, tmp_path / "both.png")
        with proxy(start(only_tls).port, tmp_path / "tls.log") as proxy_port:
            refused = client(proxy_port, tmp_path / "tls.png")
    assert followed.returncode == 0, followed.stderr
    log = (tmp_path / "both.log").read_text().splitlines()
    told = log.index("server: SecurityTypes [19, 2]") + 1
    assert log[told] == "  the viewer is told: SecurityTypes [2]"
    assert refused.returncode == 1
    assert refused.stderr == ("the server refused: the proxy cannot follow security types (19,)\n")


def test_the_proxy_parses_what_a_viewer_sends_before_its_turn(tmp_path: Path) -> None:
    """A viewer that sends SetEncodings and a request together with ClientInit, before the
    server's ServerInit (docs/protocol.md's "one subtlety"), still gets its update."""
    with vncd_launcher(tmp_path) as start:
        port = start(SERVER).port
        with proxy(port, tmp_path / "proxy.log") as proxy_port:
            sock = socket.create_connection(("127.0.0.1", proxy_port), timeout=20)
            with sock:
                viewer = Client(sock)
                viewer.receive()
                viewer.send(ProtocolVersion(3, 8))
                viewer.receive()
                viewer.send(SecurityTypeChosen(SecurityType.VNC_AUTH))
                challenge = viewer.receive().challenge
                viewer.send(VncAuthResponse(vncauth.encrypt_challenge(challenge, PASSWORD)))
                assert viewer.receive().ok
                # rfbproto 7.5.2 and 7.5.3 by hand: the connection would refuse to send them
                # before ServerInit. Raw only, then the whole 320x200 screen.
                set_encodings = struct.pack(">BxHi", 2, 1, Encoding.RAW)
                request = struct.pack(">BBHHHH", 3, 0, 0, 0, 320, 200)
                sock.sendall(viewer.conn.send(ClientInit(True)) + set_encodings + request)
                assert isinstance(viewer.receive(), ServerInit)
                update = viewer.receive()
    assert isinstance(update, FramebufferUpdate)
    assert {r.encoding for r in update.rectangles} == {Encoding.RAW}
    log = (tmp_path / "proxy.log").read_text().splitlines()
    assert log[log.index("server: ServerInit") + 1 :][:2] == [
        "viewer: SetEncodings",
        "viewer: FramebufferUpdateRequest",
    ]
