"""Events as the streams send them, encoded once per process and shared by every stream."""

from __future__ import annotations

from quarterdeck.api import convert
from quarterdeck.store.records import EventRecord

__all__ = ["EventEncoder"]


class EventEncoder:
    """Each event's JSON (and SSE frame) made once per process and shared by every stream that sends it.

    Keyed by event id, which names one committed event of this process's database; the newest
    ``size`` are kept (a stream that reads old history encodes those again, once).
    """

    __slots__ = ("_frames", "_json", "size")

    def __init__(self, size: int = 8192) -> None:
        self.size = size
        self._json: dict[int, str] = {}
        self._frames: dict[int, str] = {}

    def json(self, event: EventRecord) -> str:
        text = self._json.get(event.id)
        if text is None:
            text = convert.event(event).model_dump_json()
            self._remember(self._json, event.id, text)
        return text

    def sse(self, event: EventRecord) -> str:
        frame = self._frames.get(event.id)
        if frame is None:
            frame = f"id: {event.id}\nevent: {event.type}\ndata: {self.json(event)}\n\n"
            self._remember(self._frames, event.id, frame)
        return frame

    def _remember(self, cache: dict[int, str], key: int, text: str) -> None:
        if len(cache) >= self.size:
            del cache[next(iter(cache))]  # the oldest entry: dicts keep insertion order
        cache[key] = text
