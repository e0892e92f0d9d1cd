"""Runs and tasks through HTTP: create (object, upload, path), run with the app's worker, read, steer, page."""

from __future__ import annotations

import json
from pathlib import Path

from quarterdeck.api.schemas import EventPublic
from tests.api.conftest import Api, plan_object, shell_task
from tests.api.test_auth import assert_error
from tests.support.gitrepo import shared_dir


async def test_a_run_created_over_http_runs_to_the_end_and_reads_back(api: Api, repo: Path) -> None:
    member = await api.user("acme", "member")
    created = await api.start_run(
        member,
        repo,
        shell_task("one", "echo 1 > one.txt"),
        shell_task("two", "echo 2 > two.txt", depends_on=("one",)),
        shell_task("side", "echo s > side.txt"),
    )
    assert created["total_tasks"] == 3
    # the app's worker may have claimed the two ready tasks already (a submit wakes it at once)
    counts = created["counts"]
    assert sum(counts.values()) == 3, counts
    assert set(counts) <= {"ready", "running", "pending", "succeeded"}, counts
    detail = await api.wait_for_run(member, created["id"])
    assert detail["status"] == "succeeded", detail
    assert detail["critical_path"] == ["one", "two"]
    rows = {t["id"]: t for t in detail["tasks"]}
    assert rows["two"]["depends_on"] == ["one"]
    assert all(t["status"] == "succeeded" and t["commit_sha"] for t in rows.values())

    task = (await api.client.get(f"/api/v1/runs/{created['id']}/tasks/two", headers=member)).json()
    assert task["attempts_detail"][0]["status"] == "succeeded"
    assert task["branch"]
    diff = (await api.client.get(f"/api/v1/runs/{created['id']}/tasks/two/diff", headers=member)).json()
    assert "two.txt" in diff["stat"]
    assert "+2" in diff["diff"]
    events = (await api.client.get(f"/api/v1/runs/{created['id']}/tasks/two/events", headers=member)).json()
    assert {"task.ready", "task.succeeded"} <= {e["type"] for e in events["items"]}
    assert events["next_cursor"] is None
    fields = set(EventPublic.model_fields)
    assert all(set(e) == fields and e["task_id"] == "two" for e in events["items"])
    # the log's pages (each event's JSON is the one the streams send, made once) hold the same events, in order
    paged, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (
            await api.client.get(f"/api/v1/runs/{created['id']}/tasks/two/events", params=params, headers=member)
        ).json()
        paged += page["items"]
        if (cursor := page["next_cursor"]) is None:
            break
    assert paged == events["items"]
    assert [EventPublic.model_validate(e).model_dump(mode="json") for e in paged] == paged

    only_done = await api.client.get(
        f"/api/v1/runs/{created['id']}/tasks", params={"status": "succeeded", "limit": 2}, headers=member
    )
    page = only_done.json()
    assert [t["id"] for t in page["items"]] == ["one", "two"]
    rest = await api.client.get(
        f"/api/v1/runs/{created['id']}/tasks",
        params={"status": "succeeded", "limit": 2, "cursor": page["next_cursor"]},
        headers=member,
    )
    assert [t["id"] for t in rest.json()["items"]] == ["side"]
    assert rest.json()["next_cursor"] is None


async def test_run_lists_page_filter_and_search(api: Api, repo: Path) -> None:
    member = await api.user("acme", "member")
    ids = [(await api.start_run(member, repo, shell_task("t", "true")))["id"] for _ in range(3)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await api.client.get("/api/v1/runs", params=params, headers=member)).json()
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    found = (await api.client.get("/api/v1/runs", params={"q": ids[1]}, headers=member)).json()["items"]
    assert [r["id"] for r in found] == [ids[1]]
    assert_error(
        await api.client.get("/api/v1/runs", params={"status": "sleeping"}, headers=member), 400, "bad_request"
    )


