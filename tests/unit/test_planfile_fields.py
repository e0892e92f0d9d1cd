from __future__ import annotations

from datetime import UTC, datetime

import pytest

from quarterdeck.errors import PlanError
from quarterdeck.stories.planfile import parse_plan


def test_engine_fields_parse_with_defaults() -> None:
    plan = parse_plan(
        "name: p\n"
        "defaults: {max_revisions: 2, budget_usd: 0.5}\n"
        "tasks:\n"
        "  - {id: a, title: A, not_before: '2026-12-01T09:00:00+00:00'}\n"
        "  - {id: b, title: B, budget_usd: 2, max_revisions: 0}\n",
        "p.yaml",
    )
    a, b = plan.tasks
    assert a.not_before == datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert (a.max_revisions, a.budget_usd) == (2, 0.5)
    assert (b.max_revisions, b.budget_usd, b.not_before) == (0, 2.0, None)


def test_engine_fields_are_checked_with_their_line() -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan(
            "name: p\ntasks:\n  - id: a\n    title: A\n    not_before: '2026-12-01 09:00'\n"
            "    budget_usd: -1\n    max_revisions: -2\n",
            "p.yaml",
        )
    assert [str(p) for p in caught.value.problems] == [
        "p.yaml:5: 'not_before' must be an ISO 8601 date and time with a timezone, e.g. 2026-12-01T09:00:00+00:00",
        "p.yaml:6: 'budget_usd' must be a positive amount of US dollars",
        "p.yaml:7: 'max_revisions' must be 0 or more",
    ]


def test_role_and_allow_empty_parse_and_default() -> None:
    plan = parse_plan(
        "name: p\n"
        "defaults: {role: backend}\n"
        "tasks:\n"
        "  - {id: a, title: A, allow_empty: true}\n"
        "  - {id: b, title: B, role: docs}\n",
        "p.yaml",
    )
    a, b = plan.tasks
    assert (a.role, a.allow_empty) == ("backend", True)
    assert (b.role, b.allow_empty) == ("docs", False)


def test_role_and_allow_empty_are_checked_with_their_line() -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan("name: p\ntasks:\n  - id: a\n    title: A\n    role: ../etc\n    allow_empty: 'yes'\n", "p.yaml")
    problems = [str(p) for p in caught.value.problems]
    assert problems[0].startswith("p.yaml:5: 'role' ")
    assert problems[1] == "p.yaml:6: 'allow_empty' must be true or false"
    assert len(problems) == 2


def test_an_estimate_is_seconds_or_a_duration_and_may_be_a_default() -> None:
    plan = parse_plan(
        "name: p\n"
        "defaults: {estimate: 20m}\n"
        "tasks:\n"
        "  - {id: a, title: A, estimate: 90}\n"
        "  - {id: b, title: B, estimate: 1h30m}\n"
        "  - {id: c, title: C, estimate: '2.5'}\n"
        "  - {id: d, title: D}\n"
        "  - {id: e, title: E, estimate: null}\n",
        "p.yaml",
    )
    assert [t.estimate_s for t in plan.tasks] == [90.0, 5400.0, 2.5, 1200.0, None]
    json_plan = parse_plan('{"name": "p", "tasks": [{"id": "a", "title": "A", "estimate": "45s"}]}', "p.json")
    assert json_plan.tasks[0].estimate_s == 45.0
    assert parse_plan("name: p\ntasks:\n  - {id: a, title: A}\n", "p.yaml").tasks[0].estimate_s is None


def test_an_invalid_estimate_is_an_error_with_its_line() -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan(
            "name: p\ntasks:\n  - id: a\n    title: A\n    estimate: soon\n"
            "  - id: b\n    title: B\n    estimate: -3\n"
            "  - id: c\n    title: C\n    estimate: 45d\n",
            "p.yaml",
        )
    assert [str(p) for p in caught.value.problems] == [
        "p.yaml:5: 'estimate' must be a number of seconds or a duration such as 90s, 20m or 1h30m, not 'soon'",
        "p.yaml:8: 'estimate' must be 0 or more (a number of seconds or a duration such as 90s, 20m or 1h30m)",
        "p.yaml:11: 'estimate' must be at most 30 days",
    ]
    with pytest.raises(PlanError) as caught_json:
        parse_plan('{"name": "p",\n "tasks": [\n  {"id": "a", "title": "A",\n   "estimate": "3 parsecs"}]}', "p.json")
    assert [str(p) for p in caught_json.value.problems] == [
        "p.json:4: 'estimate' must be a number of seconds or a duration such as 90s, 20m or 1h30m, not '3 parsecs'"
    ]
