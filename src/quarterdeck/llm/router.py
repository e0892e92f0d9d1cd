"""The router: an ordered list of endpoints tried with retries, key rotation and fallback; every call priced.

``RetryPolicy.decide`` is pure: given the error and how far the call has got, it says whether to try
the same model again (after how long, with which key) or to fall back to the next one. ``Router``
carries the decisions out, draws from the rate-limit buckets first, and reports each call: the model
that actually answered, why it was the one (first choice, retry, key rotation, fallback), tokens,
cost, latency and the provider's request id.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from quarterdeck.domain.sinks import EventSink
from quarterdeck.domain.usage import TokenUsage
from quarterdeck.llm import pricing
from quarterdeck.llm.endpoint import Endpoint
from quarterdeck.llm.messages import Request, Response
from quarterdeck.llm.provider import Provider, ProviderError
from quarterdeck.llm.ratelimit import Limiter, Limits, MemoryLimiter
from quarterdeck.observability import tracing

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = ["Call", "Decision", "Playback", "Recorder", "RetryPolicy", "Router", "price_of"]


@dataclass(frozen=True, slots=True)
class Decision:
    """After a failed try: ``retry`` (after ``delay_s``, maybe with the next key), ``fallback`` or ``fail``."""

    action: Literal["retry", "fallback", "fail"]
    delay_s: float = 0.0
    rotate_key: bool = False


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Tries per endpoint and the backoff between them; Retry-After from the provider wins."""

    max_attempts: int = 3
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0

    def decide(self, error: ProviderError, attempt: int, *, untried_keys: bool) -> Decision:
        """The decision after try number ``attempt`` (1-based) on one endpoint failed with ``error``."""
        if not error.retryable:
            return Decision("fail")
        if attempt >= self.max_attempts:
            return Decision("fallback")
        if error.kind == "rate_limit" and untried_keys:
            return Decision("retry", 0.0, rotate_key=True)  # the limit is the key's: another key need not wait
        if error.retry_after is not None:
            return Decision("retry", min(error.retry_after, self.backoff_max_s))
        backoff = min(self.backoff_base_s * 2 ** (attempt - 1), self.backoff_max_s)
        return Decision("retry", backoff * (0.5 + random.random() / 2))


@dataclass(frozen=True, slots=True)
class Call:
    """One answered model call and what it took."""

    response: Response
    endpoint: Endpoint
    #: the provider and model that answered (a replayed call reports the recorded ones)
    provider: str
    model: str
    #: why this endpoint answered: ``first choice``, ``retry after …``, ``key rotation after …``, ``fallback after …``
    reason: str
    attempts: int
    latency_s: float
    cost_usd: float
    #: ``price-table`` or ``unpriced`` (cost unknown, 0 recorded)
    cost_source: str

    @property
    def tokens(self) -> TokenUsage:
        u = self.response.usage
        return TokenUsage(u.input, u.output, u.cache_read, u.cache_write, u.reasoning)


class Recorder(Protocol):
    """Receives every answered call (a cassette being recorded)."""

    def record(self, request: Request, call: Call) -> None: ...


class Playback(Protocol):
    """Answers calls from a recording instead of a provider."""

    def play(self, request: Request) -> tuple[str, Response]: ...


def price_of(
    model: str, tokens: TokenUsage, endpoint: Endpoint | None, prices: Mapping[str, pricing.Price]
) -> float | None:
    """The cost of a call, from the endpoint's price, the settings' prices, then the built-in table."""
    price = (endpoint.price if endpoint else None) or pricing.price_for(model, dict(prices)) or pricing.price_for(model)
    return None if price is None else price.cost(tokens)


async def _no_events(type: str, /, **payload: Any) -> None:
    return None


