"""Record and replay: every model exchange of a run in a JSON-lines cassette, played back offline.

A request is found by its fingerprint: the request without the model (a recorded fallback is
replayed as it happened) and with the task's worktree path replaced by ``{workdir}`` (each run has
its own). Each exchange also carries its *scope*, the task and attempt that asked: a replay answers
from the same task and attempt first, in recorded order, so a retried attempt that asks the same
question again gets the answer its recorded counterpart got. A request the cassette does not hold
fails loudly with ``CassetteMiss``, naming it.

Recording appends one whole line per exchange under an exclusive ``flock``, so the in-process slots
and the worker processes of one machine can share a file. Cassettes are plain JSON lines: the
cassettes of several machines concatenated are one cassette.
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

__all__ = ["Cassette", "CassetteMiss", "read_exchanges"]

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


def read_exchanges(path: Path) -> list[dict[str, Any]]:
    """Every exchange in the cassette at ``path``, in recorded order.

    Raises:
        ProviderError: the file cannot be read, or a line (named ``path:line``) is not a recorded exchange.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ProviderError(f"cannot read cassette {path}: {exc.strerror}", kind="invalid") from None
    except UnicodeDecodeError:
        raise ProviderError(f"cassette {path} is not UTF-8 text", kind="invalid") from None
    exchanges: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict) or not isinstance(entry["fingerprint"], str):
                raise TypeError
            Response.model_validate(entry["response"])
        except (ValueError, KeyError, TypeError):
            raise ProviderError(f"{path}:{number}: not a recorded model exchange", kind="invalid") from None
        exchanges.append(entry)
    return exchanges


class Cassette:
    """One cassette file, recording (appending) or replaying, for one task's attempt (its ``scope``)."""

    def __init__(
        self,
        path: Path,
        *,
        workdir: Path | None = None,
        mode: Literal["record", "replay"] = "record",
        scope: str = "",
    ) -> None:
        self.path = path
        self.workdir = str(workdir.resolve()) if workdir is not None else ""
        self.mode = mode
        self.scope = scope
        self._answers: dict[tuple[str, str], deque[dict[str, Any]]] | None = None

    def fingerprint(self, request: Request) -> str:
        data = _normalise(request.model_dump(mode="json", exclude={"model"}), self.workdir)
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:20]

    # recording -------------------------------------------------------------------------------------------
    def record(self, request: Request, call: Call) -> None:
        """Append the exchange (fingerprint, scope, request, provider and response) as one line."""
        entry = {
            "fingerprint": self.fingerprint(request),
            "scope": self.scope,
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
                out.flush()
            finally:
                fcntl.flock(out, fcntl.LOCK_UN)

    # replaying -------------------------------------------------------------------------------------------
    def _load(self) -> dict[tuple[str, str], deque[dict[str, Any]]]:
        if self._answers is None:
            answers: dict[tuple[str, str], deque[dict[str, Any]]] = {}
            for entry in read_exchanges(self.path):
                fingerprint = entry["fingerprint"]
                answers.setdefault((str(entry.get("scope") or ""), fingerprint), deque()).append(entry)
                answers.setdefault(("*", fingerprint), deque()).append(entry)
            self._answers = answers
        return self._answers

    def play(self, request: Request) -> tuple[str, Response]:
        """The recorded provider and response for ``request``; ``CassetteMiss`` names a request it lacks.

        Answers recorded for this scope come first, in order (the last one answers any repeat); then
        any answer recorded for the same request elsewhere.
        """
        fingerprint = self.fingerprint(request)
        with _LOCK:
            answers = self._load()
            queue = answers.get((self.scope, fingerprint)) or answers.get(("*", fingerprint))
            if not queue:
                raise CassetteMiss(self.path, request, fingerprint)
            entry = queue.popleft() if len(queue) > 1 else queue[0]
        response = Response.model_validate(entry["response"])
        return str(entry.get("provider") or ""), response
