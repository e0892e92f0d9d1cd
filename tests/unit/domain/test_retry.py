from __future__ import annotations

import random

from quarterdeck.domain.retry import RetryPolicy


def test_gives_up_when_not_retryable_or_out_of_attempts() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.decide(1, retryable=False) is None
    assert policy.decide(3, retryable=True) is None


def test_backoff_grows_exponentially_within_jitter_and_cap() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay_s=1, max_delay_s=5)
    rng = random.Random(7)
    delays = [policy.decide(n, retryable=True, rng=rng) for n in range(1, 6)]
    bounds = [(0.5, 1), (1, 2), (2, 4), (2.5, 5), (2.5, 5)]
    for decision, (low, high) in zip(delays, bounds, strict=True):
        assert decision is not None
        assert low <= decision.delay_s <= high
