"""``locations`` answers as ``Settings`` does, without loading pydantic."""

from __future__ import annotations

from pathlib import Path

import pytest

from quarterdeck import locations
from quarterdeck.locations import mask_url
from quarterdeck.settings import Settings


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"QUARTERDECK_STATE_DIR": "relative/state"},
        {"QUARTERDECK_STATE_DIR": "/abs/state dir"},
        {"quarterdeck_state_dir": "/lower/case"},
        {"QUARTERDECK_DATABASE_URL": "postgresql://qd:secret@db.example.com/qd"},
        {"QUARTERDECK_DATABASE_URL": "", "QUARTERDECK_STATE_DIR": "/s"},
        {"Quarterdeck_Database_Url": "sqlite:////elsewhere/x.db", "QUARTERDECK_STATE_DIR": "/s"},
    ],
)
def test_the_database_url_is_the_one_settings_resolve(environ: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    assert locations.database_url() == Settings().resolved_database_url()


@pytest.mark.parametrize(
    "path", ["/tmp/state/quarterdeck.db", "/home/a b/x+y/q_d-1.~db", "rel/x.db", "/tmp/ä/x.db", "/tmp/a%20b/x.db",
             "/tmp/a@b/x.db", "/tmp/a:b/x.db", "/tmp/x.db?mode=ro", "/tmp/a#b/x.db", ":memory:"],
)  # fmt: skip
def test_a_plain_sqlite_path_reads_and_prints_as_written(path: str) -> None:
    url = f"sqlite:///{path}"
    plain = locations.plain_sqlite_path(url)
    if plain is not None:
        assert plain == Path(path)
        assert mask_url(url) == url
    else:
        assert any(c in path for c in "%@:?#ä")
    assert locations.plain_sqlite_path("postgresql://u@h/d") is None
