"""vncd behind nginx (deploy/nginx/): Debian's nginx, run as the test's user on 127.0.0.1
ports, in front of a real `vncd run` on plain HTTP, carries a noVNC session in Chromium that
shows the desktop pixel for pixel: over https with the shipped site (deploy/nginx/vncd.conf,
TLS at nginx), also under its example's path prefix, and over plain http with the shipped
proxy settings (deploy/nginx/vncd-proxy.conf) alone."""

from __future__ import annotations

import contextlib
import http.client
import os
import pwd
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.interop.vncd_process import VncdProcess, x11_source
from tests.interop.xclients import busy_desktop
from tests.requirements import unavailable, which
from tests.vncd.certificates import make_certificate

from .test_web_client import assert_page_shows_the_desktop, few_colour_scene

try:
    from playwright.sync_api import Page
except ImportError:  # ./scripts/test installs it
    unavailable("playwright is not installed (./scripts/test installs it)")

pytestmark = pytest.mark.browser

NGINX_DIR = Path(__file__).parents[2] / "deploy" / "nginx"
SITE = NGINX_DIR / "vncd.conf"
PROXY_SETTINGS = NGINX_DIR / "vncd-proxy.conf"
STARTUP_SECONDS = 10
#: The path prefix of vncd.conf's example of a second desktop.
PREFIX = "/desktop/2/"


def free_port() -> int:
    """A port free now on 127.0.0.1 (another process may take it before nginx binds it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def replaced(text: str, old: str, new: str) -> str:
    """``text`` with its one ``old`` replaced: the shipped file must still have that line."""
    assert text.count(old) == 1, f"{SITE.name} no longer has exactly one {old!r}"
    return text.replace(old, new)


def site_for_test(
    directory: Path, https: int, http_port: int, vncd: int, certificate: tuple[Path, Path]
) -> Path:
    """deploy/nginx/vncd.conf as shipped, but on 127.0.0.1 test ports, with the test
    certificate, the proxy settings from this checkout, vncd on ``vncd``'s port, and its
    example of a second desktop under PREFIX taken in (leading to the same vncd)."""
    text = SITE.read_text()
    for old, new in (
        (f"    # location {PREFIX} {{", f"    location {PREFIX} {{"),
        (
            "    #     proxy_pass http://127.0.0.1:5901/;",
            f"        proxy_pass http://127.0.0.1:{vncd}/;",
        ),
        (
            "    #     include /etc/nginx/snippets/vncd-proxy.conf;",
            f"        include {PROXY_SETTINGS};",
        ),
        ("    # }", "    }"),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen [::]:80;", ""),
        ("listen 443 ssl;", f"listen 127.0.0.1:{https} ssl;"),
        ("listen [::]:443 ssl;", ""),
        ("/etc/ssl/vncd/cert.pem", str(certificate[0])),
        ("/etc/ssl/vncd/key.pem", str(certificate[1])),
        ("proxy_pass http://127.0.0.1:5900;", f"proxy_pass http://127.0.0.1:{vncd};"),
        ("include /etc/nginx/snippets/vncd-proxy.conf;", f"include {PROXY_SETTINGS};"),
    ):
        text = replaced(text, old, new)
    site = directory / "vncd.conf"
    site.write_text(text)
    return site


def plain_server(port: int, vncd: int) -> str:
    """A plain-HTTP server (TLS ends before nginx, say) with the shipped proxy settings."""
    return f"""
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{vncd};
            include {PROXY_SETTINGS};
        }}
    }}
