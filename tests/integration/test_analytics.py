"""Crew analytics from a seeded history: every figure equals the one computed by hand (docs/analytics.md has
the definitions), other organisations' tasks and tasks outside the window are not counted."""

from __future__ import annotations

import pytest

from quarterdeck.app import Quarterdeck
from quarterdeck.errors import InputError
from tests.support.analytics_history import seed_history


@pytest.fixture
async def history(app: Quarterdeck) -> Quarterdeck:
    return await seed_history(app)


async def test_figures_by_role_equal_the_hand_computed_ones(history: Quarterdeck) -> None:
    report = await history.analytics(by="role", since="2026-11-30", until="2026-12-03", org_id="acme")
    backend, docs = (g.figures() for g in report.groups)
    assert backend == {
        "key": "backend", "tasks": 2, "succeeded": 1, "first_attempt": 1, "dead": 1,
        "success_rate": 0.5, "first_attempt_rate": 0.5, "attempts_per_task": 1.5, "revisions_per_task": 0.5,
        "cost_usd": 0.45, "cost_per_task_usd": 0.225, "input_tokens": 1900, "output_tokens": 350,
        # waiting 10 + 5 + 10; agent 60 + 30 + 20 + 20; checks 10 + 10; review 10; landing 5; other 2 + 1 + 1 + 1 + 1
        "seconds_per_task": {
            "waiting": 12.5, "agent": 65.0, "checks": 10.0, "review": 5.0, "landing": 2.5, "other": 3.0,
        },
        "verdicts": {"revise": 1, "accept": 1}, "criteria": {"met": 3, "not_met": 1},
    }  # fmt: skip
    assert docs["key"] == "docs"
    assert (docs["tasks"], docs["succeeded"], docs["first_attempt"], docs["dead"]) == (1, 1, 0, 0)
    assert docs["seconds_per_task"]["landing"] == 30.0
    assert report.total is not None
    assert (report.total.tasks, report.total.succeeded, report.total.first_attempt, report.total.dead) == (3, 2, 1, 1)


async def test_by_model_day_and_week(history: Quarterdeck) -> None:
    window = {"since": "2026-11-30", "until": "2026-12-03", "org_id": "acme"}
    by_model = await history.analytics(by="model", **window)
    assert [(g.key, g.tasks) for g in by_model.groups] == [("claude-sonnet-4-5", 2), ("—", 1)]
    by_day = await history.analytics(by="day", **window)
    assert [(g.key, g.tasks, g.succeeded) for g in by_day.groups] == [("2026-12-01", 2, 1), ("2026-12-02", 1, 1)]
    by_week = await history.analytics(by="week", **window)
    assert [(g.key, g.tasks) for g in by_week.groups] == [("2026-W49", 3)]


async def test_an_organisation_sees_only_its_own_tasks(history: Quarterdeck) -> None:
    report = await history.analytics(by="runtime", since="2026-11-30", until="2026-12-03", org_id="other")
    assert [(g.key, g.tasks) for g in report.groups] == [("claude-code", 1)]


async def test_a_bad_window_is_a_clear_error(app: Quarterdeck) -> None:
    with pytest.raises(InputError, match="since 'yesterday': give a date"):
        await app.analytics(since="yesterday")
    with pytest.raises(InputError, match="the window is empty"):
        await app.analytics(since="2026-12-02", until="2026-12-01")
    with pytest.raises(InputError, match="unknown grouping 'colour'"):
        await app.analytics(by="colour")  # type: ignore[arg-type]
