"""HTTP on the RFB port: the web client's files, /healthz, errors, limits and keep-alive."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import h11
import pytest

from vncd.transports import WebRoot

from .netharness import HttpClient, receive_all, rfb_handshake, running_vncd

INDEX = b"<!doctype html><title>vncd test</title>"
MODULE = b"export const answer = 42;\n"


def header(response: h11.Response, name: bytes) -> bytes | None:
    return next((value for key, value in response.headers if key == name), None)


@pytest.fixture
def web_root(tmp_path: Path) -> Iterator[Path]:
    """A web root with an index, a module, noVNC's package, a hidden file, another package
    and a symlink that leads out; a secret next to it that must never be served."""
    root = tmp_path / "web"
    novnc = root / "node_modules" / "@novnc" / "novnc" / "core"
    novnc.mkdir(parents=True)
    (root / "index.html").write_bytes(INDEX)
    (root / "app.js").write_bytes(MODULE)
    (root / "lib.mjs").write_bytes(MODULE)
    (root / "style.css").write_text("body {}")
    (root / "sub").mkdir()
    (root / "sub" / "index.html").write_text("sub")
    (root / "empty").mkdir()
    (root / ".env").write_text("secret")
    (novnc / "rfb.js").write_bytes(MODULE)
    (root / "node_modules" / "left-pad").mkdir()
    (root / "node_modules" / "left-pad" / "index.js").write_text("module.exports = 1;")
    (tmp_path / "secret.txt").write_text("secret")
    (root / "escape.txt").symlink_to(tmp_path / "secret.txt")
    (root / "novnc-link.js").symlink_to(novnc / "rfb.js")  # inside the root: fine
    yield root


def web_config(root: Path) -> str:
    return f'[http]\nweb_root = "{root}"\n'


async def test_static_files(web_root: Path) -> None:
    async with running_vncd(web_config(web_root)) as running:
        client = HttpClient(await running.connect())
        response, body = await client.request("GET", "/")
        assert (response.status_code, body) == (200, INDEX)
        assert header(response, b"content-type") == b"text/html; charset=utf-8"
        assert header(response, b"x-content-type-options") == b"nosniff"
        assert header(response, b"cache-control") == b"no-cache"
        for path in ("/app.js", "/lib.mjs", "/node_modules/@novnc/novnc/core/rfb.js"):
            response, body = await client.request("GET", path)
            assert (response.status_code, body) == (200, MODULE), path
            assert header(response, b"content-type") == b"text/javascript; charset=utf-8"
        response, _ = await client.request("GET", "/style.css?v=2")
        assert header(response, b"content-type") == b"text/css; charset=utf-8"
        response, body = await client.request("GET", "/sub/")
        assert (response.status_code, body) == (200, b"sub")
        response, body = await client.request("GET", "/novnc-link.js")
        assert (response.status_code, body) == (200, MODULE)


async def test_head_healthz_and_conditional_get(web_root: Path) -> None:
    async with running_vncd(web_config(web_root)) as running:
        client = HttpClient(await running.connect())
        got, _ = await client.request("GET", "/app.js")
        head, body = await client.request("HEAD", "/app.js")
        assert (head.status_code, body) == (200, b"")
        assert header(head, b"content-length") == str(len(MODULE)).encode()
        assert header(head, b"etag") == header(got, b"etag") is not None
        etag = header(got, b"etag").decode()
        response, body = await client.request("GET", "/app.js", (("If-None-Match", etag),))
        assert (response.status_code, body) == (304, b"")
        response, body = await client.request("GET", "/healthz")
        assert (response.status_code, body) == (200, b"ok\n")
        assert header(response, b"content-type") == b"text/plain; charset=utf-8"
        response, body = await client.request("HEAD", "/healthz")
        assert (response.status_code, body) == (200, b"")


async def test_unknown_paths_and_methods(web_root: Path) -> None:
    async with running_vncd(web_config(web_root)) as running:
        client = HttpClient(await running.connect())
        for path in ("/nope.js", "/empty/", "/index.html/x"):
            response, _ = await client.request("GET", path)
            assert response.status_code == 404, path
        response, _ = await client.request("POST", "/")
        assert response.status_code == 405
        assert header(response, b"allow") == b"GET, HEAD"
        assert header(response, b"connection") == b"close"
        assert await receive_all(client.stream) == b""
        client = HttpClient(await running.connect())
        response, _ = await client.request("DELETE", "/app.js")
        assert response.status_code == 405


@pytest.mark.parametrize(
    "path",
    [
        b"/../secret.txt",
        b"/%2e%2e/secret.txt",
        b"/%2E%2E%2Fsecret.txt",
        b"/..%2f..%2fsecret.txt",
        b"/sub/../../secret.txt",
        b"//../secret.txt",
        b"/escape.txt",
        b"/.env",
        b"/%2eenv",
        b"/app.js%00.html",
        b"/node_modules/left-pad/index.js",
        b"/node_modules/@novnc/novnc/../../left-pad/index.js",
        b"/node_modules/@novnc/",
        b"/node_modules/",
        b"/%ff",
    ],
)
async def test_nothing_outside_the_web_root_is_served(web_root: Path, path: bytes) -> None:
    async with running_vncd(web_config(web_root)) as running:
        response, body = await HttpClient(await running.connect()).request("GET", path)
        assert response.status_code == 404
        assert b"secret" not in body


def test_traversal_is_refused_even_before_the_file_system() -> None:
    root = WebRoot.at(Path(__file__).parents[2])  # the repository: pyproject.toml is there
    assert root.find("/pyproject.toml") is not None
    assert root.find("/vncd/../pyproject.toml") is None
    assert root.find("/vncd/%2e%2e/pyproject.toml") is None
    assert WebRoot.at(Path(__file__).parent).find("/../../pyproject.toml") is None


async def test_malformed_request_gets_400_and_close(web_root: Path) -> None:
    async with running_vncd(web_config(web_root)) as running:
        for request in (
            b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
            b"GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host
        ):
            stream = await running.connect()
            await stream.send_all(request)
            await stream.send_eof()  # lets the server's drain end before its LINGER_SECONDS
            response = await receive_all(stream)
            assert response.startswith(b"HTTP/1.1 400 "), response
            assert b"\r\nConnection: close\r\n" in response


async def test_oversized_headers_get_431_and_close(web_root: Path) -> None:
    async with running_vncd(web_config(web_root)) as running:
        stream = await running.connect()
        filler = b"".join(b"X-Filler-%d: %s\r\n" % (n, b"a" * 1000) for n in range(100))
        await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n" + filler + b"\r\n")
        await stream.send_eof()
        response = await receive_all(stream)
        assert response.startswith(b"HTTP/1.1 431 "), response
        assert b"\r\nConnection: close\r\n" in response


async def test_keep_alive_serves_several_requests_on_one_connection(web_root: Path) -> None:
    async with running_vncd(web_config(web_root)) as running:
        stream = await running.connect()
        client = HttpClient(stream)
        assert (await client.request("GET", "/"))[1] == INDEX
        assert (await client.request("GET", "/app.js"))[1] == MODULE
        assert (await client.request("HEAD", "/healthz"))[1] == b""
        assert (await client.request("GET", "/nope"))[0].status_code == 404
        assert (await client.request("GET", "/healthz"))[1] == b"ok\n"


async def test_requests_per_connection_are_bounded(
    web_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("vncd.transports.http.MAX_REQUESTS", 3)
    async with running_vncd(web_config(web_root)) as running:
        client = HttpClient(await running.connect())
        for _ in range(2):
            response, _ = await client.request("GET", "/healthz")
            assert header(response, b"connection") is None
        response, _ = await client.request("GET", "/healthz")
        assert header(response, b"connection") == b"close"
        assert await receive_all(client.stream) == b""


async def test_slow_and_idle_clients_are_dropped(
    web_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("vncd.transports.http.REQUEST_SECONDS", 0.3)
    async with running_vncd(web_config(web_root)) as running:
        slow = await running.connect()
        await slow.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n")  # ...and never the blank line
        idle = HttpClient(await running.connect())
        await idle.request("GET", "/healthz")
        started = time.perf_counter()
        assert await receive_all(slow) == b""
        assert await receive_all(idle.stream) == b""
        assert time.perf_counter() - started < 3
        await rfb_handshake(await running.connect())


async def test_without_a_web_client_the_root_explains_how_to_install_it(tmp_path: Path) -> None:
    async with running_vncd(web_config(tmp_path)) as running:  # a web root without index.html
        client = HttpClient(await running.connect())
        response, body = await client.request("GET", "/")
        assert response.status_code == 200
        assert b"no web client installed" in body
        assert b"web_root" in body
        response, _ = await client.request("GET", "/app.js")
        assert response.status_code == 404