"""


@contextlib.contextmanager
def running_nginx(directory: Path, http_block: str, ports: list[int]) -> Iterator[None]:
    """Debian's nginx in the foreground with its whole state in ``directory``, until every
    port in ``ports`` accepts connections; stopped (SIGQUIT: graceful) afterwards."""
    nginx = which("nginx") or which("/usr/sbin/nginx")
    if nginx is None:
        unavailable("nginx is not installed (Debian package nginx-light)")
    # nginx's compiled-in temp paths are under /var/lib/nginx: keep them in the directory.
    temp = "\n".join(
        f"    {kind}_temp_path {directory / kind};" for kind in ("client_body", "proxy")
    )
    # Run as root (CI), the workers would switch to nobody, who cannot read the tmp files.
    user = f"user {pwd.getpwuid(0).pw_name};\n" if os.geteuid() == 0 else ""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "nginx.conf"
    config.write_text(
        f"{user}worker_processes 1;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n    access_log {directory / 'access.log'};\n{temp}\n{http_block}\n}}\n"
    )
    error_log = directory / "error.log"
    command = [nginx, "-p", str(directory), "-c", str(config), "-e", str(error_log)]
    command += ["-g", f"daemon off; pid {directory / 'nginx.pid'}; error_log {error_log};"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        for port in ports:
            while not _accepts(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    log = error_log.read_text() if error_log.exists() else ""
                    raise RuntimeError(f"nginx did not start; its error log:\n{log}")
                time.sleep(0.05)
        yield
    finally:
        process.send_signal(signal.SIGQUIT)  # finish what is under way, then exit
        try:
            process.wait(10)
        finally:
            process.kill()


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
        return True
    return False


@pytest.fixture
def behind_nginx(
    xvfb: str, vncd: Callable[[str], VncdProcess], tmp_path: Path
) -> Iterator[tuple[int, int, int]]:
    """vncd on the busy desktop behind nginx; yields nginx's ports: (https, plain http, the
    site's http that redirects to https). vncd is configured as docs/deploy.md says: plain
    HTTP on 127.0.0.1, nginx's origins in [websocket] allowed_origins (a browser's Origin
    names nginx, not vncd)."""
    https, plain, redirect = free_port(), free_port(), free_port()
    certificate = make_certificate(tmp_path / "tls")
    origins = f'"https://127.0.0.1:{https}", "http://127.0.0.1:{plain}"'
    with busy_desktop(xvfb, few_colour_scene()):
        server = vncd(x11_source(xvfb) + f"[websocket]\nallowed_origins = [{origins}]\n")
        site = site_for_test(tmp_path, https, redirect, server.port, certificate)
        block = f"    include {site};\n{plain_server(plain, server.port)}"
        with running_nginx(tmp_path / "nginx", block, [https, plain, redirect]):
            yield https, plain, redirect


def test_https_at_nginx_carries_the_desktop(behind_nginx, xvfb, page: Page):
    https, _, _ = behind_nginx
    assert_page_shows_the_desktop(page, f"https://127.0.0.1:{https}/", xvfb)


def test_plain_http_through_nginx_carries_the_desktop(behind_nginx, xvfb, page: Page):
    _, plain, _ = behind_nginx
    assert_page_shows_the_desktop(page, f"http://127.0.0.1:{plain}/", xvfb)


def test_desktop_under_a_path_prefix(behind_nginx, xvfb, page: Page):
    """The page's files and its WebSocket are relative to the page, so everything is found
    under the prefix with no parameter."""
    https, _, _ = behind_nginx
    assert_page_shows_the_desktop(page, f"https://127.0.0.1:{https}{PREFIX}", xvfb)


def test_plain_http_site_redirects_to_https(behind_nginx):
    _, _, redirect = behind_nginx
    connection = http.client.HTTPConnection("127.0.0.1", redirect, timeout=10)
    connection.request("GET", "/?quality=9", headers={"Host": "desktop.example.com"})
    response = connection.getresponse()
    assert (response.status, response.getheader("Location")) == (
        301,
        "https://desktop.example.com/?quality=9",
    )


def test_metrics_stay_inside(behind_nginx):
    https, _, _ = behind_nginx
    connection = http.client.HTTPSConnection("127.0.0.1", https, timeout=10, context=insecure())
    connection.request("GET", "/metrics")
    assert connection.getresponse().status == 403


def insecure() -> ssl.SSLContext:
    """A client context that takes the test's self-signed certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@pytest.mark.parametrize(
    ("origin", "status"),
    [("https://127.0.0.1:{https}", 101), ("https://elsewhere.example", 403)],
)
def test_websocket_origin_check_sees_the_browsers_origin(behind_nginx, origin, status):
    """nginx passes the browser's Origin on: a page of another site is refused by vncd."""
    https, _, _ = behind_nginx
    connection = http.client.HTTPSConnection("127.0.0.1", https, timeout=10, context=insecure())
    connection.request(
        "GET",
        "/websockify",
        headers={
            "Origin": origin.format(https=https),
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Protocol": "binary",
        },
    )
    response = connection.getresponse()
    assert response.status == status
    if status == 101:
        assert response.getheader("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    connection.close()
