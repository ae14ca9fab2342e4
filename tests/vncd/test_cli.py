"""The real `vncd` command line, run as `python -m vncd` in a subprocess."""

from __future__ import annotations

import errno
import os
import re
import select
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

from vncd.passwords import read_password_file

REPO = Path(__file__).resolve().parents[2]


def vncd(*args: str, cwd: Path = REPO, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "vncd", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
    )


def assert_clean_errors(result: subprocess.CompletedProcess[str], count: int) -> list[str]:
    """Exit status 2 and exactly ``count`` one-line errors on stderr, no traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == count, result.stderr
    assert all(line.startswith("vncd: error: ") for line in lines), result.stderr
    return lines


def test_help_lists_the_commands() -> None:
    result = vncd("--help")
    assert result.returncode == 0
    for command in ("run", "check", "passwd"):
        assert command in result.stdout


def test_run_help_explains_every_option() -> None:
    result = vncd("run", "--help")
    assert result.returncode == 0
    for option in ("CONFIG", "--host", "--port", "--source", "--log-level"):
        assert option in result.stdout
    for key in ("server.host", "server.port", "source.kind", "log.level"):
        assert key in result.stdout


def test_check_prints_the_effective_config(tmp_path: Path) -> None:
    config = tmp_path / "vncd.toml"
    config.write_text('[server]\nport = 5999\npassword = "hunter2"\n[source]\nkind = "demo"\n')
    result = vncd("check", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert f"# effective configuration (from {config})" in result.stdout
    assert "port = 5999\n" in result.stdout
    assert 'kind = "demo"\n' in result.stdout
    assert "max_fps = 60\n" in result.stdout
    assert "hunter2" not in result.stdout


def test_check_defaults_to_etc_vncd_toml_or_builtin(tmp_path: Path) -> None:
    result = vncd("check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "built-in defaults" in result.stdout
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "vncd.toml").write_text("[capture]\nmax_fps = 12\n")
    result = vncd("check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "from etc/vncd.toml" in result.stdout
    assert "max_fps = 12\n" in result.stdout


def test_check_warns_on_stderr(tmp_path: Path) -> None:
    config = tmp_path / "vncd.toml"
    config.write_text(
        '[server]\nhost = "0.0.0.0"\n[security]\nallow_unauthenticated_remote = true\n'
    )
    result = vncd("check", str(config))
    assert result.returncode == 0
    assert result.stderr.startswith('vncd: warning: server.host = "0.0.0.0" and no password')


def test_run_refuses_no_password_on_a_remote_address(tmp_path: Path) -> None:
    """Secure default: exit status 2 before anything listens, one line saying how to allow it."""
    result = vncd("run", "--host", "0.0.0.0", "--port", "0", "--source", "demo", cwd=tmp_path)
    [line] = assert_clean_errors(result, 1)
    assert "allow_unauthenticated_remote = true" in line


def test_check_bad_file_gives_one_line_per_problem(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[server]\nport = 70000\nprot = 1\n[source]\nkind = "wayland"\n')
    result = vncd("check", str(config))
    assert result.stdout == ""
    first, second, third = assert_clean_errors(result, 3)
    assert first == (
        f"vncd: error: {config}: server.port = 70000: must be an integer 0..65535 "
        "(0 picks a free port)"
    )
    assert second.startswith(f"vncd: error: {config}: server.prot: unknown key")
    assert third == (
        f'vncd: error: {config}: source.kind = "wayland": must be one of "auto", "demo", '
        '"x11", "xvfb", "desktop"'
    )


def test_check_syntax_error_and_missing_file(tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text("[server\n")
    [line] = assert_clean_errors(vncd("check", str(config)), 1)
    assert "invalid TOML" in line
    assert "line 1" in line
    [line] = assert_clean_errors(vncd("check", str(tmp_path / "nope.toml")), 1)
    assert line.endswith("nope.toml: cannot read it: No such file or directory")


def test_run_reports_config_errors_before_starting(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[log]\nlevel = "loud"\n')
    [line] = assert_clean_errors(vncd("run", str(config)), 1)
    assert 'log.level = "loud"' in line
    [line] = assert_clean_errors(vncd("run", "--port", "70000", cwd=tmp_path), 1)
    assert line.startswith("vncd: error: command line: server.port = 70000")


def test_passwd_stdin_writes_a_vncpasswd_file(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    result = vncd("passwd", "--stdin", str(path), stdin="secret\n")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert read_password_file(path) == ("secret", "")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    result = vncd("passwd", "--stdin", "--view-only", str(path), stdin="full\nlook\n")
    assert result.returncode == 0, result.stderr
    assert read_password_file(path) == ("full", "look")


def test_passwd_rejects_missing_or_empty_input(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    assert_clean_errors(vncd("passwd", "--stdin", str(path), stdin=""), 1)
    assert_clean_errors(vncd("passwd", "--stdin", "--view-only", str(path), stdin="x\n"), 1)
    assert_clean_errors(vncd("passwd", "--stdin", "--view-only", str(path), stdin="x\n\n"), 1)
    assert not path.exists()


def test_passwd_warns_about_long_passwords(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    result = vncd("passwd", "--stdin", str(path), stdin="0123456789\n")
    assert result.returncode == 0
    assert "uses only the first 8" in result.stderr
    assert read_password_file(path) == ("01234567", "")


def read_terminal(controller: int, shown: bytes, until_prompt: bool) -> bytes:
    """``shown`` and what the terminal shows next: up to a prompt (which ends in ": "), or
    everything until the command exits."""
    while not (until_prompt and shown.endswith(b": ")):
        ready, _, _ = select.select([controller], [], [], 30)
        assert ready, f"vncd passwd is silent; the terminal shows {shown!r}"
        try:
            chunk = os.read(controller, 1024)
        except OSError:  # EIO: the command has exited and closed the terminal
            chunk = b""
        if not chunk:
            assert not until_prompt, f"no prompt; the terminal shows {shown!r}"
            break
        shown += chunk
    return shown


def passwd_on_a_terminal(path: Path, *typed: str, view_only: bool = False) -> tuple[int, str]:
    """Run `vncd passwd` on a pseudo-terminal of its own (in a new session, so that it cannot
    reach the terminal pytest runs in), typing one of ``typed`` after each prompt. Returns its
    exit status and what the terminal showed, with "|" where a line was typed."""
    controller, terminal = os.openpty()
    options = ["--view-only"] if view_only else []
    process = subprocess.Popen(
        [sys.executable, "-m", "vncd", "passwd", *options, str(path)],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        start_new_session=True,
    )
    os.close(terminal)
    shown = b""
    try:
        for line in typed:
            shown = read_terminal(controller, shown, until_prompt=True)
            os.write(controller, line.encode() + b"\n")
            shown += b"|"
        shown = read_terminal(controller, shown, until_prompt=False)
        return process.wait(30), shown.decode().replace("\r\n", "\n")
    finally:
        os.close(controller)
        process.kill()
        process.wait()


def test_passwd_prompts_twice_on_a_terminal(tmp_path: Path) -> None:
    """Without --stdin, `vncd passwd` asks for each password twice, echoes none of them, and
    writes the file only when both entries agree."""
    path = tmp_path / "passwd"
    status, shown = passwd_on_a_terminal(path, "secret1", "secret2")
    assert (status, shown) == (
        2,
        "Password: |\nVerify password: |\nvncd: error: the passwords do not match\n",
    )
    assert not path.exists()

    assert passwd_on_a_terminal(path, "s3cret", "s3cret") == (
        0,
        "Password: |\nVerify password: |\n",
    )
    assert read_password_file(path) == ("s3cret", "")

    assert passwd_on_a_terminal(path, "full", "full", "look", "look", view_only=True) == (
        0,
        "Password: |\nVerify password: |\nView-only password: |\nVerify view-only password: |\n",
    )
    assert read_password_file(path) == ("full", "look")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_vncd(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("DISPLAY", None)
    return subprocess.Popen(
        [sys.executable, "-m", "vncd", "run", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )


def wait_for_rfb(port: int, server: subprocess.Popen[str]) -> bytes:
    """The server's first bytes (its ProtocolVersion), once it accepts connections."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.poll() is None, server.communicate()[1]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as viewer:
                return viewer.recv(12)
        except ConnectionRefusedError:
            time.sleep(0.1)
    raise AssertionError("vncd did not start listening")


