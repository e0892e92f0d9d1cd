"""Where a user's state lives: the state directory and the database URL, read without loading pydantic.

``Settings`` (pydantic-settings) is the one reader of the configuration; this module answers the two
questions a command that only reads (``quarterdeck status``) asks before anything else, the same way
``Settings().resolved_database_url()`` does (``tests/unit/test_locations.py`` holds them equal), at a
fraction of the start-up cost: importing pydantic-settings and building ``Settings`` costs more CPU
than the whole of ``quarterdeck status`` may take.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

__all__ = ["SQLITE_PREFIX", "database_url", "default_state_dir", "mask_url", "plain_sqlite_path"]

#: the prefix of a SQLite file's URL as Quarterdeck writes it (``sqlite:///`` + the path)
SQLITE_PREFIX = "sqlite:///"

#: the characters a SQLite path may hold for its URL to read and print as written (no %-escapes, no
#: query, no characters SQLAlchemy's ``URL`` quotes when it renders one)
_PLAIN = re.compile(r"[A-Za-z0-9_.~ +/-]+")


def default_state_dir() -> Path:
    """The user's Quarterdeck home: ``$XDG_DATA_HOME/quarterdeck``, else ``~/.local/share/quarterdeck``.

    One place per user, whatever the working directory, so every command sees the same runs and nothing
    is written into the repository the user stands in.
    """
    data_home = os.environ.get("XDG_DATA_HOME", "").strip()
    base = Path(data_home) if data_home and Path(data_home).is_absolute() else Path.home() / ".local" / "share"
    return base / "quarterdeck"


def _setting(environ: Mapping[str, str], name: str) -> str | None:
    # pydantic-settings matches ``QUARTERDECK_<NAME>`` case-insensitively, the last spelling winning
    found = None
    wanted = f"quarterdeck_{name}"
    for key, value in environ.items():
        if key.lower() == wanted:
            found = value
    return found


def database_url(environ: Mapping[str, str] | None = None) -> str:
    """``Settings().resolved_database_url()``: ``QUARTERDECK_DATABASE_URL``, else the SQLite file in the state
    directory (``QUARTERDECK_STATE_DIR``, else :func:`default_state_dir`)."""
    environ = os.environ if environ is None else environ
    if url := _setting(environ, "database_url"):
        return url
    state = _setting(environ, "state_dir")
    state_dir = Path(state) if state is not None else default_state_dir()
    return f"{SQLITE_PREFIX}{(state_dir / 'quarterdeck.db').resolve()}"


def plain_sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL whose path reads and prints as written; None for any other URL
    (PostgreSQL, a URL with a query or %-escapes …), which only the store's own URL parsing may read."""
    if not url.startswith(SQLITE_PREFIX):
        return None
    path = url.removeprefix(SQLITE_PREFIX)
    return Path(path) if _PLAIN.fullmatch(path) else None


def mask_url(url: str) -> str:
    """The (database) URL with any password hidden, for messages."""
    from sqlalchemy import exc  # (lazily: a command that never shows a URL does not load SQLAlchemy)
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return url
