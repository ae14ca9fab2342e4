"""Save a VNC server's screen as a PNG: a whole RFB client in one page, over a plain socket.

    VNC_PASSWORD=secret python docs/examples/rfb_client.py 127.0.0.1 5900 screen.png

``protocol`` does the RFB: this file only moves bytes between the socket and a
``ClientConnection`` and decides what to say. The password comes from $VNC_PASSWORD, or is
asked for when the server wants one.
"""

from __future__ import annotations

import argparse
import getpass
import os
import socket
import sys

from PIL import Image

from protocol import (
    NEED_DATA,
    ClientConnection,
    ClientInit,
    Event,
    Framebuffer,
    FramebufferUpdate,
    FramebufferUpdateRequest,
    HandshakeFailed,
    ProtocolError,
    ProtocolVersion,
    SecurityResult,
    SecurityTypeChosen,
    SecurityTypes,
    ServerInit,
    SetEncodings,
    VncAuthChallenge,
    VncAuthResponse,
)
from protocol.encodings import Encoding
from protocol.security import SecurityType, vncauth


class Client:
    """A ClientConnection over a blocking socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.conn = ClientConnection()

    def send(self, event: Event) -> None:
        self.sock.sendall(self.conn.send(event))

    def receive(self) -> Event:
        """The server's next message, reading the socket until it is complete."""
        while (event := self.conn.next_event()) is NEED_DATA:
            self.conn.receive_data(self.sock.recv(65536))  # b"" at EOF: the conn says so
        return event


def log_in(client: Client) -> ServerInit:
    """The handshake (rfbproto 7.1-7.3): version, security, ClientInit; the ServerInit."""
    client.receive()  # the server's ProtocolVersion
    client.send(ProtocolVersion(3, 8))
    offer = client.receive()
    if isinstance(offer, HandshakeFailed):
        sys.exit(f"the server refused: {offer.reason}")
    assert isinstance(offer, SecurityTypes)
    if SecurityType.VNC_AUTH in offer.types:
        client.send(SecurityTypeChosen(SecurityType.VNC_AUTH))
        password = os.environ.get("VNC_PASSWORD") or getpass.getpass("VNC password: ")
        challenge = client.receive()
        assert isinstance(challenge, VncAuthChallenge)
        response = vncauth.encrypt_challenge(challenge.challenge, password)
        client.send(VncAuthResponse(response))
    elif SecurityType.NONE in offer.types:
        client.send(SecurityTypeChosen(SecurityType.NONE))
    else:
        sys.exit(f"the server offers security types {list(offer.types)}; this client knows 1, 2")
    result = client.receive()
    if isinstance(result, SecurityResult) and not result.ok:
        sys.exit(f"refused: {result.reason}")
    client.send(ClientInit(shared=True))
    init = client.receive()
    assert isinstance(init, ServerInit)
    return init


def capture(client: Client, init: ServerInit) -> Framebuffer:
    """Ask for the whole screen once and draw the answer into a framebuffer."""
    client.send(SetEncodings([Encoding.ZRLE, Encoding.HEXTILE, Encoding.RAW]))
    client.send(FramebufferUpdateRequest(False, 0, 0, init.width, init.height))
    framebuffer = Framebuffer.blank(init.width, init.height)
    while not isinstance(update := client.receive(), FramebufferUpdate):
        pass  # a Bell or clipboard text may come first
    client.conn.apply_update(update, framebuffer)
    return framebuffer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("png", help="where to save the screen")
    args = parser.parse_args()
    with socket.create_connection((args.host, args.port), timeout=30) as sock:
        client = Client(sock)
        try:
            init = log_in(client)
            framebuffer = capture(client, init)
        except ProtocolError as error:
            sys.exit(f"protocol error: {error}")
    # Framebuffer pixels are BGRX bytes, whatever the pixel format on the wire.
    size = (framebuffer.width, framebuffer.height)
    Image.frombytes("RGB", size, framebuffer.pixels.tobytes(), "raw", "BGRX").save(args.png)
    print(f"{init.name}: {size[0]}x{size[1]} saved to {args.png}")


if __name__ == "__main__":
    main()
