"""Record and replay: every model exchange of a run in a JSON-lines cassette, played back offline.

A request is found by its fingerprint: the request without the model (a recorded fallback is
replayed as it happened) and with the task's worktree path replaced by ``{workdir}`` (each run has
its own). Identical requests are answered in the order they were recorded. A request the cassette
does not hold fails loudly with ``CassetteMiss``, naming it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import threading
from collections import deque
from pathlib import Path
from typing import Any, Literal

from quarterdeck.llm.messages import Request, Response
from quarterdeck.llm.provider import ProviderError
from quarterdeck.llm.router import Call

__all__ = ["Cassette", "CassetteMiss"]

_LOCK = threading.Lock()


class CassetteMiss(ProviderError):
    """The replayed agent asked something the cassette does not hold."""

    def __init__(self, path: Path, request: Request, fingerprint: str) -> None:
        super().__init__(
            f"cassette {path} holds no answer for request {fingerprint} ({request.describe()})", kind="invalid"
        )
        self.fingerprint = fingerprint


def _normalise(value: Any, workdir: str) -> Any:
    if isinstance(value, str):
        return value.replace(workdir, "{workdir}") if workdir else value
    if isinstance(value, dict):
        return {k: _normalise(v, workdir) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v, workdir) for v in value]
    return value


class Cassette:
    """One cassette file, recording (appending) or replaying."""

    def __init__(
        self, path: Path, *, workdir: Path | None = None, mode: Literal["record", "replay"] = "record"
    ) -> None:
        self.path = path
        self.workdir = str(workdir.resolve()) if workdir is not None else ""
        self.mode = mode
        self._answers: dict[str, deque[dict[str, Any]]] | None = None

    def fingerprint(self, request: Request) -> str:
        data = _normalise(request.model_dump(mode="json", exclude={"model"}), self.workdir)
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:20]

    # recording -------------------------------------------------------------------------------------------
    def record(self, request: Request, call: Call) -> None:
        """Append the exchange (fingerprint, request, provider and response) as one line."""
        entry = {
            "fingerprint": self.fingerprint(request),
            "request": _normalise(request.model_dump(mode="json"), self.workdir),
            "provider": call.provider,
            "response": call.response.model_dump(mode="json"),
        }
        line = json.dumps(entry, sort_keys=True) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _LOCK, self.path.open("a", encoding="utf-8") as out:
            fcntl.flock(out, fcntl.LOCK_EX)  # workers in other processes append to the same file
            try:
                out.write(line)
            finally:
                fcntl.flock(out, fcntl.LOCK_UN)

    # replaying -------------------------------------------------------------------------------------------
    def _load(self) -> dict[str, deque[dict[str, Any]]]:
        if self._answers is None:
            answers: dict[str, deque[dict[str, Any]]] = {}
            try:
                lines = self.path.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ProviderError(f"cannot read cassette {self.path}: {exc.strerror}", kind="invalid") from None
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                    answers.setdefault(str(entry["fingerprint"]), deque()).append(entry)
                except (ValueError, KeyError, TypeError):
                    raise ProviderError(
                        f"cassette {self.path}:{number} is not a recorded exchange", kind="invalid"
                    ) from None
            self._answers = answers
        return self._answers

    def play(self, request: Request) -> tuple[str, Response]:
        """The recorded provider and response for ``request``; ``CassetteMiss`` names a request it lacks."""
        fingerprint = self.fingerprint(request)
        with _LOCK:
            queue = self._load().get(fingerprint)
            if not queue:
                raise CassetteMiss(self.path, request, fingerprint)
            entry = queue.popleft() if len(queue) > 1 else queue[0]
        response = Response.model_validate(entry["response"])
        return str(entry.get("provider") or ""), response