class Router:
    """Sends a request to the first endpoint that answers, following ``policy``."""

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        *,
        environ: Mapping[str, str],
        policy: RetryPolicy | None = None,
        limiter: Limiter | None = None,
        prices: Mapping[str, pricing.Price] | None = None,
        events: EventSink | None = None,
        provider_for: Callable[[Endpoint], Provider] | None = None,
        recorder: Recorder | None = None,
        playback: Playback | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not endpoints:
            raise ValueError("a route needs at least one endpoint")
        from quarterdeck.llm.providers import provider_for as default_provider_for

        self.endpoints = tuple(endpoints)
        self.environ = environ
        self.policy = policy or RetryPolicy()
        self.limiter = limiter or MemoryLimiter()
        self.prices = dict(prices or {})
        self.events = events or _no_events
        self.provider_for = provider_for or default_provider_for
        self.recorder = recorder
        self.playback = playback
        self.sleep = sleep
        #: the next key to use, per endpoint: rotation carries over from call to call
        self._key_index: dict[int, int] = {}

    async def complete(self, request: Request) -> Call:
        """The first answer along the route; ``ProviderError`` when every endpoint has failed or one cannot help."""
        if self.playback is not None:
            return await self._replay(request)
        reason = "first choice"
        last: ProviderError | None = None
        for number, endpoint in enumerate(self.endpoints):
            if last is not None:
                await self.events(
                    "llm.fallback",
                    from_model=self.endpoints[number - 1].label,
                    to_model=endpoint.label,
                    error=last.message,
                )
                reason = f"fallback after {self.endpoints[number - 1].label}: {last.kind}"
            try:
                return await self._endpoint(number, endpoint, request, reason)
            except _GiveUp as stop:
                last = stop.error
                if stop.final:
                    raise stop.error from None
        assert last is not None
        tried = ", ".join(e.label for e in self.endpoints)
        raise ProviderError(
            f"every model failed ({tried}); the last error: {last.message}",
            kind=last.kind,
            status=last.status,
            request_id=last.request_id,
        )

    async def _endpoint(self, number: int, endpoint: Endpoint, request: Request, reason: str) -> Call:
        provider = self.provider_for(endpoint)
        keys = endpoint.keys(self.environ)
        limits = Limits(endpoint.requests_per_minute, endpoint.tokens_per_minute)
        sent = request.model_copy(update={"model": endpoint.model})
        estimate = _estimate_tokens(sent)
        tried_keys: set[int] = set()
        attempt = 0
        while True:
            attempt += 1
            index = self._key_index.get(number, 0) % len(keys)
            tried_keys.add(index)
            key = keys[index]
            bucket = endpoint.bucket(key)
            if limits.active:
                waited = await self.limiter.acquire(bucket, limits, estimate)
                if waited > 0:
                    await self.events("llm.throttled", model=endpoint.label, key=index, waited_s=round(waited, 3))
            started = time.monotonic()
            try:
                with tracing.span(f"chat {endpoint.model}", _gen_ai(endpoint)) as span:
                    response = await provider.complete(sent, api_key=key)
                    if span is not None:
                        self._trace_usage(span, endpoint, response)
            except ProviderError as error:
                decision = self.policy.decide(error, attempt, untried_keys=len(tried_keys) < len(keys))
                await self.events(
                    "agent.retry" if decision.action == "retry" else "llm.error",
                    model=endpoint.label,
                    key=index,
                    attempt=attempt,
                    max_retries=self.policy.max_attempts - 1,
                    status=error.status,
                    kind=error.kind,
                    error=error.message,
                    delay_ms=int(decision.delay_s * 1000),
                    action=decision.action,
                )
                if decision.action != "retry":
                    raise _GiveUp(error, final=decision.action == "fail") from None
                if decision.rotate_key:
                    self._key_index[number] = index + 1
                    reason = f"key rotation after {error.kind} ({error.status})"
                else:
                    reason = f"retry after {error.kind}" + (f" ({error.status})" if error.status else "")
                if decision.delay_s > 0:
                    await self.sleep(decision.delay_s)
                continue
            latency = time.monotonic() - started
            if limits.active:
                used = response.usage.input + response.usage.cache_read + response.usage.cache_write
                await self.limiter.settle(bucket, limits, estimate - used - response.usage.output)
            call = self._priced(endpoint, endpoint.provider, response, reason, attempt, latency)
            if self.recorder is not None:
                self.recorder.record(sent, call)
            await self._report(call, key_index=index)
            return call

    def _trace_usage(self, span: Span, endpoint: Endpoint, response: Response) -> None:
        u = response.usage
        tokens = TokenUsage(u.input, u.output, u.cache_read, u.cache_write, u.reasoning)
        tracing.set_usage(
            span,
            provider=endpoint.provider,
            model=response.model or endpoint.model,
            input_tokens=u.input + u.cache_read + u.cache_write,
            output_tokens=u.output,
            cost_usd=price_of(response.model or endpoint.model, tokens, endpoint, self.prices) or 0.0,
            response_id=response.request_id,
        )

    async def _replay(self, request: Request) -> Call:
        endpoint = self.endpoints[0]
        sent = request.model_copy(update={"model": endpoint.model})
        assert self.playback is not None
        provider, response = self.playback.play(sent)
        match = next((e for e in self.endpoints if e.provider == provider and e.model == response.model), None)
        call = self._priced(match, provider, response, "replayed", 1, 0.0)
        await self._report(call, key_index=None)
        return call

    def _priced(
        self, endpoint: Endpoint | None, provider: str, response: Response, reason: str, attempts: int, latency: float
    ) -> Call:
        u = response.usage
        tokens = TokenUsage(u.input, u.output, u.cache_read, u.cache_write, u.reasoning)
        model = response.model or (endpoint.model if endpoint else "")
        cost = price_of(model, tokens, endpoint, self.prices)
        if cost is None and endpoint is not None and model != endpoint.model:
            cost = price_of(endpoint.model, tokens, endpoint, self.prices)  # a local server may rename the model
        return Call(
            response=response,
            endpoint=endpoint or self.endpoints[0],
            provider=provider,
            model=model,
            reason=reason,
            attempts=attempts,
            latency_s=latency,
            cost_usd=cost or 0.0,
            cost_source="unpriced" if cost is None else "price-table",
        )

    async def _report(self, call: Call, *, key_index: int | None) -> None:
        u = call.response.usage
        await self.events(
            "llm.call",
            provider=call.provider,
            model=call.model,
            route_model=call.endpoint.model,
            reason=call.reason,
            attempts=call.attempts,
            key=key_index,
            latency_ms=int(call.latency_s * 1000),
            request_id=call.response.request_id,
            input_tokens=u.input,
            output_tokens=u.output,
            cache_read_tokens=u.cache_read,
            cache_write_tokens=u.cache_write,
            cost_usd=round(call.cost_usd, 8),
            cost_source=call.cost_source,
            stop_reason=call.response.stop_reason,
        )


class _GiveUp(Exception):
    def __init__(self, error: ProviderError, *, final: bool) -> None:
        super().__init__(error.message)
        self.error = error
        self.final = final


def _gen_ai(endpoint: Endpoint) -> dict[str, str] | None:
    """The GenAI semantic-convention attributes of a call's span (None when tracing is off: nothing built)."""
    if not tracing.enabled():
        return None
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": endpoint.provider,
        "gen_ai.request.model": endpoint.model,
    }


def _estimate_tokens(request: Request) -> int:
    """A rough input estimate (4 characters a token) plus the output allowance, corrected after the call."""
    return len(request.model_dump_json()) // 4 + request.max_tokens