async def test_steering_a_run_over_http(api: Api, repo: Path, tmp_path: Path) -> None:
    member = await api.user("acme", "member")
    gate = shared_dir(repo, tmp_path / "box") / "gate"  # the step's sandbox sees it too
    run = await api.start_run(
        member,
        repo,
        shell_task("wait", f"while [ ! -e {gate} ]; do sleep 0.05; done"),
        shell_task("after", "true", depends_on=("wait",)),
    )
    run_id = run["id"]
    paused = await api.client.post(f"/api/v1/runs/{run_id}/pause", headers=member)
    assert paused.json()["status"] == "paused"
    assert_error(await api.client.post(f"/api/v1/runs/{run_id}/pause", headers=member), 400, "bad_request")
    resumed = await api.client.post(f"/api/v1/runs/{run_id}/resume", headers=member)
    assert resumed.json()["status"] == "running"
    budget = await api.client.post(f"/api/v1/runs/{run_id}/budget", json={"add_usd": 2.5}, headers=member)
    assert budget.json()["budget_usd"] == 2.5
    prioritized = await api.client.post(
        f"/api/v1/runs/{run_id}/tasks/after/prioritize", json={"priority": 7}, headers=member
    )
    assert prioritized.status_code == 200
    cancelled = await api.client.post(f"/api/v1/runs/{run_id}/tasks/wait/cancel", headers=member)
    assert cancelled.json()["tasks"] == ["after"]  # blocked by the cancellation
    retried = await api.client.post(f"/api/v1/runs/{run_id}/tasks/wait/retry", headers=member)
    assert retried.json()["tasks"] == ["after"]  # waits again
    gate.touch()
    detail = await api.wait_for_run(member, run_id)
    assert detail["status"] == "succeeded"
    assert {t["id"]: t["priority"] for t in detail["tasks"]}["after"] == 7
    queue = (await api.client.get("/api/v1/queue", headers=member)).json()
    assert queue == {"ready": [], "running": [], "waiting": []}


async def test_bad_input_is_a_4xx_in_the_error_shape(api: Api, repo: Path, tmp_path: Path) -> None:
    member = await api.user("acme", "member")
    cycle = plan_object(
        {"id": "a", "title": "A", "prompt": "p", "depends_on": ["b"]},
        {"id": "b", "title": "B", "prompt": "p", "depends_on": ["a"]},
    )
    response = await api.client.post("/api/v1/runs", headers=member, json={"plan": cycle, "repo": str(repo)})
    error = assert_error(response, 422, "plan_cycle")
    assert {"cycle": ["a", "b", "a"]} in error["details"] or any("cycle" in d for d in error["details"])
    assert any(d.get("line", 0) > 0 for d in error["details"])
    assert "a" in error["message"]

    malformed = await api.client.post(
        "/api/v1/runs", headers={**member, "Content-Type": "application/json"}, content=b'{"plan": '
    )
    assert_error(malformed, 400, "bad_request")
    malformed_body = await api.client.post(
        "/api/v1/runs/x/budget", headers={**member, "Content-Type": "application/json"}, content=b"{nope"
    )
    assert_error(malformed_body, 400, "malformed_json")
    assert_error(await api.client.get("/api/v1/runs/r-missing", headers=member), 404, "not_found")
    assert_error(await api.client.get("/api/v1/runs/r-missing/tasks/x", headers=member), 404, "not_found")
    (tmp_path / "plain").mkdir()
    not_a_repo = await api.client.post(
        "/api/v1/runs",
        headers=member,
        json={"plan": plan_object(shell_task("t", "true")), "repo": str(tmp_path / "plain")},
    )
    assert_error(not_a_repo, 400, "bad_request")
    both = await api.client.post(
        "/api/v1/runs", headers=member, json={"plan": plan_object(shell_task("t", "true")), "path": "/x", "repo": "/x"}
    )
    assert "exactly one" in assert_error(both, 400, "bad_request")["message"]
    unsafe = await api.client.post(
        "/api/v1/runs",
        headers=member,
        json={"plan": plan_object(shell_task("t", "true")), "repo": str(repo), "branch": "../evil"},
    )
    assert_error(unsafe, 400, "unsafe_name")
    invalid = await api.client.post("/api/v1/runs/x/budget", headers=member, json={"add_usd": -1})
    details = assert_error(invalid, 422, "invalid_request")["details"]
    assert details[0]["loc"] == ["body", "add_usd"]
    assert_error(await api.client.get("/api/v1/nothing-here", headers=member), 404, "not_found")
    assert_error(await api.client.delete("/api/v1/runs", headers=member), 405, "method_not_allowed")


