"""The manager's and the reviewer's model calls: a router per configured route, structured answers, costs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.crews.config import ModelConfig
from quarterdeck.llm import cassette as cassettes
from quarterdeck.llm.router import Call, RetryPolicy, Router
from quarterdeck.llm.settings import LlmSettings
from quarterdeck.llm.structured import structured
from quarterdeck.store import crews as crew_store

__all__ = ["Asker", "Spent"]

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Spent:
    """One answered call, as a cost row records it."""

    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    source: str

    @classmethod
    def of(cls, call: Call) -> Spent:
        u = call.response.usage
        return cls(
            call.provider, call.model, u.input + u.cache_read + u.cache_write, u.output, call.cost_usd, call.cost_source
        )

    async def record(self, conn: AsyncConnection, run_id: str, task_id: str | None = None) -> None:
        await crew_store.create_cost(
            conn,
            run_id,
            provider=self.provider,
            model=self.model,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cost_usd=self.cost_usd,
            source=self.source,
            task_id=task_id,
        )


class Asker:
    """Asks one configured model (route) for answers of a schema; keeps what the calls cost."""

    def __init__(
        self, config: ModelConfig, *, settings: LlmSettings | None = None, environ: Mapping[str, str] | None = None
    ) -> None:
        self.config = config
        settings = settings or LlmSettings()
        replay = config.replay or settings.replay
        record = config.record or settings.record
        workdir = Path.cwd()
        self.router = Router(
            config.models,
            environ=dict(environ if environ is not None else os.environ),
            policy=RetryPolicy(settings.max_attempts, settings.backoff_base_s, settings.backoff_max_s),
            prices=settings.prices,
            recorder=cassettes.Cassette(record, workdir=workdir) if record else None,
            playback=cassettes.Cassette(replay, workdir=workdir, mode="replay") if replay else None,
        )
        self.spent: list[Spent] = []

    async def ask(self, schema: type[T], prompt: str, *, system: str) -> T:
        """The answer as ``schema`` (repaired once by ``structured``); its calls' costs are kept in ``spent``."""
        calls: list[Call] = []
        try:
            value, calls = await structured(
                self.router,
                schema,
                prompt,
                system=f"{system}\n\n{self.config.instructions}".strip(),
                max_tokens=self.config.max_tokens,
            )
        finally:
            self.spent.extend(Spent.of(c) for c in calls)
        return value

    def take_spent(self) -> list[Spent]:
        taken, self.spent = self.spent, []
        return taken

    def describe(self) -> dict[str, Any]:
        return {"model": self.config.label}
