"""The crew config: defaults, the [crew] table or crew.toml, and clear errors naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from quarterdeck.crews.config import load_crew_config
from quarterdeck.errors import InputError


def test_without_a_file_the_crew_has_four_roles_and_two_revisions(tmp_path: Path) -> None:
    crew = load_crew_config(tmp_path)
    assert list(crew.roles) == ["backend", "frontend", "tests", "docs"]
    assert crew.max_revisions == 2
    assert crew.role(None)[0] == "backend"
    assert crew.limits()["role:docs"] == 1


def test_the_crew_table_of_config_toml_is_read(tmp_path: Path) -> None:
    (tmp_path / ".quarterdeck").mkdir()
    (tmp_path / ".quarterdeck" / "config.toml").write_text(
        '[crew]\ndefault_role = "api"\n[crew.roles.api]\nruntime = "api-agent"\nconcurrency = 3\n'
        'models = [{provider = "openai-chat", model = "gpt-4o"}]\n'
    )
    crew = load_crew_config(tmp_path)
    name, role = crew.role(None)
    assert (name, role.concurrency, role.model) == ("api", 3, "gpt-4o")
    assert role.task_options() == {"models": [{"provider": "openai-chat", "model": "gpt-4o"}]}


def test_a_bad_crew_file_is_refused_naming_the_file_and_the_field(tmp_path: Path) -> None:
    (tmp_path / ".quarterdeck").mkdir()
    path = tmp_path / ".quarterdeck" / "crew.toml"
    path.write_text("[crew.roles.api]\nconcurrency = 0\nflavour = 1\n")
    with pytest.raises(InputError) as caught:
        load_crew_config(tmp_path)
    assert caught.value.message.startswith(f"{path}: roles.api.concurrency: Input should be greater than or equal to 1")
    assert "roles.api.flavour: Extra inputs are not permitted" in caught.value.message
    path.write_text('[crew.roles."../x"]\n')
    with pytest.raises(InputError, match="role name"):
        load_crew_config(tmp_path)
    with pytest.raises(InputError, match="unknown role 'wizard'"):
        load_crew_config(tmp_path / "nowhere").role("wizard")
