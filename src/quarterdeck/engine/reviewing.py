"""The reviewer port: how an attempt hands its verified work to a reviewer, without the engine knowing crews.

The engine owns the port; ``crews/review.py``'s ``review_attempt`` implements it, and the composition root
(``app.Quarterdeck.worker``) gives it to the worker. A worker without a reviewer lands verified work as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from quarterdeck.domain.checkpoints import Checkpoint
from quarterdeck.runtimes.base import RunResult
from quarterdeck.store.database import Database
from quarterdeck.store.records import Claim, RunRecord, TaskRecord

__all__ = ["Reviewable", "Reviewer"]


class Reviewable(Protocol):
    """What a review needs of an attempt (``engine/attempt.py``'s ``_Attempt``)."""

    db: Database
    claim: Claim
    task: TaskRecord
    run: RunRecord
    repo: Path
    checkpoint: Checkpoint

    async def emit(self, type: str, /, **payload: Any) -> None: ...
    async def agent(self, workdir: Path, *, follow_up: str | None = None) -> RunResult: ...
    async def commit(self, ws: Any) -> str | None: ...
    async def save(self, checkpoint: Checkpoint) -> None: ...
    async def verify_with_revisions(self, ws: Any, commit: str | None) -> str | None: ...
    def env(self) -> dict[str, str]: ...


class Reviewer(Protocol):
    """Reviews the verified work of an attempt until accepted; returns the (possibly newer) commit.

    Checkpoints ``reviewed`` when it reviewed, and raises a non-retryable ``QuarterdeckError`` on a rejection.
    """

    async def __call__(self, attempt: Reviewable, ws: Any, commit: str | None, /) -> str | None: ...
