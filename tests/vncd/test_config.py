"""vncd.config and vncd.passwords: defaults, one clear line per mistake, password files."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import attrs
import pytest

from tests.requirements import require_programs
from vncd.config import (
    CaptureConfig,
    Config,
    ConfigError,
    EncodingsConfig,
    HttpConfig,
    LimitsConfig,
    LogConfig,
    SecurityConfig,
    ServerConfig,
    SourceConfig,
    TlsConfig,
    ViewersConfig,
    WebSocketConfig,
    load_config,
    parse_config,
)
from vncd.passwords import read_password_file, write_password_file

from .certificates import make_certificate
from .userfiles import users_file

REPO = Path(__file__).resolve().parents[2]


def problems_of(text: str, **kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "test.toml", **kwargs)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return list(caught.value.problems)


def test_defaults() -> None:
    config = parse_config("", "test.toml")
    assert config == load_config(None) == Config()
    assert config.server == ServerConfig("127.0.0.1", 5900, "", "", "", 64, "", "auto", 50)
    assert config.source == SourceConfig("auto", "", (1280, 800), "xterm", "any", (3840, 2160))
    assert config.capture == CaptureConfig(60)
    assert config.limits == LimitsConfig(1048576, 1024)
    assert config.log == LogConfig("info")
    assert config.http == HttpConfig("")
    assert config.websocket == WebSocketConfig((), 2097152, 30)
    assert config.tls == TlsConfig("", "")
    assert config.viewers == ViewersConfig("shared", 0, "disconnect-others", 0, 0, False)
    assert config.tls_context() is None
    assert config.resolved_passwords() == ("", "")
    assert config.warnings() == []


def test_shipped_file_spells_out_the_defaults() -> None:
    assert load_config(REPO / "etc" / "vncd.toml") == Config()


def test_every_key_can_be_set(tmp_path: Path) -> None:
    certificate, key = make_certificate(tmp_path)
    config = parse_config(
        f"""
        [server]
        host = "::"
        port = 0
        password = "secret"
        view_only_password = "look"
        max_connections = 1000
        name = "office"
        mode = "websocket"
        detect_ms = 1000
        [source]
        kind = "xvfb"
        display = ":3"
        geometry = "16x8192"
        command = ""
        resize = "first"
        max_size = "16x8192"
        [capture]
        max_fps = 240
        [encodings]
        h264 = true
        lossless_refresh_ms = 0
        [limits]
        max_cut_text = 0
        max_encodings = 65535
        handshake_seconds = 300
        max_unauthenticated = 1000
        max_unauthenticated_per_address = 1
        auth_failures = 1000
        auth_backoff_seconds = 1
        auth_backoff_max_seconds = 86400
        [log]
        level = "debug"
        [http]
        web_root = "{tmp_path}"
        [websocket]
        allowed_origins = ["https://example.com", "http://[::1]:8080", "*"]
        max_message_size = 134217728
        ping_interval = 0
        [tls]
        certificate = "{certificate}"
        key = "{key}"
        [viewers]
        input = "single-controller"
        takeover_idle_seconds = 604800
        sharing = "refuse-new"
        idle_timeout_seconds = 1
        max_session_seconds = 604800
        view_only = true
        [security]
        allow_unauthenticated_remote = true
        """,
        "test.toml",
    )
    assert config == Config(
        ServerConfig("::", 0, "secret", "look", "", 1000, "office", "websocket", 1000),
        SourceConfig("xvfb", ":3", (16, 8192), "", "first", (16, 8192)),
        CaptureConfig(240),
        EncodingsConfig(h264=True, lossless_refresh_ms=0),
        LimitsConfig(0, 65535, 300, 1000, 1, 1000, 1, 86400),
        LogConfig("debug"),
        HttpConfig(str(tmp_path)),
        WebSocketConfig(("https://example.com", "http://[::1]:8080", "*"), 134217728, 0),
        TlsConfig(str(certificate), str(key)),
        ViewersConfig("single-controller", 604800, "refuse-new", 1, 604800, True),
        SecurityConfig(allow_unauthenticated_remote=True),
    )
    assert config.resolved_passwords() == ("secret", "look")
    assert config.tls_context() is not None


INTEGER_PORT = "must be an integer 0..65535"
BAD_VALUES = [
    ("server", "host", '""', "must be a host name or address"),
    ("server", "host", '"a b"', "must be a host name or address"),
    ("server", "host", "1", "must be a host name or address"),
    ("server", "port", "70000", INTEGER_PORT),
    ("server", "port", "-1", INTEGER_PORT),
    ("server", "port", '"5900"', INTEGER_PORT),
    ("server", "port", "5900.0", INTEGER_PORT),
    ("server", "port", "true", INTEGER_PORT),
    ("server", "password", "12345678", "must be a string"),
    ("server", "password", '"pässwörd€"', "must be Latin-1 text"),
    ("server", "view_only_password", "[]", "must be a string"),
    ("server", "password_file", "false", "must be a string"),
    ("server", "max_connections", "0", "must be an integer 1..1000"),
    ("server", "max_connections", "1001", "must be an integer 1..1000"),
    ("server", "name", "{}", "must be a string"),
    ("server", "mode", '"ws"', 'must be one of "auto", "rfb", "websocket"'),
    ("server", "detect_ms", "0", "must be an integer 1..1000 (milliseconds)"),
    ("server", "detect_ms", "0.05", "must be an integer 1..1000 (milliseconds)"),
    ("source", "kind", '"wayland"', 'must be one of "auto", "demo", "x11", "xvfb", "desktop"'),
    ("source", "kind", '"Demo"', 'must be one of "auto", "demo", "x11", "xvfb", "desktop"'),
    ("source", "display", "0", "must be a string"),
    ("source", "geometry", '"15x800"', 'must be "WIDTHxHEIGHT", each 16..8192'),
    ("source", "geometry", '"1280x8193"', 'must be "WIDTHxHEIGHT", each 16..8192'),
    ("source", "geometry", '"1280*800"', 'must be "WIDTHxHEIGHT", each 16..8192'),
    ("source", "geometry", "[1280, 800]", 'must be "WIDTHxHEIGHT", each 16..8192'),
    ("source", "command", "['xterm']", "must be a string"),
    ("source", "resize", '"all"', 'must be one of "any", "first", "none"'),
    ("source", "resize", "false", 'must be one of "any", "first", "none"'),
    ("source", "max_size", '"8193x100"', 'must be "WIDTHxHEIGHT", each 16..8192'),
    ("source", "monitor", "-1", "must be an integer 0..64 (0 = all monitors as one framebuffer)"),
    ("source", "monitor", '"2"', "must be an integer 0..64 (0 = all monitors as one framebuffer)"),
    ("source", "scale", "0.05", "must be a number 0.1..1.0 (the served size over the desktop's)"),
    ("source", "scale", "2", "must be a number 0.1..1.0 (the served size over the desktop's)"),
    ("source", "scale", '"0.5"', "must be a number 0.1..1.0 (the served size over the desktop's)"),
    ("capture", "max_fps", "0", "must be an integer 1..240"),
    ("capture", "max_fps", "241", "must be an integer 1..240"),
    ("capture", "max_fps", "29.97", "must be an integer 1..240"),
    ("encodings", "h264", '"yes"', "must be true or false"),
    ("encodings", "h264", "1", "must be true or false"),
    (
        "encodings",
        "lossless_refresh_ms",
        "-1",
        "must be an integer 0..60000 (milliseconds, 0 = off)",
    ),
    ("encodings", "lossless_refresh_ms", "0.5", "must be an integer 0..60000"),
    ("limits", "max_cut_text", "-1", "must be an integer 0..67108864"),
    ("limits", "max_cut_text", "67108865", "must be an integer 0..67108864"),
    ("limits", "max_encodings", "0", "must be an integer 1..65535"),
    ("limits", "max_encodings", "65536", "must be an integer 1..65535"),
    ("limits", "handshake_seconds", "0", "must be an integer 1..300 (seconds)"),
    ("limits", "max_unauthenticated", "0", "must be an integer 1..1000"),
    ("limits", "max_unauthenticated_per_address", "1001", "must be an integer 1..1000"),
    ("limits", "auth_failures", "0", "must be an integer 1..1000"),
    ("limits", "auth_backoff_seconds", "3601", "must be an integer 1..3600 (seconds)"),
    ("limits", "auth_backoff_max_seconds", '"30"', "must be an integer 1..86400 (seconds)"),
    ("log", "level", '"INFO"', 'must be one of "debug", "info", "warning", "error"'),
    ("log", "level", '"verbose"', 'must be one of "debug", "info", "warning", "error"'),
    ("http", "web_root", "false", "must be a string"),
    ("websocket", "allowed_origins", '"*"', "must be a list of origins"),
    ("websocket", "allowed_origins", "[1]", "must be a list of origins"),
    ("websocket", "allowed_origins", '["example.com"]', "not an origin like https://example.com"),
    ("websocket", "allowed_origins", '["https://a.example/path"]', "not an origin like"),
    ("websocket", "allowed_origins", '["ftp://a.example"]', "not an origin like"),
    ("websocket", "allowed_origins", '["https://a.example:99999"]', "not an origin like"),
    ("websocket", "max_message_size", "1023", "must be an integer 1024..134217728"),
    ("websocket", "ping_interval", "-1", "must be an integer 0..3600 (seconds; 0 = no pings)"),
    ("tls", "certificate", "1", "must be a string"),
    ("tls", "key", "[]", "must be a string"),
    ("viewers", "input", '"single"', 'must be one of "shared", "single-controller"'),
    ("viewers", "takeover_idle_seconds", "-1", "must be an integer 0..604800 (seconds; 0 = never)"),
    ("viewers", "takeover_idle_seconds", "1.5", "must be an integer 0..604800"),
    (
        "viewers",
        "sharing",
        '"exclusive"',
        'must be one of "disconnect-others", "refuse-new", "always-shared"',
    ),
    ("viewers", "idle_timeout_seconds", "604801", "must be an integer 0..604800 (seconds"),
    ("viewers", "max_session_seconds", '"1h"', "must be an integer 0..604800 (seconds; 0 = unl"),
    ("viewers", "view_only", '"yes"', "must be true or false"),
    ("security", "allow_unauthenticated_remote", "1", "must be true or false"),
    ("security", "rsa_key", "true", "must be a string"),
    ("security", "types", '["X509Vnc", "Bogus"]', '"Bogus" is not a security type (known: '),
    ("security", "types", '["TLSNone", "TLSNone"]', "names a security type twice"),
    ("security", "users_file", "[]", "must be a string"),
    ("recording", "directory", "1", "must be a string"),
    ("recording", "sessions", '"some"', 'must be one of "none", "all"'),
    ("recording", "file_name", '"{user}.fbs"', "uses {user}: the fields are {time} and {peer}"),
    ("recording", "max_buffer", "1024", "must be an integer 1048576..1073741824 (bytes"),
    ("log", "format", '"JSON"', 'must be one of "text", "json"'),
    ("log", "file", "2", "must be a string"),
    ("metrics", "enabled", '"no"', "must be true or false"),
    ("metrics", "listen", '"9100"', 'must be "HOST:PORT" (e.g. "127.0.0.1:9100"'),
    ("metrics", "listen", '"[::1]:65536"', 'must be "HOST:PORT"'),
    ("control", "socket", '"control.sock"', 'must be an absolute path (at most 107 bytes), "" or'),
    ("control", "socket", '"/' + "x" * 107 + '"', "must be an absolute path (at most 107 bytes)"),
    ("control", "socket", "false", 'must be an absolute path (at most 107 bytes), "" or "off"'),
]


@pytest.mark.parametrize(("section", "key", "value", "allowed"), BAD_VALUES)
def test_bad_value_is_one_line_naming_key_value_and_what_is_allowed(
    section: str, key: str, value: str, allowed: str
) -> None:
    [problem] = problems_of(f"[{section}]\n{key} = {value}\n")
    prefix = f"test.toml: {section}.{key} = "
    assert problem.startswith(prefix)
    assert allowed in problem
    # The value is quoted back the way TOML spells it (the user can find it in the file).
    shown = problem[len(prefix) :].split(": ")[0]
    assert shown.replace(" ", "") == value.replace(" ", "").replace("'", '"')


def test_every_key_has_a_bad_value_test() -> None:
    tested = {(section, key) for section, key, _, _ in BAD_VALUES}
    every = {
        (section.name, key.name)
        for section in attrs.fields(Config)
        if "table" not in section.metadata  # [[listen]]: tests/vncd/test_listeners.py
        for key in attrs.fields(type(getattr(Config(), section.name)))
    }
    assert every == tested


def test_unknown_key_lists_the_known_ones() -> None:
    [problem] = problems_of("[server]\nprot = 5900\n")
    assert problem == (
        "test.toml: server.prot: unknown key (known keys in [server]: host, port, password, "
        "view_only_password, password_file, max_connections, name, mode, detect_ms)"
    )


def test_unknown_section_and_stray_top_level_key() -> None:
    assert problems_of("[sever]\nport = 1\n") == [
        "test.toml: sever: unknown section "
        "(known sections: server, source, capture, encodings, limits, log, http, websocket, tls, "
        "viewers, security, recording, metrics, control, listen)"
    ]
    [problem] = problems_of("port = 1\n")
    assert problem.startswith("test.toml: port: unknown key outside any section")


def test_section_must_be_a_table() -> None:
    assert problems_of("server = 5\n") == ["test.toml: server = 5: must be a table of settings"]


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_of(
        """
        [server]
        port = 70000
        prot = 1
        [source]
        kind = "wayland"
        [log]
        level = "loud"
        [extra]
        """,
    )
    assert len(problems) == 5
    assert all("\n" not in problem and problem.startswith("test.toml: ") for problem in problems)
    for fragment in ("server.port", "server.prot", "source.kind", "log.level", "extra"):
        assert any(fragment in problem for problem in problems)


def test_toml_syntax_error_names_the_line() -> None:
    [problem] = problems_of('[server]\nport = 5900\nhost = "unterminated\n')
    assert problem.startswith("test.toml: invalid TOML: ")
    assert "line 3" in problem


def test_overrides_are_checked_and_labelled_as_command_line() -> None:
    config = parse_config(
        "[server]\nport = 1\n", "test.toml", overrides={"server.port": 2, "log.level": "error"}
    )
    assert (config.server.port, config.log.level) == (2, "error")
    assert problems_of("[server]\nport = 70000\n", overrides={"source.kind": "nope"}) == [
        "test.toml: server.port = 70000: must be an integer 0..65535 (0 picks a free port)",
        'command line: source.kind = "nope": must be one of "auto", "demo", "x11", "xvfb", '
        '"desktop"',
    ]


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: cannot read it: No such file"):
        load_config(tmp_path / "nope.toml")
    (tmp_path / "latin1.toml").write_bytes(b'[server]\nname = "caf\xe9"\n')
    with pytest.raises(ConfigError, match=r"latin1\.toml: not UTF-8 text"):
        load_config(tmp_path / "latin1.toml")


def test_view_only_password_needs_a_password() -> None:
    [problem] = problems_of('[server]\nview_only_password = "look"\n')
    assert problem.startswith("test.toml: server.view_only_password: needs server.password")


def test_no_password_on_a_remote_address_must_be_allowed() -> None:
    [problem] = problems_of('[server]\nhost = "0.0.0.0"\n')
    assert problem == (
        'test.toml: server.host = "0.0.0.0" with no password: anyone who can reach this port '
        "could control the desktop, so vncd refuses to start; set server.password (or "
        'password_file), listen on "127.0.0.1", or set [security] '
        "allow_unauthenticated_remote = true to allow it"
    )
    parse_config('[server]\nhost = "localhost"\n', "test.toml")
    parse_config('[server]\nhost = "::"\npassword = "s"\n', "test.toml")
    allowed = '[server]\nhost = "::"\n[security]\nallow_unauthenticated_remote = true\n'
    parse_config(allowed, "test.toml")
    # --host on the command line is checked the same way.
    [problem] = problems_of("", overrides={"server.host": "0.0.0.0"})
    assert "allow_unauthenticated_remote" in problem


def test_the_longest_back_off_is_at_least_the_first() -> None:
    [problem] = problems_of("[limits]\nauth_backoff_seconds = 60\n")
    assert problem == (
        "test.toml: limits.auth_backoff_max_seconds = 30: less than "
        "limits.auth_backoff_seconds = 60 (the first block)"
    )


def test_warnings() -> None:
    long = parse_config('[server]\npassword = "123456789"\n', "test.toml")
    assert long.warnings() == [
        "server.password has 9 characters; VNC authentication uses only the first 8"
    ]
    assert parse_config('[server]\nhost = "::1"\n', "test.toml").warnings() == []
    exposed_text = '[server]\nhost = "0.0.0.0"\n[security]\nallow_unauthenticated_remote = true\n'
    [exposed] = parse_config(exposed_text, "test.toml").warnings()
    assert exposed.startswith('server.host = "0.0.0.0" and no password')
    guarded = '[server]\nhost = "0.0.0.0"\npassword = "secret"\n'
    assert parse_config(guarded, "test.toml").warnings() == []
    [any_page] = parse_config('[websocket]\nallowed_origins = ["*"]\n', "test.toml").warnings()
    assert any_page.startswith('websocket.allowed_origins = ["*"] and no password')
    [no_takeover] = parse_config("[viewers]\ntakeover_idle_seconds = 60\n", "x").warnings()
    assert no_takeover == (
        "viewers.takeover_idle_seconds = 60 has no effect unless "
        'viewers.input = "single-controller"'
    )
    single = '[viewers]\ninput = "single-controller"\ntakeover_idle_seconds = 60\n'
    assert parse_config(single, "x").warnings() == []


def test_to_toml_round_trips_and_hides_passwords() -> None:
    config = parse_config('[server]\nport = 5901\n[source]\ngeometry = "800x600"\n', "x")
    assert parse_config(config.to_toml(), "x") == config
    tricky = Config(server=ServerConfig(name='Büro "2"\\\n\t\x1b'))
    assert parse_config(tricky.to_toml(), "x") == tricky
    text = parse_config('[server]\npassword = "hunter2"\n', "x").to_toml()
    assert "hunter2" not in text
    assert 'password = "********"  # hidden' in text


# --- Password files ------------------------------------------------------------------------


def test_password_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    write_password_file(path, "secret")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_size == 8
    assert read_password_file(path) == ("secret", "")
    write_password_file(path, "12345678", view_only="look")
    assert path.stat().st_size == 16
    assert read_password_file(path) == ("12345678", "look")
    write_password_file(path, "longer than eight")
    assert read_password_file(path) == ("longer t", "")


def test_password_file_known_bytes(tmp_path: Path) -> None:
    # What TigerVNC 1.12's `printf 'secret\nviewonly\n' | vncpasswd -f` writes.
    path = tmp_path / "passwd"
    path.write_bytes(bytes.fromhex("2e2dbf576eb06c9e3b33820a27ba4dd0"))
    assert read_password_file(path) == ("secret", "viewonly")
    write_password_file(path, "secret", "viewonly")
    assert path.read_bytes().hex() == "2e2dbf576eb06c9e3b33820a27ba4dd0"


def test_password_file_matches_tigervnc_vncpasswd(tmp_path: Path) -> None:
    require_programs("vncpasswd")  # Debian: tigervnc-tools

    def vncpasswd(*lines: str) -> bytes:
        stdin = "".join(f"{line}\n" for line in lines).encode()
        return subprocess.run(
            ["vncpasswd", "-f"], input=stdin, capture_output=True, check=True
        ).stdout

    theirs = tmp_path / "theirs"
    theirs.write_bytes(vncpasswd("s3cr3t!", "v13w"))
    assert read_password_file(theirs) == ("s3cr3t!", "v13w")
    ours = tmp_path / "ours"
    write_password_file(ours, "abcdefgh")
    assert ours.read_bytes() == vncpasswd("abcdefgh")


def test_config_reads_password_file_relative_to_config(tmp_path: Path) -> None:
    write_password_file(tmp_path / "vncd.passwd", "secret", "look")
    (tmp_path / "vncd.toml").write_text('[server]\npassword_file = "vncd.passwd"\n')
    config = load_config(tmp_path / "vncd.toml")
    assert config.server.password_file == str(tmp_path / "vncd.passwd")
    assert config.resolved_passwords() == ("secret", "look")


def test_password_and_password_file_are_exclusive(tmp_path: Path) -> None:
    write_password_file(tmp_path / "passwd", "secret")
    text = f'[server]\npassword = "other"\npassword_file = "{tmp_path / "passwd"}"\n'
    [problem] = problems_of(text)
    assert problem.startswith(
        "test.toml: server.password_file: cannot be combined with server.password"
    )


def test_bad_password_files_are_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    assert problems_of(f'[server]\npassword_file = "{missing}"\n') == [
        f'test.toml: server.password_file = "{missing}": cannot read it: No such file or directory'
    ]
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"not a password file")
    assert problems_of(f'[server]\npassword_file = "{garbage}"\n') == [
        f'test.toml: server.password_file = "{garbage}": not a vncpasswd file (19 bytes; '
        "expected 8, or 16 with a view-only password)"
    ]
    empty = tmp_path / "empty"
    write_password_file(empty, "")
    [problem] = problems_of(f'[server]\npassword_file = "{empty}"\n')
    assert problem.endswith("the file holds an empty password")


# --- Paths and TLS ---------------------------------------------------------------------------


def test_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    certificate, key = make_certificate(tmp_path)
    (tmp_path / "site").mkdir()
    (tmp_path / "vncd.toml").write_text(
        f'[http]\nweb_root = "site"\n[tls]\ncertificate = "{certificate.name}"\n'
        f'key = "{key.name}"\n'
    )
    config = load_config(tmp_path / "vncd.toml")
    assert config.http.web_root == str(tmp_path / "site")
    assert config.tls == TlsConfig(str(certificate), str(key))


def test_web_root_must_be_a_directory(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    assert problems_of(f'[http]\nweb_root = "{missing}"\n') == [
        f'test.toml: http.web_root = "{missing}": not a directory'
    ]


def test_tls_needs_both_files_and_they_must_load(tmp_path: Path) -> None:
    certificate, key = make_certificate(tmp_path)
    assert problems_of(f'[tls]\ncertificate = "{certificate}"\n') == [
        "test.toml: tls.certificate and tls.key: set both (PEM files) or neither"
    ]
    missing = tmp_path / "missing.pem"
    assert problems_of(f'[tls]\ncertificate = "{certificate}"\nkey = "{missing}"\n') == [
        f'test.toml: tls.key = "{missing}": no such file'
    ]
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    [problem] = problems_of(f'[tls]\ncertificate = "{garbage}"\nkey = "{key}"\n')
    assert problem.startswith(f'test.toml: tls.certificate = "{garbage}", tls.key = "{key}": ')
    assert "cannot load the certificate and key" in problem
    other_certificate, _ = make_certificate(tmp_path / "other")
    [problem] = problems_of(f'[tls]\ncertificate = "{other_certificate}"\nkey = "{key}"\n')
    assert "cannot load the certificate and key" in problem  # a key that does not match


@pytest.mark.parametrize("kind", ["auto", "demo", "xvfb"])
def test_geometry_must_fit_max_size_when_viewers_may_resize(kind: str) -> None:
    text = f'[source]\nkind = "{kind}"\ngeometry = "4096x1024"\n'
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "test.toml")
    assert raised.value.problems == (
        'test.toml: source.geometry = "4096x1024": larger than source.max_size = "3840x2160" '
        '(the largest size viewers may resize to); raise max_size, or set resize = "none"',
    )
    # Fine when nobody resizes, when the maximum is raised, and for x11 (no geometry).
    parse_config(text + 'resize = "none"\n', "test.toml")
    parse_config(text + 'max_size = "4096x2160"\n', "test.toml")
    parse_config(text.replace(kind, "x11"), "test.toml")


def test_security_types_need_what_they_use() -> None:
    assert problems_of('[security]\ntypes = ["X509Vnc", "TLSPlain", "TLSNone"]\n') == [
        'test.toml: security.types = ["X509Vnc", "TLSPlain", "TLSNone"]: X509Vnc needs a '
        "[tls] certificate and key",
        'test.toml: security.types = ["X509Vnc", "TLSPlain", "TLSNone"]: X509Vnc needs '
        "server.password (or password_file)",
        'test.toml: security.types = ["X509Vnc", "TLSPlain", "TLSNone"]: TLSPlain needs '
        "security.users_file",
    ]


def test_users_file_must_exist_and_be_valid(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    assert problems_of(f'[security]\nusers_file = "{missing}"\n') == [
        f'test.toml: security.users_file = "{missing}": cannot read it: No such file or directory'
    ]
    broken = tmp_path / "broken"
    broken.write_text("# users\nanne:md5$abc:full\n")
    assert problems_of(f'[security]\nusers_file = "{broken}"\n') == [
        f'test.toml: security.users_file = "{broken}": line 2: the hash is not '
        "scrypt$N$r$p$salt$hash"
    ]


def test_ra2_needs_a_password_or_users() -> None:
    assert problems_of('[security]\ntypes = ["RA2"]\n') == [
        'test.toml: security.types = ["RA2"]: RA2 needs server.password (or password_file) '
        "or security.users_file"
    ]


def test_exposure_counts_every_type_that_asks_for_nothing(tmp_path: Path) -> None:
    """A password does not make a remote server safe when the offer also has a type that
    asks for nothing; a users file alone does."""
    remote = '[server]\nhost = "0.0.0.0"\npassword = "pw"\n'
    [problem] = problems_of(remote + '[security]\ntypes = ["VncAuth", "None"]\n')
    assert 'security.types offers "None", which asks for no password' in problem
    assert 'remove "None" from security.types' in problem
    [problem] = problems_of(remote + '[security]\ntypes = ["VncAuth", "TLSNone"]\n')
    assert '"TLSNone"' in problem
    [problem] = problems_of('[server]\nhost = "0.0.0.0"\n[security]\ntypes = ["Tight"]\n')
    assert 'security.types offers "Tight", which asks for no password' in problem
    parse_config(remote + '[security]\ntypes = ["Tight"]\n', "test.toml")  # VNC auth inside
    users = users_file(tmp_path / "users", {"anne": "annes-pw"})
    only_users = f'[server]\nhost = "0.0.0.0"\n[security]\nusers_file = "{users}"\n'
    assert parse_config(only_users, "test.toml").warnings() == []
    assert problems_of(only_users + 'types = ["Plain", "X509None"]\n')[0].startswith(
        'test.toml: server.host = "0.0.0.0" with security.types offers "X509None"'
    )


def test_plain_without_tls_is_warned_about(tmp_path: Path) -> None:
    users = users_file(tmp_path / "users", {"anne": "annes-pw"})
    text = f'[security]\ntypes = ["Plain"]\nusers_file = "{users}"\n'
    [warning] = parse_config(text, "test.toml").warnings()
    assert warning.startswith('security.types includes "Plain": user names and passwords')


def test_tight_login_is_warned_about(tmp_path: Path) -> None:
    users = users_file(tmp_path / "users", {"anne": "annes-pw"})
    text = f'[security]\ntypes = ["Tight"]\nusers_file = "{users}"\n'
    [warning] = parse_config(text, "test.toml").warnings()
    assert warning.startswith('security.types includes "Tight" with a users file: its login')
