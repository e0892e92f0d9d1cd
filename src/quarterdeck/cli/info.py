"""``quarterdeck info``: which state directory, database and worktree folder every command uses."""

from __future__ import annotations

import json
import os

import click

__all__ = ["info"]


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info(as_json: bool) -> None:
    """Say which state directory, database and worktree folder are used.

    The state directory is --state-dir or QUARTERDECK_STATE_DIR, else $XDG_DATA_HOME/quarterdeck, else
    ~/.local/share/quarterdeck: the same from every directory. Nothing is written into your repositories
    except what runs commit.
    """
    from quarterdeck.settings import Settings, default_state_dir, mask_url

    settings = Settings()
    state = settings.state_dir.resolve()
    if os.environ.get("QUARTERDECK_STATE_DIR"):
        source = "QUARTERDECK_STATE_DIR or --state-dir"
    elif state == default_state_dir().resolve():
        source = "default: $XDG_DATA_HOME/quarterdeck" if os.environ.get("XDG_DATA_HOME") else "default"
    else:
        source = "settings"
    url = settings.resolved_database_url()
    found = {
        "state_dir": str(state),
        "state_dir_from": source,
        "database": mask_url(url),
        "database_from": "QUARTERDECK_DATABASE_URL" if settings.database_url else "<state dir>/quarterdeck.db",
        "worktrees": str(settings.resolved_worktree_root()),
        "organisation": settings.org,
    }
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    width = max(map(len, found))
    for key, value in found.items():
        click.echo(f"{key.replace('_', ' ') + ':':<{width + 2}}{value}")
