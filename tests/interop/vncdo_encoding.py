"""vncdotool asking for a chosen encoding, run as ``python -m tests.interop.vncdo_encoding``.

The `vncdo` command always asks for Raw (its client class says ``encoding = RAW``), yet
vncdotool also decodes RRE, Hextile and ZRLE. This runs its client with another first choice
and takes several screenshots over one connection: the first asks for the whole screen, the
next ones for incremental updates, which vncd answers once the desktop changed and which
vncdotool decodes with the zlib stream the earlier updates left behind:

    python -m tests.interop.vncdo_encoding 127.0.0.1::PORT ENCODING FIRST.png [NEXT.png ...]

It prints a line after each screenshot and, before each next one, waits for a line on stdin
(the test changes the desktop in between).
"""

from __future__ import annotations

import sys

from vncdotool import api
from vncdotool.client import VNCDoToolClient, VNCDoToolFactory


def main(server: str, encoding: int, paths: list[str]) -> None:
    client_class = type("Client", (VNCDoToolClient,), {"encoding": encoding})
    factory_class = type("Factory", (VNCDoToolFactory,), {"protocol": client_class})
    try:
        with api.connect(server, factory_class=factory_class, timeout=60) as client:
            for index, path in enumerate(paths):
                if index:
                    sys.stdin.readline()
                client.captureScreen(path, incremental=index > 0)
                print(path, flush=True)
    finally:
        api.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3:])
