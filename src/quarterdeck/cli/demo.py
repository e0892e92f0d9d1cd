"""``quarterdeck demo``: copy the bundled example into a fresh git repository and run its plan."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import click

__all__ = ["demo", "example_dir"]


def example_dir(name: str = "textkit") -> Path:
    """A bundled example: inside the installed package, or ``examples/`` of a source checkout."""
    packaged = Path(__file__).resolve().parents[1] / "_examples" / name
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "examples" / name


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_repository(example: Path, target: Path, extra: dict[str, str] | None = None) -> Path:
    """A fresh git repository at ``target`` holding the example project (and ``extra`` files) in one commit."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(example / "project", target)
    for name, text in (extra or {}).items():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_text(text, encoding="utf-8")
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
    default=None,
    help="Keep the demo apart: its repository, database and worktrees go here (recreated each time) "
    "[default: the repository in <state dir>/demo/repo, the run in your usual database].",
)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1))
@click.option(
    "--goal",
    "crew_goal",
    is_flag=True,
    help="Run the bundled crew instead: a manager plans a goal, api-agent workers build it, a reviewer sends "
    "one task back for a revision; every model answer is replayed from the bundled cassettes.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_context
def demo(ctx: click.Context, state_dir: Path | None, workers: int, crew_goal: bool, as_json: bool) -> None:
    """Run the bundled example plan end to end on SQLite: no services, no API keys.

    The run lands in your Quarterdeck home like any other, so `quarterdeck status` and the dashboard
    (`quarterdeck serve`) show it afterwards. With --goal, a whole crew's goal runs offline.
    """
    import os

    from quarterdeck.cli.run import run
    from quarterdeck.settings import Settings

    example = example_dir()
    if state_dir is not None:
        state_dir = state_dir.resolve()
        if state_dir.exists():
            shutil.rmtree(state_dir)
        state_dir.mkdir(parents=True)
        os.environ["QUARTERDECK_STATE_DIR"] = str(state_dir)
        os.environ["QUARTERDECK_DATABASE_URL"] = f"sqlite:///{state_dir / 'quarterdeck.db'}"
        where = state_dir
    else:
        where = Settings().state_dir.resolve() / "demo"
        where.mkdir(parents=True, exist_ok=True)
    _sandbox_or_say_why_not()
    if crew_goal:
        _crew_goal(ctx, where, workers, as_json)
        return
    repo = make_repository(example, where / "repo")
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


def _sandbox_or_say_why_not() -> None:
    """The demo's steps are its own bundled example: where the sandbox cannot run (a fresh machine without
    bubblewrap), they run unconfined rather than fail, and the user is told what their own runs will need."""
    import os

    from quarterdeck import sandbox

    if sandbox.is_opted_out():
        return
    available = sandbox.availability()
    if available.ok:
        return
    click.echo(
        f"note: the sandbox cannot run on this machine: {available.reason}.\n"
        "      The demo's bundled example runs unconfined; your own runs need the sandbox "
        "(or QUARTERDECK_SANDBOX=off, knowingly): see docs/sandbox.md.",
        err=True,
    )
    os.environ["QUARTERDECK_SANDBOX"] = "off"  # this process's workers only; each attempt records sandbox.off


def _crew_goal(ctx: click.Context, where: Path, workers: int, as_json: bool) -> None:
    """The crew example: its repository gets a crew.toml whose every model replays a bundled cassette."""
    from quarterdeck.cli.goal import goal

    if as_json:
        raise click.UsageError("--goal prints the crew's plan and run as tables; --json is for the plan demo")
    crew = example_dir("crew")
    toml = (crew / "crew.toml").read_text(encoding="utf-8").replace("{cassettes}", str(crew.resolve()))
    repo = make_repository(crew, where / "crew-repo", {".quarterdeck/crew.toml": toml})
    text = (crew / "goal.txt").read_text(encoding="utf-8").strip()
    click.echo(f"goal: {text}\n(offline: the manager, the workers and the reviewer answer from {crew})")
    ctx.invoke(goal, text=text, repo=str(repo), budget_usd=None, approve=False, edit=False, workers=workers)
