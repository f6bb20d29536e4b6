"""The documents a newcomer reads are true: every link they follow is in a clone of the
repository, and every default docs/BEHAVIOUR.md gives is the configuration's."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from device.config import Config

ROOT = Path(__file__).resolve().parent.parent
BEHAVIOUR = ROOT / "docs" / "BEHAVIOUR.md"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def tracked(path: Path) -> bool:
    """In the repository itself, not merely on this machine."""
    done = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--error-unmatch",
                           str(path)], capture_output=True)
    return done.returncode == 0


def links(doc: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.DOTALL)  # not in code blocks
    found = re.findall(r"\]\(([^)\s]+)\)", text)
    found += re.findall(r"`(\.\./[^`\s]+\.md)`", text)  # a path given as text, not a link
    return [link for link in found if not re.match(r"[a-z]+:", link)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_link_is_a_file_of_the_repository(doc: Path) -> None:
    for link in links(doc):
        target = (doc.parent / link.split("#", 1)[0]).resolve()
        assert target.is_relative_to(ROOT), f"{doc.name}: {link} is outside the repository"
        assert target.exists(), f"{doc.name}: {link} does not exist"
        if (ROOT / ".git").exists():
            assert tracked(target), f"{doc.name}: {link} is not in the repository"


def test_the_link_check_would_catch_the_old_reference(tmp_path: Path) -> None:
    doc = tmp_path / "README.md"
    doc.write_text("is summarised in\n`../shared/REFERENCE.md`; see [x](docs/X.md#a).\n")
    assert links(doc) == ["docs/X.md#a", "../shared/REFERENCE.md"]


def test_the_readme_links_the_behaviour_reference() -> None:
    assert "](docs/BEHAVIOUR.md)" in (ROOT / "README.md").read_text()


def plain(value: Any) -> Any:
    """A default as TOML would read it (tuples as lists)."""
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return value


def defaults() -> dict[str, Any]:
    config = Config()
    return {f"{section.name}.{key.name}": plain(getattr(getattr(config, section.name),
                                                        key.name))
            for section in dataclasses.fields(config)
            for key in dataclasses.fields(getattr(config, section.name))}


def test_every_default_in_behaviour_md_is_the_configurations() -> None:
    text = BEHAVIOUR.read_text()
    known = defaults()
    text = text.replace("`section.key = value`", "")  # how the page says what follows
    stated = re.findall(r"`([a-z_]+\.[a-z_]+) = ([^`]+)`", text.replace("\n", " "))
    assert len(stated) >= 40, "BEHAVIOUR.md gives the defaults as `section.key = value`"
    for key, value in stated:
        assert key in known, f"BEHAVIOUR.md names {key}, which is no configuration key"
        assert tomllib.loads(f"v = {value}")["v"] == known[key], (key, value, known[key])
    sections = {key.split(".")[0] for key in known}
    for key in re.findall(r"`([a-z_]+\.[a-z_]+)`", text):
        if key.split(".")[0] in sections:
            assert key in known, f"BEHAVIOUR.md names {key}, which is no configuration key"
