from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from quarterdeck.settings import Settings


def test_limits_are_checked_when_read() -> None:
    assert Settings(limits={"global": 2, "runtime:codex": 1, "key:TEAM_A_KEY": 2}).limits == {
        "global": 2,
        "runtime:codex": 1,
        "key:TEAM_A_KEY": 2,
    }
    with pytest.raises(ValidationError, match="unknown limit 'model:x'"):
        Settings(limits={"model:x": 1})
    with pytest.raises(ValidationError, match="must be at least 1"):
        Settings(limits={"global": 0})


def test_the_default_database_is_a_sqlite_file_in_the_state_dir(tmp_path: object) -> None:
    settings = Settings(state_dir=Path("state"))
    assert settings.resolved_database_url().startswith("sqlite:///")
    assert settings.resolved_database_url().endswith("/state/quarterdeck.db")