async def test_a_plan_with_nothing_to_run_is_refused_with_422_and_its_reasons(
    api: Api, repo: Path, tmp_path: Path
) -> None:
    member = await api.user("acme", "member")
    stories = tmp_path / "stories"
    stories.mkdir()
    (stories / "tasks.md").write_text("# Tasks\n\n- [x] Parse the input\n")
    (stories / "notes.bin").write_bytes(b"\0")
    refused = await api.client.post("/api/v1/runs", headers=member, json={"path": str(stories), "repo": str(repo)})
    details = assert_error(refused, 422, "invalid_plan")["details"]
    assert [(d["path"].removeprefix(str(tmp_path) + "/"), d["line"]) for d in details] == [
        ("stories", 0),
        ("stories/tasks.md", 3),
        ("stories/notes.bin", 0),
    ]
    assert "nothing to run" in details[0]["message"]
    assert details[1]["message"] == "'tasks.parse-the-input' is done ([x]): not scheduled"
    assert details[2]["message"].startswith("skipped: not a story file")
    empty = await api.client.post("/api/v1/runs", headers=member, json={"plan": plan_object(), "repo": str(repo)})
    assert "nothing to run" in assert_error(empty, 422, "invalid_plan")["message"]
    listed = (await api.client.get("/api/v1/runs", headers=member)).json()
    assert listed["items"] == []


async def test_runs_from_an_upload_and_from_a_path_on_the_server(api: Api, repo: Path, tmp_path: Path) -> None:
    member = await api.user("acme", "member")
    plan = json.dumps(plan_object(shell_task("up", "echo up > up.txt")))
    uploaded = await api.client.post(
        "/api/v1/runs",
        headers=member,
        files={"plan": ("plan.json", plan.encode(), "application/json")},
        data={"repo": str(repo), "budget_usd": "3"},
    )
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["budget_usd"] == 3.0
    stories = tmp_path / "plan.json"
    stories.write_text(plan)
    from_path = await api.client.post("/api/v1/runs", headers=member, json={"path": str(stories), "repo": str(repo)})
    assert from_path.status_code == 201, from_path.text
    missing = await api.client.post(
        "/api/v1/runs", headers=member, json={"path": str(tmp_path / "nope"), "repo": str(repo)}
    )
    assert_error(missing, 422, "invalid_plan")
    wrong_kind = await api.client.post(
        "/api/v1/runs",
        headers=member,
        files={"plan": ("x.exe", b"MZ", "application/octet-stream")},
        data={"repo": str(repo)},
    )
    assert_error(wrong_kind, 400, "bad_request")
    for run in (uploaded.json(), from_path.json()):
        assert (await api.wait_for_run(member, run["id"]))["status"] == "succeeded"


async def test_estimates_are_read_back_and_an_invalid_one_is_a_422_naming_its_line(api: Api, repo: Path) -> None:
    member = await api.user("acme", "member")
    bad = plan_object(shell_task("a", "true") | {"estimate": "soon"})
    refused = await api.client.post("/api/v1/runs", headers=member, json={"plan": bad, "repo": str(repo)})
    error = assert_error(refused, 422, "invalid_plan")
    reason = "'estimate' must be a number of seconds or a duration such as 90s, 20m or 1h30m, not 'soon'"
    assert [(d["line"] > 0, d["message"]) for d in error["details"]] == [(True, reason)]

    created = await api.start_run(
        member,
        repo,
        shell_task("short", "true") | {"estimate": "90s"},
        shell_task("after", "true", depends_on=("short",)) | {"estimate": 2},
        shell_task("long", "true") | {"estimate": "1h"},
        shell_task("unsure", "true"),
    )
    detail = (await api.client.get(f"/api/v1/runs/{created['id']}", headers=member)).json()
    rows = {t["id"]: (t["estimate_s"], t["path_estimate_s"], t["path_length"]) for t in detail["tasks"]}
    # "unsure" counts as the median of 90, 2 and 3600 s for ranking; it has no estimate of its own
    assert rows == {
        "short": (90.0, 92.0, 2),
        "after": (2.0, 2.0, 1),
        "long": (3600.0, 3600.0, 1),
        "unsure": (None, 90.0, 1),
    }
    assert detail["critical_path"] == ["long"]  # the longest in time, not in tasks
    assert (await api.wait_for_run(member, created["id"]))["status"] == "succeeded"
