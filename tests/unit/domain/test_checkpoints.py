"""The attempt checkpoint as a typed record: what it stores, what it reads back, and rows written before it."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

import pytest

from quarterdeck.domain.checkpoints import EMPTY, Checkpoint

#: every field set (to a value other than its default)
FULL = Checkpoint(
    agent=True,
    commit="c0ffee",
    session_id="session-1",
    runtime_state={"turns": 3, "transcript": {"messages": []}},
    verified=True,
    reviewed=True,
    review_attempt="a-1",
    revisions=2,
    finished=True,
    merged="feed5",
    merge_from="bead1",
    conflict_paths=("a.txt", "b/c.txt"),
    failure="verification 'pytest' exited 1",
    retry_from="c0ffee",
    said="also write NOTES.md",
    heard=7,
    revision=True,
    resolved_by="t-resolve",
    unknown={"from_a_newer_release": [1, 2]},
)

#: checkpoints as the engine, crews and follow-ups wrote them before the record existed (dicts of keys)
OLD_ROWS: list[tuple[dict[str, Any], Checkpoint]] = [
    # an attempt that landed and died before recording its outcome
    (
        {"agent": True, "commit": "c1", "session_id": "s1", "verified": True, "review_attempt": "a-1",
         "reviewed": True, "merged": "m1"},
        Checkpoint(agent=True, commit="c1", session_id="s1", verified=True, review_attempt="a-1", reviewed=True,
                   finished=True, merged="m1"),
    ),
    # nothing to land (allow_empty): "merged" is there, and None
    ({"agent": True, "commit": None, "session_id": None, "verified": True, "merged": None},
     Checkpoint(agent=True, verified=True, finished=True)),
    # a revision after a failed check
    ({"agent": True, "commit": "c2", "session_id": "s2", "revisions": 1},
     Checkpoint(agent=True, commit="c2", session_id="s2", revisions=1)),
    # a failed attempt's retry that continues the session (attempt._carried)
    ({"session_id": "s3", "runtime_state": {"n": 1}, "retry_from": "c3", "failure": "boom"},
     Checkpoint(session_id="s3", runtime_state={"n": 1}, retry_from="c3", failure="boom")),
    ({"failure": "the agent changed nothing"}, Checkpoint(failure="the agent changed nothing")),
    # a conflict resolver, and the task it replaces
    ({"merge_from": "c4", "conflict_paths": ["x.txt"]}, Checkpoint(merge_from="c4", conflict_paths=("x.txt",))),
    ({"resolved_by": "t-resolve"}, Checkpoint(resolved_by="t-resolve")),
    # follow-ups, and a task reopened as a revision
    ({"said": "hello", "heard": 4}, Checkpoint(said="hello", heard=4)),
    ({"failure": "review says no", "revision": True}, Checkpoint(failure="review says no", revision=True)),
]  # fmt: skip


def test_every_field_survives_the_round_trip_through_json() -> None:
    assert {f.name for f in fields(Checkpoint)} == {f.name for f in fields(FULL) if getattr(FULL, f.name)}
    assert Checkpoint.from_json(FULL.to_json()) == FULL


@pytest.mark.parametrize(("stored", "read"), OLD_ROWS)
def test_rows_written_before_the_record_read_as_they_meant(stored: dict[str, Any], read: Checkpoint) -> None:
    assert Checkpoint.from_json(stored) == read
    assert read.unknown == {}
    # written back, the row keeps its keys (only keys holding None are left out: they meant "not set")
    assert read.to_json() == {k: v for k, v in stored.items() if v is not None or k == "merged"}


def test_no_checkpoint_is_the_empty_one() -> None:
    assert Checkpoint.from_json(None) is EMPTY
    assert Checkpoint.from_json({}) is EMPTY
    assert EMPTY.to_json() == {}
    assert EMPTY.steps() == []


def test_unknown_keys_and_mistyped_values_are_kept_not_used() -> None:
    stored = {"agent": "yes", "revisions": "2", "heard": True, "comit": "typo", "future": {"a": 1}, "failure": "f"}
    read = Checkpoint.from_json(stored)
    assert read == Checkpoint(failure="f", unknown={k: v for k, v in stored.items() if k != "failure"})
    assert not read.agent  # a string is not taken for a finished agent step
    assert read.to_json() == stored
    # changing a field keeps what it did not understand
    assert replace(read, verified=True).to_json() == {**stored, "verified": True}


def test_a_typo_in_a_field_name_is_an_error_not_a_new_key() -> None:
    typo: dict[str, Any] = {"comit": "c1"}  # (written as a keyword, mypy refuses it before it runs)
    with pytest.raises(TypeError):
        replace(EMPTY, **typo)


def test_steps_name_what_an_interrupted_attempt_had_done() -> None:
    assert FULL.steps() == sorted(
        {"agent", "commit", "session_id", "runtime_state", "verified", "reviewed", "review_attempt", "revisions",
         "merged", "heard", "revision", "resolved_by", "from_a_newer_release"}
    )  # fmt: skip
    assert Checkpoint(failure="f", retry_from="c", said="s", merge_from="m", conflict_paths=("p",)).steps() == []


def test_the_session_is_its_id_and_the_runtimes_state() -> None:
    assert FULL.has_session
    assert FULL.session() == Checkpoint(session_id="session-1", runtime_state=FULL.runtime_state)
    assert Checkpoint(runtime_state={"n": 1}).has_session
    assert not Checkpoint(commit="c").has_session
