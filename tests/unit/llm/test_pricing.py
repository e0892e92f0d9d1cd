"""The price table: listed models, dated snapshots, unknown models, overrides."""

from __future__ import annotations

import pytest

from quarterdeck.llm import pricing
from quarterdeck.runtimes.base import TokenUsage


def test_listed_models_and_their_dated_snapshots_are_priced() -> None:
    tokens = TokenUsage(input=1_000_000, output=100_000, cache_read=1_000_000)
    assert pricing.cost_of("gpt-5", tokens) == pytest.approx(1.25 + 1.0 + 0.125)
    assert pricing.price_for("gpt-5-2025-08-07") == pricing.PRICES["gpt-5"]
    assert pricing.price_for("models/gemini-2.5-flash-preview-05-20") == pricing.PRICES["gemini-2.5-flash"]


def test_unknown_models_are_unpriced_not_free_and_a_task_may_give_a_price() -> None:
    tokens = TokenUsage(input=1000, output=1000)
    assert pricing.cost_of("gpt-9-unknown", tokens) is None
    assert pricing.cost_of(None, tokens) is None
    override = pricing.Price(input=2.0, output=8.0)
    assert pricing.cost_of("gpt-9-unknown", tokens, override) == pytest.approx(0.01)
    # cache reads and writes default to the input price
    assert override.cost(TokenUsage(cache_read=1_000_000, cache_write=1_000_000)) == pytest.approx(4.0)


def test_the_pinned_clis_current_models_are_priced_and_settings_extend_the_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for model in ("gpt-5.5", "gpt-5.6-sol", "gpt-6-astra", "gpt-6.1-sol", "claude-opus-5-5", "gemini-3-pro-preview"):
        assert pricing.price_for(model) is not None, model
    assert set(pricing.ASSUMED) <= set(pricing.PRICES)
    tokens = TokenUsage(input=1_000_000)
    monkeypatch.setenv(
        "QUARTERDECK_PRICES", '{"gpt-9-unknown": {"input": 3, "output": 4}, "gpt-5.5": {"input": 1, "output": 1}}'
    )
    assert pricing.cost_of("gpt-9-unknown", tokens) == pytest.approx(3.0)
    assert pricing.cost_of("gpt-5.5", tokens) == pytest.approx(1.0)  # a setting corrects an assumed price
    monkeypatch.setenv("QUARTERDECK_PRICES", '{"m": {"input": -1}}')
    with pytest.raises(ValueError, match="QUARTERDECK_PRICES"):
        pricing.cost_of("m", tokens)
