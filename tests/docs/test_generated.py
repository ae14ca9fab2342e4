"""docs/'s generated parts match the code (`python -m docs.generate` rewrites them), every
setting is documented, and what the reference says a setting allows is what vncd says when
it is given something else."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys

import attrs
import pytest
import trio

from docs import generate
from vncd.config import Config, ConfigError, parse_config

ROOT = generate.DOCS.parent


def test_check_names_the_stale_file_and_the_command(monkeypatch, capsys) -> None:
    """A setting changed in vncd/config.py but not regenerated: --check fails, saying how to
    fix it, and writes nothing."""
    before = generate.CONFIGURATION.read_text()
    changed = generate.configuration_reference() + "| `new` | `1` | an integer | New. |\n"
    monkeypatch.setattr(generate, "configuration_reference", lambda: changed)
    assert generate.main(["--check"]) == 1
    stale = "docs/configuration.md is stale: run `python -m docs.generate`\n"
    assert stale in capsys.readouterr().err
    assert generate.CONFIGURATION.read_text() == before


def test_generated_docs_are_current() -> None:
    """What `python -m docs.generate --check` says; on failure, which file and the fix."""
    result = subprocess.run(
        [sys.executable, "-m", "docs.generate", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert (result.returncode, result.stderr) == (0, "")


SETTINGS = [
    (section.name, setting) for section in generate.sections() for setting in section.settings
]
#: Arrays of tables ([[listen]]): each entry is a table of the settings.
ARRAYS = {section.name for section in generate.sections() if section.heading.startswith("[[")}


@pytest.mark.parametrize(
    ("section", "setting"), SETTINGS, ids=[f"{s}.{k.key}" for s, k in SETTINGS]
)
def test_every_setting_says_what_it_does_and_allows(section, setting) -> None:
    where = f"{section}.{setting.key}"
    assert setting.meaning, f"{where}: add a `#:` comment above the field in vncd/config.py"
    assert setting.allowed, f"{where}: its check raises no ValueError for a value of no type"
    heading = f"[{section}]"
    if section in ARRAYS:
        heading, where = f"[[{section}]]", f"{section}[0].{setting.key}"
    # The reference's Allowed column is the error a wrong value gets, word for word.
    with pytest.raises(ConfigError) as error:
        parse_config(f"{heading}\n{setting.key} = {{}}\n", "t.toml")
    assert error.value.problems == (f"t.toml: {where} = {{}}: must be {setting.allowed}",)


def test_every_section_has_a_description() -> None:
    for section in generate.sections():
        assert section.about, f"[{section.name}]: say what it is for in its class docstring"


def test_defaults_are_the_default_config() -> None:
    """The Default column, parsed back as TOML, is the configuration vncd runs with."""
    text = "".join(
        f"[{section.name}]\n"
        + "".join(f"{setting.key} = {setting.default}\n" for setting in section.settings)
        for section in generate.sections()
        if section.name not in ARRAYS  # none by default
    )
    assert parse_config(text, "defaults.toml") == Config()


def test_a_new_section_needs_no_change_to_the_generator() -> None:
    @attrs.frozen
    class GadgetsConfig:
        """[gadgets]: things one adds later."""

        #: How many gadgets.
        count: int = attrs.field(default=3, metadata={"check": _at_most_nine})

    @attrs.frozen
    class Bigger(Config):
        gadgets: GadgetsConfig = attrs.field(factory=GadgetsConfig)

    text = generate.configuration_reference(Bigger)
    assert "## [gadgets]\n\nThings one adds later.\n" in text
    assert "| `count` | `3` | an integer 0..9 | How many gadgets. |" in text


def _at_most_nine(value: object) -> int:
    if type(value) is not int or not 0 <= value <= 9:
        raise ValueError("must be an integer 0..9")
    return value


@pytest.mark.parametrize("document", [generate.ARCHITECTURE, generate.PROTOCOL], ids=str)
def test_every_dotted_name_exists(document) -> None:
    """`vncd.x.Name` and `protocol.Name` in the hand-written docs name real things."""
    names = set(re.findall(r"`((?:vncd|protocol)(?:\.\w+)+)`", document.read_text()))
    assert names
    missing = [name for name in sorted(names) if not _resolves(name)]
    assert not missing, f"{document.name} names what does not exist: {missing}"


def test_the_task_tree_names_real_tasks() -> None:
    """Every function in docs/architecture.md's nursery tree is one of vncd's or Trio's."""
    text = generate.ARCHITECTURE.read_text()
    tree = text[text.index("## The nursery tree") :].split("```")[1]
    source = "\n".join(path.read_text() for path in (ROOT / "vncd").rglob("*.py"))
    defined = set(re.findall(r"(?:def|class) (\w+)", source))
    names = re.findall(r"\b((?:[A-Za-z]\w*\.)*\w*[a-z_]\w*)(?=[ ,():\n]|$)", tree)
    code = [name for name in names if "_" in name or "." in name]
    assert len(code) > 18, code
    for name in code:
        head, *rest = name.split(".")
        if head in ("trio", "vncd"):
            assert _resolves(name) if head == "vncd" else hasattr(trio, rest[0]), name
        else:
            assert {head, *rest} <= defined, name


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(found, name):
                return False
            found = getattr(found, name)
        return True
    return False


def test_the_state_table_lists_every_transition() -> None:
    from protocol import _state

    table = generate.state_table()
    for (sender, phase, event), _rule in _state.TRANSITIONS.items():
        row = next(
            (
                line
                for line in table.splitlines()
                if line.startswith(f"| {phase.name} |")
                and sender.value in line.split("|")[2]
                and re.search(rf"\b{event.__name__}\b", line.split("|")[3])
            ),
            None,
        )
        assert row, (sender, phase, event)


def test_etc_vncd_toml_names_every_setting() -> None:
    """The reference says etc/vncd.toml holds every key (tests/vncd/test_config.py checks
    that its values are the defaults); a key may be commented out there."""
    named, section = set(), None
    for line in (ROOT / "etc" / "vncd.toml").read_text().splitlines():
        if header := re.match(r"\[(\w+)\]|# \[\[(\w+)\]\]", line):  # [[array]]: an example
            section = header[1] or header[2]
        elif (key := re.match(r"#?\s*(\w+)\s*=", line)) and section:
            named.add(f"{section}.{key[1]}")
    missing = [f"{s}.{setting.key}" for s, setting in SETTINGS if f"{s}.{setting.key}" not in named]
    assert not missing, f"etc/vncd.toml lacks {missing}"