def test_run_serves_until_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    server = start_vncd("--source", "demo", "--port", str(port), cwd=tmp_path)
    try:
        assert wait_for_rfb(port, server) == b"RFB 003.008\n"
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=30)
    finally:
        server.kill()
    assert server.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert stderr.splitlines()[-1].endswith("INFO vncd: stopped")


def served_log(tmp_path: Path, file_level: str, option_level: str) -> str:
    """What `vncd run` logs with ``[log] level = file_level`` in its configuration file and
    ``--log-level option_level``, while it serves a viewer and a browser's request."""
    config = tmp_path / f"{file_level}.toml"
    config.write_text(f'[log]\nlevel = "{file_level}"\n')
    port = free_port()
    arguments = ["--source", "demo", "--port", str(port), "--log-level", option_level]
    server = start_vncd(str(config), *arguments, cwd=tmp_path)
    try:
        assert wait_for_rfb(port, server) == b"RFB 003.008\n"
        with socket.create_connection(("127.0.0.1", port), timeout=10) as browser:
            browser.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            # To the end: vncd logs the request before it closes the connection.
            assert browser.makefile("rb").read().startswith(b"HTTP/1.1 200 ")
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=30)
    finally:
        server.kill()
    assert server.returncode == 0, stderr
    return stderr


def test_log_level_option_overrides_the_file(tmp_path: Path) -> None:
    """--log-level debug shows each HTTP request (a debug line) although the file says
    warning; --log-level warning silences the same run's debug and info lines."""
    chatty = served_log(tmp_path, "warning", "debug")
    assert re.search(r" DEBUG vncd\.transports\.http: [0-9.:]+: GET /healthz$", chatty, re.M)
    assert " INFO vncd.server: listening on 127.0.0.1 port " in chatty
    quiet = served_log(tmp_path, "debug", "warning")
    assert not re.search(r" (DEBUG|INFO) ", quiet), quiet


def test_run_port_in_use_is_one_error_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = start_vncd("--source", "demo", "--port", str(port), cwd=tmp_path)
        _, stderr = server.communicate(timeout=60)
    assert server.returncode == 1, stderr
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("vncd: error: ")]
    assert len(errors) == 1, stderr
    assert errors == [
        f"vncd: error: cannot listen on 127.0.0.1 port {port}: {os.strerror(errno.EADDRINUSE)}"
    ]


def test_run_without_a_display_is_one_error_line(tmp_path: Path) -> None:
    server = start_vncd("--source", "x11", "--port", "0", cwd=tmp_path)
    _, stderr = server.communicate(timeout=60)
    assert server.returncode == 1, stderr
    assert "Traceback" not in stderr
    [error] = [line for line in stderr.splitlines() if line.startswith("vncd: error: ")]
    assert "DISPLAY" in error
