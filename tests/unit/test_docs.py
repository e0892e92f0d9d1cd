"""The README and docs/ document every setting and every command (the docs prove themselves)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from pydantic_settings import BaseSettings

from quarterdeck.api.settings import ApiSettings
from quarterdeck.bus.settings import BusSettings
from quarterdeck.cli.main import main
from quarterdeck.llm.settings import LlmSettings
from quarterdeck.runtimes.cli_tools import CliPaths
from quarterdeck.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
#: the README and the guides it links to
README = "\n".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


def _variables(settings: type[BaseSettings]) -> list[str]:
    prefix = settings.model_config.get("env_prefix", "")
    names = []
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        names.append(alias if isinstance(alias, str) else f"{prefix}{name}".upper())
    return names


@pytest.mark.parametrize("settings", [Settings, ApiSettings, BusSettings, LlmSettings, CliPaths])
def test_every_setting_is_documented(settings: type[BaseSettings]) -> None:
    missing = [v for v in _variables(settings) if v not in README]
    # rows like `QUARTERDECK_GIT_AUTHOR_NAME` / `_EMAIL` name the second variable by its suffix
    assert [v for v in missing if f"`_{v.rsplit('_', 1)[-1]}`" not in README] == []


def test_every_command_is_documented() -> None:
    missing = [name for name in main.list_commands(click.Context(main)) if f"quarterdeck {name}" not in README]
    assert missing == []


def test_every_forge_setting_is_documented() -> None:
    from quarterdeck.forges.config import ForgeConfig

    guide = (ROOT / "docs" / "pull-requests.md").read_text()
    assert [name for name in ForgeConfig.model_fields if f"| `{name}` |" not in guide] == []
    assert "(docs/pull-requests.md)" in (ROOT / "README.md").read_text()
