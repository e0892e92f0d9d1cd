"""Nothing of the control plane in a step's reach: its worktree is outside the state directory, its
environment names neither the state directory, the database nor the keys, and the key ring is read
(from a 0600 file) before any step starts. The defect as found: a shell step saw ``QUARTERDECK_STATE_DIR``
and worked under the state directory, beside the database and the key file.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from quarterdeck.app import Quarterdeck, vault
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import RunStatus
from quarterdeck.security.keyring import KEY_FILE, KeySettings, load_or_create_key_file
from quarterdeck.settings import Settings
from tests.support.gitrepo import git

PLANTED = "sk-ant-reach-0123456789abcdef"


async def test_a_step_sees_no_control_plane_variable_and_works_outside_the_state_dir(
    app: Quarterdeck, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = app.settings.state_dir.resolve()
    # as `quarterdeck serve` or a worker is configured: through the environment
    monkeypatch.setenv("QUARTERDECK_STATE_DIR", str(state))
    monkeypatch.setenv("QUARTERDECK_DATABASE_URL", app.settings.resolved_database_url())
    monkeypatch.setenv("QUARTERDECK_SECRET_KEY", "k" * 40)
    script = "env | grep ^QUARTERDECK_ | cut -d= -f1 | sort > seen.txt; pwd -P > where.txt"
    task = plans.TaskSpec(id="look", title="Look around", runtime="shell", options={"script": script})
    record = await app.submit(plans.Plan("reach", (task,)), repo=repo)
    view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.02)
    assert view.run.status is RunStatus.SUCCEEDED, [t.error for t in view.tasks]

    seen = git(repo, "show", f"{view.run.integration_branch}:seen.txt").split()
    assert {"QUARTERDECK_ATTEMPT", "QUARTERDECK_RUN_ID", "QUARTERDECK_TASK_ID"} <= set(seen)
    # the step's own (its process tree's tag), nothing of the control plane's
    assert set(seen) <= {"QUARTERDECK_ATTEMPT", "QUARTERDECK_RUN_ID", "QUARTERDECK_TASK_ID", "QUARTERDECK_PROC_TAG"}, (
        seen
    )
    where = Path(git(repo, "show", f"{view.run.integration_branch}:where.txt").strip())
    assert not where.is_relative_to(state), where
    assert where.is_relative_to(app.settings.resolved_worktree_root())
    assert app.settings.resolved_worktree_root() == state.with_name(f"{state.name}-worktrees")


def test_a_worktree_root_inside_the_state_dir_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="outside the state directory"):
        Settings(state_dir=tmp_path / "state", worktree_root=tmp_path / "state" / "worktrees")


def test_the_key_file_is_made_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    load_or_create_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o644)
    load_or_create_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600


async def test_the_worker_reads_the_key_ring_before_any_step_starts(app: Quarterdeck, repo: Path) -> None:
    keys = KeySettings()
    await vault.set_secret(
        app.db,
        keys.keyring(app.settings.state_dir),
        org_id="default",
        name="API_TOKEN",
        value=PLANTED,
        kind="provider_key",
    )
    worker = app.worker(slots=1)
    serving = asyncio.create_task(worker.serve())
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while not worker.secrets.keyring_open:
            assert asyncio.get_running_loop().time() < deadline, "the worker did not read its keys"
            assert not serving.done()
            await asyncio.sleep(0.01)
        # From now on the key file may be out of every process's reach: the worker already holds the keys.
        os.remove(app.settings.state_dir / KEY_FILE)
        script = 'printf "%s" "$API_TOKEN" | wc -c > length.txt'
        task = plans.TaskSpec(id="use", title="Use the key", runtime="shell", options={"script": script})
        record = await app.submit(plans.Plan("keys", (task,)), repo=repo)
        view = await app.run_until_done(record.id, worker=None, tick_s=0.02)
    finally:
        worker.should_exit = True
        await serving
    assert view.run.status is RunStatus.SUCCEEDED, [t.error for t in view.tasks]
    assert git(repo, "show", f"{view.run.integration_branch}:length.txt").strip() == str(len(PLANTED))
