"""The container image's recipe (Dockerfile, .dockerignore, deploy/docker/) checked without a
container engine: every file it copies is in the build context, the config it ships passes
`vncd check` once the entrypoint has written the password, its command and health check are
ones vncd answers. (docs/deploy.md says how the image itself was built and run with podman.)"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

from tests.interop.vncd_process import vncd_launcher
from vncd.passwords import read_password_file

from .dockerfile import Instruction, ignore_patterns, ignored, instructions

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = instructions((ROOT / "Dockerfile").read_text())
IGNORE = ignore_patterns(ROOT / ".dockerignore")
IMAGE_CONFIG = ROOT / "deploy" / "docker" / "vncd.toml"
ENTRYPOINT = ROOT / "deploy" / "docker" / "vncd-entrypoint"
SESSION = ROOT / "deploy" / "docker" / "vncd-session"
VENV_BIN = Path(sys.executable).parent


def of(keyword: str) -> list[Instruction]:
    return [instruction for instruction in DOCKERFILE if instruction.keyword == keyword]


def final_stage() -> list[Instruction]:
    starts = [index for index, line in enumerate(DOCKERFILE) if line.keyword == "FROM"]
    return DOCKERFILE[starts[-1] :]


def image_destination(source: str) -> str:
    """Where the final stage's COPY puts ``source`` in the image."""
    for copy in final_stage():
        if copy.keyword == "COPY" and source in copy.arguments[:-1]:
            target = copy.arguments[-1]
            return target + Path(source).name if target.endswith("/") else target
    raise AssertionError(f"the image does not copy {source}")


def test_every_copied_file_is_in_the_build_context():
    copies = [copy for copy in of("COPY") if not any(f.startswith("--from") for f in copy.flags)]
    sources = [source for copy in copies for source in copy.arguments[:-1]]
    assert "deploy/docker/vncd.toml" in sources
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such file"
        assert not ignored(source, IGNORE), f"COPY {source}: .dockerignore leaves it out"
    for local in (".git", ".venv", "web/node_modules/@novnc", "tests", "vncd/__pycache__"):
        assert ignored(local, IGNORE), f"{local} would be sent to the builder"


def test_debian_slim_non_root_one_port():
    assert all(stage.arguments[0] == "debian:bookworm-slim" for stage in of("FROM"))
    (user,) = [line for line in final_stage() if line.keyword == "USER"]
    assert user.arguments[0].split(":")[0] not in ("0", "root")
    assert user.arguments[0].split(":")[0].isdigit()  # Kubernetes' runAsNonRoot checks it
    assert [line.arguments for line in of("EXPOSE")] == [("5900",)]


def test_the_scripts_are_executable_shell():
    for script in (ENTRYPOINT, SESSION):
        assert os.access(script, os.X_OK), f"{script.name} is not executable"
        subprocess.run(["sh", "-n", str(script)], check=True)


def test_the_shipped_config_passes_check_with_the_entrypoints_password(tmp_path: Path):
    """The entrypoint writes $VNCD_PASSWORD where the config's server.password_file points
    (relative to the config), then runs vncd: `vncd check` passes, and the file holds the
    password. Without one, check fails naming server.password_file."""
    config = tmp_path / "vncd.toml"
    config.write_text(IMAGE_CONFIG.read_text())
    (tmp_path / "secret").mkdir()
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
    password_file = tmp_path / "secret" / "passwd"

    missing = subprocess.run(
        [str(ENTRYPOINT), "check", str(config)], env=env, capture_output=True, text=True
    )
    assert missing.returncode == 2
    assert "server.password_file" in missing.stderr

    env |= {"VNCD_PASSWORD": "pa55word", "VNCD_PASSWORD_FILE": str(password_file)}
    checked = subprocess.run(
        [str(ENTRYPOINT), "check", str(config)], env=env, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    assert read_password_file(password_file) == ("pa55word", "")
    assert "pa55word" not in checked.stdout + checked.stderr
    # The image's default command names this config where the image puts it.
    (command,) = of("CMD")
    assert command.arguments == ("run", image_destination("deploy/docker/vncd.toml"))
    assert image_destination("deploy/docker/vncd-entrypoint") == "/usr/local/bin/vncd-entrypoint"
    assert of("ENTRYPOINT")[0].arguments == ("vncd-entrypoint",)


def test_the_health_check_passes_against_vncd(tmp_path: Path):
    """The HEALTHCHECK's own command, pointed at a running vncd's port, exits 0."""
    (check,) = of("HEALTHCHECK")
    assert check.arguments[0] == "CMD"
    command = list(check.arguments[1:])
    url = next(word for word in command[-1].split("'") if word.startswith("http"))
    assert urllib.parse.urlsplit(url).path == "/healthz"
    assert urllib.parse.urlsplit(url).port == 5900
    with vncd_launcher(tmp_path) as start:
        server = start('[source]\nkind = "demo"\n')
        script = command[-1].replace(":5900/", f":{server.port}/")
        subprocess.run([sys.executable, *command[1:-1], script], check=True, timeout=10)
        server.stop()
        failed = subprocess.run([sys.executable, *command[1:-1], script], capture_output=True)
        assert failed.returncode != 0


def test_the_session_is_what_the_config_runs():
    assert 'command = "vncd-session"' in IMAGE_CONFIG.read_text()
    assert image_destination("deploy/docker/vncd-session") == "/usr/local/bin/vncd-session"
