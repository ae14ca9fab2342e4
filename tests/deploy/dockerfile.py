"""Reading a Dockerfile and a .dockerignore as the builder does, far enough for the tests:
instructions with their continuation lines joined, and which context paths the build sees."""

from __future__ import annotations

import fnmatch
import json
import shlex
from pathlib import Path

import attrs


@attrs.frozen
class Instruction:
    """One instruction: its keyword (upper case), its --flags and its arguments (HEALTHCHECK:
    "CMD" and the command's)."""

    keyword: str
    flags: tuple[str, ...]
    arguments: tuple[str, ...]


def instructions(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile, comments dropped, backslash continuations joined."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued instruction"
    parsed = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        rest = rest.strip()
        flags: list[str] = []
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            flags.append(flag)
            rest = rest.strip()
        if keyword.upper() == "HEALTHCHECK" and rest.startswith("CMD "):  # a command in it
            arguments = ["CMD", *_arguments(rest.removeprefix("CMD ").strip())]
        else:
            arguments = _arguments(rest)
        parsed.append(Instruction(keyword.upper(), tuple(flags), tuple(arguments)))
    return parsed


def _arguments(text: str) -> list[str]:
    """The exec form's JSON list, or the shell form split as the shell would."""
    return json.loads(text) if text.startswith("[") else shlex.split(text)


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore ``patterns`` keep ``path`` (relative, "/"-separated) out of the
    build context: the last pattern matching it or a directory above it decides, and "!"
    lets back in."""
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: end + 1]) for end in range(len(parts))]
    verdict = False
    for pattern in patterns:
        exception = pattern.startswith("!")
        body = pattern.removeprefix("!").strip("/")
        if any(_matches(candidate, body) for candidate in candidates):
            verdict = not exception
    return verdict


def _matches(path: str, pattern: str) -> bool:
    if pattern.startswith("**/"):
        return any(
            _matches("/".join(path.split("/")[start:]), pattern[3:])
            for start in range(path.count("/") + 1)
        )
    return path.count("/") == pattern.count("/") and fnmatch.fnmatchcase(path, pattern)


def ignore_patterns(path: Path) -> list[str]:
    """The patterns of a .dockerignore file, comments and blank lines dropped."""
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]
