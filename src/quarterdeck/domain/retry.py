"""Retry policy: a pure decision on whether and when a failed attempt is tried again."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["RetryDecision", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """Try again after ``delay_s`` seconds."""

    delay_s: float


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped, for retryable failures only."""

    max_attempts: int = 1
    base_delay_s: float = 1.0
    max_delay_s: float = 300.0

    def decide(self, attempt: int, *, retryable: bool, rng: random.Random | None = None) -> RetryDecision | None:
        """Return when to retry after failed attempt number ``attempt`` (1-based), or None to give up."""
        if not retryable or attempt >= self.max_attempts:
            return None
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return RetryDecision(delay_s=(rng or random).uniform(ceiling / 2, ceiling))
