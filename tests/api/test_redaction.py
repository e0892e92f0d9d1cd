"""A secret planted in every channel a step can write to never leaves: not in a response, an event, a log or a row.

The secret is stored as another process would (sealed, straight into the store), so that only the
worker opening it makes this process know it. The steps print it on stdout and stderr, fail with it
in their exit message, write it to a file of their diff and into a commit message, print it from a
check, and say it in an agent's transcript. The defect as found: a failed shell step's error
(``exit code 4\\nusing token …``) was served in plaintext from the run, its tasks, and its events.
"""

from __future__ import annotations

import collections
import json
import logging
import secrets
from pathlib import Path

import pytest
import sqlalchemy as sa

from quarterdeck.security import sealing
from quarterdeck.store import secrets as secret_store
from quarterdeck.store.tables import metadata
from quarterdeck.store.types import utcnow
from tests.api.conftest import Api, shell_task
from tests.api.tenants import schema_operations
from tests.support.gitrepo import git

#: endless by design (a live stream): its events are the rows checked below
STREAMS = {"/api/v1/events"}


def _tasks() -> list[dict[str, object]]:
    out = shell_task(
        "out",
        'echo "stdout $LEAK_TOKEN"; echo "$LEAK_TOKEN" > leak.txt; '
        'git add leak.txt && git -c user.name=step -c user.email=step@x commit -qm "commit $LEAK_TOKEN"',
    )
    out["verify"] = ['echo "check passed with $LEAK_TOKEN"']
    fail = shell_task("fail", 'echo "using token $LEAK_TOKEN" >&2; exit 4')
    check = shell_task("check", "true")
    check["verify"] = ['echo "check failed with $LEAK_TOKEN"; exit 1']
    agent = {
        "id": "agent",
        "title": "Agent",
        "runtime": "scripted",
        "options": {"actions": [{"shell": 'echo "transcript $LEAK_TOKEN"'}, {"fail": "the agent gave up"}]},
    }
    return [out, fail, check, agent]


async def test_a_planted_secret_never_leaves_through_any_channel(
    api: Api, repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = f"sk-planted-{secrets.token_hex(12)}"
    admin = await api.user("acme", "admin")
    sealed = sealing.seal(api.services.keys, token, context=sealing.secret_context("acme", "LEAK_TOKEN"))
    async with api.services.db.transaction() as conn:
        await secret_store.upsert_secret(
            conn,
            org_id="acme",
            name="LEAK_TOKEN",
            kind="provider_key",
            ciphertext=sealed.ciphertext,
            key_id=sealed.key_id,
            masked=sealing.mask(token),
            now=utcnow(),
        )
    run = await api.start_run(admin, repo, *_tasks())
    detail = await api.wait_for_run(admin, run["id"])
    errors = {t["id"]: t["error"] for t in detail["tasks"]}
    assert errors["out"] is None, errors
    # the steps had the real value: it is in the repository, where the step put it
    assert git(repo, "show", f"{detail['integration_branch']}:leak.txt").strip() == token
    assert errors["fail"] == "exit code 4\nusing token [secret]"
    assert "[secret]" in errors["check"]
    logging.getLogger("quarterdeck.test").warning("a log line quoting %s", token)

    # every response of every readable operation, for the run and each of its tasks
    served = []
    for method, template, query in await schema_operations(api):
        if method != "GET" or template in STREAMS:
            continue
        for task_id in ("out", "fail", "check", "agent"):
            names = {"run_id": run["id"], "task_id": task_id, "name": "LEAK_TOKEN"}
            url = template.format_map(collections.defaultdict(lambda: "none", names))
            params = {"run_id": run["id"]} if "run_id" in query else {}
            response = await api.client.get(url, params=params, headers=admin)
            assert response.status_code < 500, f"{url}: {response.text[:200]}"
            assert token not in response.text, f"GET {url} serves the secret"
            served.append(response.text)
            if "{task_id}" not in template:
                break
    everything = "\n".join(served)
    assert "stdout [secret]" in everything
    assert "transcript [secret]" in everything
    assert "check passed with [secret]" in everything
    diff = (await api.client.get(f"/api/v1/runs/{run['id']}/tasks/out/diff", headers=admin)).json()
    assert "+[secret]" in diff["diff"]

    # every row of every table
    async with api.services.db.read() as conn:
        for table in metadata.sorted_tables:
            for row in (await conn.execute(sa.select(table))).all():
                text = json.dumps([str(v) for v in row])
                assert token not in text, f"a row of {table.name} holds the secret: {text[:300]}"
    # every log record
    assert token not in caplog.text
    assert "a log line quoting [secret]" in caplog.text
