"""The notification rules: which events notify, what they say, which targets are valid, when to retry."""

from __future__ import annotations

import pytest

from quarterdeck.domain import notifications as rules
from quarterdeck.domain.notifications import Channel, Kind


@pytest.mark.parametrize(
    ("event_type", "payload", "kind"),
    [
        ("approval.requested", {"kind": "merge"}, Kind.APPROVAL_NEEDED),
        ("run.finished", {"status": "succeeded"}, Kind.RUN_SUCCEEDED),
        ("run.finished", {"status": "failed"}, Kind.RUN_FAILED),
        ("run.finished", {"status": "cancelled"}, None),
        ("run.paused", {}, Kind.RUN_WAITING),
        ("run.budget_exhausted", {"message": "x"}, Kind.BUDGET_EXHAUSTED),
        ("task.failed", {"error": "boom"}, Kind.TASK_DEAD_LETTERED),
        ("task.failed", {"error": "boom", "retry_in": 2.0}, None),
        ("merge.conflict", {"paths": ["a.py"]}, Kind.CONFLICT),
        ("task.succeeded", {}, None),
    ],
)
def test_events_map_to_kinds(event_type: str, payload: dict[str, object], kind: Kind | None) -> None:
    assert rules.kind_of(event_type, payload) == kind


def test_every_kind_comes_from_a_notifying_event() -> None:
    samples = {
        "approval.requested": {},
        "run.finished": {"status": "succeeded"},
        "run.paused": {},
        "run.budget_exhausted": {},
        "task.failed": {},
        "merge.conflict": {},
    }
    made = {rules.kind_of(t, samples[t]) for t in rules.NOTIFYING_EVENTS} | {Kind.RUN_FAILED}
    assert made == set(Kind)


def test_summaries_name_the_run_and_task() -> None:
    said = rules.summary(Kind.CONFLICT, run_name="ship", run_id="r1", task_id="t2", payload={"paths": ["a.py", "b.py"]})
    assert said == "Merge conflict: task t2 of run ship (r1) (a.py, b.py)"
    long = rules.summary(Kind.TASK_DEAD_LETTERED, run_name="r1", run_id="r1", task_id="t", payload={"error": "x" * 500})
    assert long.endswith("…")
    assert len(long) < 260


@pytest.mark.parametrize(
    ("channel", "target", "ok"),
    [
        (Channel.WEBHOOK, "https://hooks.example.com/q", True),
        (Channel.SLACK, "http://127.0.0.1:9/x", True),
        (Channel.WEBHOOK, "ftp://example.com/", False),
        (Channel.WEBHOOK, "https://user:pw@example.com/", False),
        (Channel.SLACK, "not a url", False),
        (Channel.EMAIL, "lead@example.com", True),
        (Channel.EMAIL, "lead@example.com, boss@example.com", False),
        (Channel.EMAIL, "https://example.com", False),
    ],
)
def test_targets_are_checked(channel: Channel, target: str, ok: bool) -> None:
    assert (rules.check_target(channel, target) is None) is ok


def test_backoff_doubles_then_gives_up() -> None:
    policy = rules.DeliveryPolicy(max_attempts=4, base_delay_s=2, max_delay_s=5)
    assert [policy.next_delay(n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 5.0, None]
