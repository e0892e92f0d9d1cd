"""Each event type's payload is defined once (``domain/events.py``): the emitters, the store and the docs agree."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from quarterdeck.domain import events
from quarterdeck.domain.events import SPECS, EventType
from quarterdeck.store.events import NewEvent

ROOT = Path(__file__).resolve().parents[3]
SRC = ROOT / "src" / "quarterdeck"
DOCS = ROOT / "docs" / "events.md"
START, END = "<!-- event-types: start -->", "<!-- event-types: end -->"


def test_every_event_type_has_a_spec() -> None:
    assert list(SPECS) == list(EventType)
    for type, spec in SPECS.items():
        assert spec.meaning, type
        assert len(spec.names) == len(spec.fields), f"{type} declares a key twice"


def _emitted() -> list[tuple[str, EventType, set[str]]]:
    """Every place in src/ that names an event type and gives its payload's keys literally (a dict display or
    keyword arguments): where, which type, which keys. Payloads built elsewhere are checked as they are made."""
    found: list[tuple[str, EventType, set[str]]] = []
    by_value = {str(t): t for t in EventType}
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            for i, arg in enumerate(node.args):
                if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) and arg.value.id == "EventType":
                    type = EventType[arg.attr]
                elif isinstance(arg, ast.Constant) and arg.value in by_value and i == 0:
                    type = by_value[arg.value]
                else:
                    continue
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                rest = node.args[i + 1 :]
                if rest and isinstance(rest[0], ast.Dict):
                    keys = {k.value for k in rest[0].keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
                elif not rest:
                    keys = {k.arg for k in node.keywords if k.arg not in (None, "task_id", "attempt_id")}
                else:
                    continue
                found.append((where, type, keys))
    return found


def test_every_payload_written_out_in_the_code_has_only_declared_keys() -> None:
    emitted = _emitted()
    assert len(emitted) > 60  # the scan finds the emitters
    wrong = [
        f"{where}: {type} sends {sorted(keys - SPECS[type].names)}"
        for where, type, keys in emitted
        if not SPECS[type].open and keys - SPECS[type].names
    ]
    assert wrong == []


def test_a_payload_key_the_type_does_not_declare_is_refused() -> None:
    with pytest.raises(ValueError, match=r"task\.claimed event's payload has keys .*: wroker"):
        NewEvent("r1", EventType.TASK_CLAIMED, {"attempt": 1, "wroker": "w1"})
    NewEvent("r1", EventType.TASK_CLAIMED, {"attempt": 1, "worker": "w1"})
    # the agent's own events are open (runtimes may be plugins), and types of no spec are kept as they come
    NewEvent("r1", EventType.AGENT_OUTPUT, {"stream": "stdout", "text": "hi", "pid": 42})
    NewEvent("r1", "agent.session", {"session_id": "s1"})


def test_the_docs_list_every_event_type_and_its_payload_as_defined() -> None:
    text = DOCS.read_text()
    assert START in text, f"{DOCS} lost its generated section"
    assert END in text, f"{DOCS} lost its generated section's end"
    shown = text.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"
    assert shown == events.markdown(), (
        "docs/events.md's event table differs from quarterdeck/domain/events.py SPECS; regenerate it with\n"
        "  .venv/bin/python -c 'from quarterdeck.domain.events import markdown; print(markdown(), end=\"\")'"
    )
