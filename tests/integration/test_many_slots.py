"""Many slots on a small machine: landings wait for the merge train without starving each other of threads."""

from __future__ import annotations

from pathlib import Path

from quarterdeck.app import Quarterdeck
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import RunStatus, TaskStatus
from tests.support.gitrepo import trailer_tasks


async def test_a_plan_with_32_slots_runs_to_completion(app: Quarterdeck, repo: Path) -> None:
    # Every landing after the first checks the merge result in a scratch worktree: while holding the
    # merge lock it takes the worktrees lock, with up to 31 other slots waiting for the merge lock.
    # Waiting in threads of the default pool (os.cpu_count() + 4 of them) deadlocked this run.
    tasks = tuple(
        plans.TaskSpec(
            id=f"t{n:02}",
            title=f"Task {n}",
            runtime="scripted",
            options={"actions": [{"write": f"out/{n:02}.txt", "content": f"{n}\n"}]},
            verify=(f"test -f out/{n:02}.txt",),
        )
        for n in range(40)
    )
    record = await app.submit(plans.Plan(name="wide", tasks=tasks), repo=repo)
    view = await app.run_until_done(record.id, worker=app.worker(slots=32, run_id=record.id), tick_s=0.05)
    assert view.run.status is RunStatus.SUCCEEDED, [(t.id, t.error) for t in view.tasks if t.error]
    assert {t.status for t in view.tasks} == {TaskStatus.SUCCEEDED}
    assert sorted(trailer_tasks(repo, view.run.integration_branch)) == [t.id for t in tasks]
