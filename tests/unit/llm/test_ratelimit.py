"""Token-bucket arithmetic and the retry policy: pure decisions, no I/O."""

from __future__ import annotations

import pytest

from quarterdeck.llm.provider import ProviderError, retry_after
from quarterdeck.llm.ratelimit import Limits, give_back, take
from quarterdeck.llm.router import RetryPolicy

LIMITS = Limits(requests_per_minute=2, tokens_per_minute=600)


def test_a_full_bucket_gives_until_empty_then_names_the_wait() -> None:
    state, wait = take(None, LIMITS, 1000.0, 100)
    assert wait == 0
    state, wait = take(state, LIMITS, 1000.0, 100)
    assert wait == 0
    state, wait = take(state, LIMITS, 1000.0, 100)
    assert wait == pytest.approx(30.0)  # one request refills in 60/2 seconds
    state, wait = take(state, LIMITS, 1030.0, 100)
    assert wait == 0
    assert state.tokens == pytest.approx(600 - 100)  # 400 left + 300 refilled, capped at 600, minus 100


def test_tokens_limit_and_correction_after_the_call() -> None:
    state, wait = take(None, Limits(tokens_per_minute=600), 0.0, 500)
    assert wait == 0
    _, wait = take(state, Limits(tokens_per_minute=600), 0.0, 500)
    assert wait == pytest.approx(40.0)  # 400 tokens short at 10 a second
    corrected = give_back(state, Limits(tokens_per_minute=600), 0.0, 400)  # the call used 100, not 500
    _, wait = take(corrected, Limits(tokens_per_minute=600), 0.0, 500)
    assert wait == 0


def test_the_retry_policy() -> None:
    policy = RetryPolicy(max_attempts=3, backoff_base_s=1.0, backoff_max_s=10.0)
    limited = ProviderError("429", kind="rate_limit", status=429, retry_after=4.0)
    assert policy.decide(limited, 1, untried_keys=True).rotate_key
    assert policy.decide(limited, 1, untried_keys=True).delay_s == 0
    assert policy.decide(limited, 1, untried_keys=False).delay_s == 4.0
    assert policy.decide(limited, 3, untried_keys=False).action == "fallback"
    assert policy.decide(ProviderError("401", kind="auth", status=401), 1, untried_keys=True).action == "fail"
    jittered = policy.decide(ProviderError("500", kind="server", status=500), 2, untried_keys=False)
    assert 1.0 <= jittered.delay_s <= 2.0
    assert policy.decide(ProviderError("x", kind="overloaded", retry_after=99), 1, untried_keys=False).delay_s == 10.0


def test_retry_after_headers() -> None:
    assert retry_after({"retry-after": "2.5"}) == 2.5
    assert retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0
    assert retry_after({}) is None
