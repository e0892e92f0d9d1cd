"""Shared fixtures: backends (SQLite and the real PostgreSQL), real git repositories, app factories."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from quarterdeck.app import Quarterdeck
from quarterdeck.security import redaction
from quarterdeck.settings import Settings
from quarterdeck.store.database import Database
from tests.support.databases import PostgresTemplate
from tests.support.gitrepo import make_repo


@pytest.fixture(scope="session", autouse=True)
def _no_real_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Nothing a test runs (nor the processes it starts) writes into the real user's Quarterdeck home.

    The default state directory is ``$XDG_DATA_HOME/quarterdeck``: point it at a temporary folder for
    the whole session, and drop any state directory or database the developer's shell may have set.
    """
    saved = {k: os.environ.get(k) for k in ("XDG_DATA_HOME", "QUARTERDECK_STATE_DIR", "QUARTERDECK_DATABASE_URL")}
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("xdg-data-home"))
    os.environ.pop("QUARTERDECK_STATE_DIR", None)
    os.environ.pop("QUARTERDECK_DATABASE_URL", None)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def _no_remembered_secrets() -> Iterator[None]:
    """Each test starts with no secret remembered for redaction: one test's secrets (a fuzzed value)
    are not hidden from another's text (a process remembers every secret it opens, see security/redaction.py)."""
    redaction.forget_all()
    yield
    redaction.forget_all()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[PostgresTemplate]:
    template = PostgresTemplate()
    template.create()
    yield template
    template.destroy()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'quarterdeck.db'}"
        return
    template: PostgresTemplate = request.getfixturevalue("pg_template")
    name = template.clone()
    yield template.url(name)
    template.drop(name)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.upgrade()
    yield database
    await database.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        state_dir=tmp_path / "state",
        lease_s=5,
        heartbeat_s=0.5,
        poll_max_s=0.05,
        kill_grace_s=1,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Quarterdeck]:
    async with Quarterdeck(settings) as application:
        yield application


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {"README.md": "# project\n", "app/__init__.py": ""})
