"""The README and docs/ document every setting and every command (the docs prove themselves)."""

from __future__ import annotations

from pathlib import Path

from quarterdeck.cli.main import main
from quarterdeck.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
#: the README and the guides it links to
README = "\n".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


def test_every_setting_is_documented() -> None:
    missing = [name for name in Settings.model_fields if f"QUARTERDECK_{name.upper()}" not in README]
    # the author e-mail shares a row with the author name
    assert [m for m in missing if m != "git_author_email"] == []
    assert "_EMAIL" in README


def test_every_command_is_documented() -> None:
    missing = [name for name in main.commands if f"quarterdeck {name}" not in README]
    assert missing == []
