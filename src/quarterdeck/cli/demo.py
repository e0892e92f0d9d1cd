"""``quarterdeck demo``: copy the bundled example into a fresh git repository and run its plan."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import click

__all__ = ["demo", "example_dir"]


def example_dir() -> Path:
    """The bundled example: inside the installed package, or ``examples/`` of a source checkout."""
    packaged = Path(__file__).resolve().parents[1] / "_examples" / "textkit"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "examples" / "textkit"


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_repository(example: Path, target: Path) -> Path:
    """A fresh git repository at ``target`` holding the example project in one commit."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(example / "project", target)
    _git(target, "init", "--quiet", "--initial-branch=main")
    _git(target, "add", "--all")
    _git(
        target,
        "-c", "user.name=Quarterdeck Demo",
        "-c", "user.email=demo@quarterdeck.invalid",
        "commit", "--quiet", "-m", "textkit: initial project",
    )  # fmt: skip
    return target


@click.command()
@click.option(
    "--dir",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".quarterdeck/demo"),
    show_default=True,
    help="Where the demo repository, database and worktrees go (recreated each time).",
)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_context
def demo(ctx: click.Context, state_dir: Path, workers: int, as_json: bool) -> None:
    """Run the bundled example plan end to end on SQLite: no services, no API keys."""
    import os

    from quarterdeck.cli.run import run

    example = example_dir()
    state_dir = state_dir.resolve()
    if state_dir.exists():
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True)
    repo = make_repository(example, state_dir / "repo")
    os.environ.setdefault("QUARTERDECK_STATE_DIR", str(state_dir))
    os.environ.setdefault("QUARTERDECK_DATABASE_URL", f"sqlite:///{state_dir / 'quarterdeck.db'}")
    ctx.invoke(
        run,
        plan_path=example / "plan.yaml",
        repo=repo,
        workers=workers,
        base="HEAD",
        branch="integration",
        deps=None,
        budget_usd=None,
        merge_strategy="squash",
        as_json=as_json,
    )
