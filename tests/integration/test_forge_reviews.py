"""Review feedback as revisions: owned by the right task, in its session, under max_revisions, behind an
approval when the project asks for one, and queued while its task has not landed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from quarterdeck.app import Quarterdeck
from quarterdeck.crews import gates
from quarterdeck.domain import forges as rules
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import RunStatus, TaskStatus
from quarterdeck.forges import reviews
from quarterdeck.runtimes.base import EventSink, RunResult, TaskContext
from quarterdeck.store import forges as forge_store
from quarterdeck.store.forges import LinkRecord
from quarterdeck.store.records import RunRecord
from quarterdeck.store.types import utcnow
from tests.api.test_forge_flow import Reviewee
from tests.support.gitrepo import git, make_repo, trailer_tasks


@pytest.fixture
def reviewee(app: Quarterdeck) -> Iterator[None]:
    app.registry.register(Reviewee)
    Reviewee.turns = []
    yield
    app.registry.unregister("reviewee")


def forge_repo(tmp_path: Path, extra: str = "") -> Path:
    config = f'[forge]\nkind = "github"\nrepository = "acme/shop"\n{extra}'
    return make_repo(tmp_path / "repo", {".quarterdeck/config.toml": config, "README.md": "# shop\n"})


def plan(max_revisions: int = 0) -> plans.Plan:
    return plans.Plan(
        name="shop",
        tasks=(
            plans.TaskSpec(id="feature", title="Feature", runtime="reviewee", max_revisions=max_revisions),
            plans.TaskSpec(
                id="docs",
                title="Docs",
                runtime="shell",
                options={"script": "echo docs > DOCS.md"},
                depends_on=("feature",),
            ),
        ),
    )


async def run_it(app: Quarterdeck, run_id: str) -> RunStatus:
    view = await app.run_until_done(run_id, worker=app.worker(slots=1, run_id=run_id), tick_s=0.02)
    return view.run.status


async def link_of(app: Quarterdeck, run: RunRecord) -> LinkRecord:
    async with app.db.transaction() as conn:
        return await forge_store.create_link(
            conn, run_id=run.id, kind="pull", forge="github", repository="acme/shop", number=1, url="u",
            head=run.integration_branch, state="open", now=utcnow(),
        )  # fmt: skip


COMMENT = rules.Feedback("comment", "Make 30 a named constant.", "ana", path="feature.py", line=1)


@pytest.mark.usefixtures("reviewee")
async def test_a_line_comment_goes_to_the_task_that_wrote_the_file_and_a_failed_check_to_the_newest(
    app: Quarterdeck, tmp_path: Path
) -> None:
    repo = forge_repo(tmp_path)
    run = await app.submit(plan(), repo=repo)
    assert await run_it(app, run.id) is RunStatus.SUCCEEDED
    link = await link_of(app, run)

    said = await reviews.request_revisions(app.db, link, [COMMENT], cache_root=app.settings.resolved_repo_cache())

    assert said == ["feature: sent"]
    assert await run_it(app, run.id) is RunStatus.SUCCEEDED
    assert Reviewee.turns[1][0] == "session-7"
    assert trailer_tasks(repo, run.integration_branch) == ["feature", "docs", "feature"]
    assert git(repo, "show", f"{run.integration_branch}:feature.py").startswith("TIMEOUT_S")
    # a failed check is the newest commit's task's: the revision above made that ``feature`` again
    check = rules.Feedback("check", "ci failure: 1 test failed")
    assert await reviews.request_revisions(app.db, link, [check], cache_root=app.settings.resolved_repo_cache()) == [
        "feature: sent"
    ]


@pytest.mark.usefixtures("reviewee")
async def test_max_revisions_bounds_the_revisions_from_reviews(app: Quarterdeck, tmp_path: Path) -> None:
    run = await app.submit(plan(max_revisions=1), repo=forge_repo(tmp_path, "max_revisions = 5\n"))
    await run_it(app, run.id)
    link = await link_of(app, run)
    assert await reviews.request_revisions(app.db, link, [COMMENT], cache_root=app.settings.resolved_repo_cache()) == [
        "feature: sent"
    ]
    await run_it(app, run.id)

    assert await reviews.request_revisions(app.db, link, [COMMENT], cache_root=app.settings.resolved_repo_cache()) == [
        "feature: refused"
    ]

    refused = [e.payload for e in await app.events(run.id, types=["forge.feedback"])][-1]
    assert refused["reason"] == "all 1 revisions used"
    assert len(Reviewee.turns) == 2


@pytest.mark.usefixtures("reviewee")
async def test_a_project_that_requires_approval_sends_feedback_once_approved(app: Quarterdeck, tmp_path: Path) -> None:
    run = await app.submit(plan(), repo=forge_repo(tmp_path, "require_approval = true\n"))
    await run_it(app, run.id)
    link = await link_of(app, run)

    assert await reviews.request_revisions(app.db, link, [COMMENT], cache_root=app.settings.resolved_repo_cache()) == [
        "feature: waiting"
    ]
    [approval] = await gates.pending(app.db, org_id=run.org_id, run_id=run.id)
    assert approval.kind == "revision"
    assert (await app.view(run.id)).run.status is RunStatus.SUCCEEDED  # nothing runs before it is approved

    await gates.decide(app.db, org_id=run.org_id, approval_id=approval.id, approve=True, by="lead")

    assert (await app.view(run.id)).run.status is RunStatus.RUNNING
    assert await run_it(app, run.id) is RunStatus.SUCCEEDED
    assert "Make 30 a named constant." in Reviewee.turns[1][1]


class HeldReviewee(Reviewee):
    """The reviewee, whose follow-up turns wait until the test lets them go on."""

    name: ClassVar[str] = "reviewee"
    hold: ClassVar[asyncio.Event | None] = None

    async def run(self, task: TaskContext, events: EventSink) -> RunResult:
        if task.follow_up is not None and HeldReviewee.hold is not None:
            await HeldReviewee.hold.wait()
        return await super().run(task, events)


async def test_feedback_for_a_task_that_is_running_waits_until_it_lands(app: Quarterdeck, tmp_path: Path) -> None:
    app.registry.register(HeldReviewee)
    Reviewee.turns = []
    HeldReviewee.hold = asyncio.Event()
    try:
        run = await app.submit(plan(), repo=forge_repo(tmp_path))
        await run_it(app, run.id)
        link = await link_of(app, run)
        assert await reviews.request_revisions(
            app.db, link, [COMMENT], cache_root=app.settings.resolved_repo_cache()
        ) == ["feature: sent"]
        serving = asyncio.create_task(run_it(app, run.id))
        deadline = asyncio.get_running_loop().time() + 30
        while (await app.view(run.id)).tasks[0].status is not TaskStatus.RUNNING:
            assert asyncio.get_running_loop().time() < deadline, "the revision never started"
            await asyncio.sleep(0.02)

        second = rules.Feedback("comment", "Also add a docstring.", "bo", path="feature.py", line=2)
        assert await reviews.request_revisions(
            app.db, link, [second], cache_root=app.settings.resolved_repo_cache()
        ) == ["feature: queued"]
        assert (
            await reviews.dispatch_pending(app.db, run.id, cache_root=app.settings.resolved_repo_cache()) == 0
        )  # still running

        HeldReviewee.hold.set()
        assert await serving is RunStatus.SUCCEEDED
        assert await reviews.dispatch_pending(app.db, run.id, cache_root=app.settings.resolved_repo_cache()) == 1
        assert await run_it(app, run.id) is RunStatus.SUCCEEDED
        assert "Also add a docstring." in Reviewee.turns[2][1]
        async with app.db.read() as conn:
            assert (await forge_store.read_link(conn, run.id, kind="pull")).pending == []  # type: ignore[union-attr]
    finally:
        HeldReviewee.hold = None
        app.registry.unregister("reviewee")
