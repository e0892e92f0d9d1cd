"""Organisation secrets reach the agent's environment and never an event (both databases, real processes)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from quarterdeck.app import Quarterdeck, vault
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import RunStatus, TaskStatus
from quarterdeck.security.keyring import KeySettings
from tests.support.gitrepo import git

PLANTED = "sk-ant-planted-0123456789abcdef"


async def test_a_provider_key_reaches_the_agent_and_is_redacted_from_its_output(app: Quarterdeck, repo: Path) -> None:
    keys = KeySettings().keyring(app.settings.state_dir)
    await vault.set_secret(app.db, keys, org_id="default", name="ANTHROPIC_API_KEY", value=PLANTED, kind="provider_key")
    await vault.set_secret(app.db, keys, org_id="default", name="notes", value="not-an-env-var-123", kind="other")
    script = (
        'printf "%s" "$ANTHROPIC_API_KEY" | sha256sum | cut -c1-16 > key.sha; '
        'echo "using $ANTHROPIC_API_KEY"; echo "notes=${notes:-unset}"; echo "$ANTHROPIC_API_KEY" >&2'
    )
    task = plans.TaskSpec(id="use", title="Use the key", runtime="shell", options={"script": script})
    record = await app.submit(plans.Plan("secrets", (task,)), repo=repo)
    view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.02)

    assert view.run.status is RunStatus.SUCCEEDED, [t.error for t in view.tasks]
    assert view.tasks[0].status is TaskStatus.SUCCEEDED
    landed = git(repo, "show", f"{view.run.integration_branch}:key.sha").strip()
    assert landed == hashlib.sha256(PLANTED.encode()).hexdigest()[:16]  # the agent had the real value
    events = json.dumps([(e.type, e.payload) for e in await app.events(record.id)])
    assert PLANTED not in events
    assert "using [secret]" in events
    assert "notes=unset" in events  # only provider keys and git credentials named like variables are handed on
