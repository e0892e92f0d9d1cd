"""The wire form of events on the bus: JSON, exactly what the event table would hand back."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from quarterdeck.store.records import EventRecord

__all__ = ["decode", "encode", "normalised"]


def _as_dict(event: EventRecord) -> dict[str, Any]:
    return {
        "id": event.id,
        "run_id": event.run_id,
        "task_id": event.task_id,
        "attempt_id": event.attempt_id,
        "type": event.type,
        "payload": event.payload,
        "created_at": event.created_at.isoformat(),
    }


def _from_dict(data: dict[str, Any]) -> EventRecord:
    return EventRecord(
        id=int(data["id"]),
        run_id=data["run_id"],
        task_id=data["task_id"],
        attempt_id=data["attempt_id"],
        type=data["type"],
        payload=data["payload"],
        created_at=datetime.fromisoformat(data["created_at"]),
    )


def encode(events: Sequence[EventRecord]) -> bytes:
    """A batch of events as one JSON array."""
    return json.dumps([_as_dict(e) for e in events], separators=(",", ":")).encode()


def decode(data: bytes | str) -> tuple[EventRecord, ...]:
    """The batch ``encode`` made (raises ValueError, KeyError or TypeError on anything else)."""
    items = json.loads(data)
    if not isinstance(items, list):
        raise ValueError("an event batch is a JSON array")
    return tuple(_from_dict(item) for item in items)


def normalised(events: Sequence[EventRecord]) -> tuple[EventRecord, ...]:
    """The events as the table stores them: payloads through JSON (tuples become lists), not shared."""
    return tuple(replace(e, payload=json.loads(json.dumps(e.payload))) for e in events)
