"""The README points to each of docs/'s guides where a reader needs it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def section(title: str) -> str:
    """The README's section under ``## title``, up to the next one."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index(f"\n## {title}\n")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end > 0 else None]


@pytest.mark.parametrize(
    ("title", "document"),
    [
        ("Configuration", "docs/configuration.md"),
        ("Layout", "docs/architecture.md"),
        ("Using `protocol` on its own", "docs/protocol.md"),
    ],
)
def test_the_section_links_its_guide(title: str, document: str) -> None:
    links = re.findall(r"\]\(([^)#]+)", section(title))
    assert document in links, f"README's {title!r} links {links}, not {document}"
    assert (ROOT / document).is_file()


def test_the_protocol_guide_names_real_examples() -> None:
    guide = section("Using `protocol` on its own")
    for name in re.findall(r"`(rfb_\w+\.py)`", guide):
        assert (ROOT / "docs" / "examples" / name).is_file(), name
    assert "rfb_client.py" in guide and "rfb_proxy.py" in guide
