"""The manager's bad answers: invalid JSON is repaired once then fails with its errors; a cycle is sent back once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from quarterdeck.crews import manager
from quarterdeck.crews.config import CrewConfig, ModelConfig
from quarterdeck.crews.models import Asker
from quarterdeck.llm.endpoint import Endpoint
from tests.support.llm_servers import AnthropicServer, Reply, Script


def crew_for(url: str) -> CrewConfig:
    return CrewConfig(manager=ModelConfig(models=(Endpoint(model="claude-haiku-4-5", base_url=url),)))


def draft(*tasks: dict[str, Any]) -> Reply:
    return Reply.text(json.dumps({"name": "g", "tasks": list(tasks)}))


def t(id: str, *deps: str) -> dict[str, Any]:
    return {
        "id": id,
        "title": id.upper(),
        "prompt": f"do {id}",
        "role": "backend",
        "depends_on": list(deps),
        "acceptance_criteria": [{"text": f"{id} done"}],
    }


def user_texts(body: dict[str, Any]) -> list[str]:
    return [b["text"] for m in body["messages"] if m["role"] == "user" for b in m["content"] if b["type"] == "text"]


async def test_an_answer_that_is_not_a_plan_is_repaired_once_then_the_goal_fails_with_its_errors() -> None:
    script = Script(Reply.text("Sure! Here is the plan: build it."), Reply.text('{"name": "g", "tasks": [{"id": 1}]}'))
    with AnthropicServer(script) as server:
        crew = crew_for(server.url)
        with pytest.raises(manager.GoalFailed) as failed:
            await manager.plan_goal("build it", crew, Asker(crew.manager))
    assert len(server.model_requests()) == 2
    repair = user_texts(server.model_requests()[1].body)[-1]
    assert repair.startswith("That answer is invalid (value: Invalid JSON")
    message = failed.value.message
    assert message.startswith("the manager's plan is not valid: the model's answer does not match PlanDraft")
    assert 'its answer was: {"name": "g", "tasks": [{"id": 1}]}' in message


async def test_a_repaired_answer_is_used() -> None:
    script = Script(Reply.text('{"name": "g"}'), draft(t("a")))
    with AnthropicServer(script) as server:
        crew = crew_for(server.url)
        planned = await manager.plan_goal("build it", crew, Asker(crew.manager))
    assert [task.id for task in planned.plan.tasks] == ["a"]
    assert "tasks: Field required" in user_texts(server.model_requests()[1].body)[-1]


async def test_a_cyclic_plan_is_rejected_with_the_cycle_named_and_requested_again_once() -> None:
    script = Script(draft(t("a", "c"), t("b", "a"), t("c", "b")), draft(t("a"), t("b", "a"), t("c", "b")))
    with AnthropicServer(script) as server:
        crew = crew_for(server.url)
        planned = await manager.plan_goal("build it", crew, Asker(crew.manager))
    assert [(task.id, task.depends_on) for task in planned.plan.tasks] == [("a", ()), ("b", ("a",)), ("c", ("b",))]
    again = user_texts(server.model_requests()[1].body)[-1]
    assert "It is not a valid plan:\n- dependency cycle: a → c → b → a" in again
    assert [kind for kind, _ in planned.exchange] == ["goal", "plan", "revision", "plan"]


async def test_a_plan_still_invalid_after_the_second_request_fails_naming_every_problem() -> None:
    script = Script(draft(t("a", "b"), t("b", "a")), draft(t("a", "zzz"), t("a")))
    with AnthropicServer(script) as server:
        crew = crew_for(server.url)
        with pytest.raises(manager.GoalFailed) as failed:
            await manager.plan_goal("build it", crew, Asker(crew.manager))
    assert len(server.model_requests()) == 2
    assert "still invalid after it was asked again" in failed.value.message
    assert "task 'a' depends on unknown task 'zzz'" in failed.value.message
    assert "duplicate task id 'a'" in failed.value.message


async def test_an_unknown_role_is_a_plan_problem_sent_back() -> None:
    wrong = {**t("a"), "role": "wizard"}
    script = Script(draft(wrong), draft(t("a")))
    with AnthropicServer(script) as server:
        crew = crew_for(server.url)
        await manager.plan_goal("build it", crew, Asker(crew.manager))
    assert (
        "unknown role 'wizard': the crew has backend, frontend, tests, docs"
        in user_texts(server.model_requests()[1].body)[-1]
    )


async def test_an_empty_goal_is_refused_before_any_call() -> None:
    crew = crew_for("http://127.0.0.1:9")
    with pytest.raises(Exception, match="the goal is empty"):
        await manager.plan_goal("  ", crew, Asker(crew.manager))


async def test_a_recorded_plan_replays_offline(tmp_path: Path) -> None:
    cassette = tmp_path / "manager.jsonl"
    with AnthropicServer(Script(draft(t("a"), t("b", "a")))) as server:
        route = (Endpoint(model="claude-haiku-4-5", base_url=server.url),)
        recording = CrewConfig(manager=ModelConfig(models=route, record=cassette))
        recorded = await manager.plan_goal("build it", recording, Asker(recording.manager))
    replaying = CrewConfig(manager=ModelConfig(models=route, replay=cassette))  # the server is gone
    asker = Asker(replaying.manager)
    replayed = await manager.plan_goal("build it", replaying, asker)
    assert replayed.plan == recorded.plan
    assert [s.cost_usd for s in asker.take_spent()] == [pytest.approx(0.0015)]
