"""The provider port: one model call in the neutral format, and SDK errors translated once into ``ProviderError``."""

from __future__ import annotations

import contextlib
import email.utils
import time
from collections.abc import Iterator
from typing import Any, Literal, Protocol

from quarterdeck.errors import RuntimeFailure
from quarterdeck.llm.messages import Request, Response

__all__ = ["ErrorKind", "Provider", "ProviderError", "map_sdk_errors", "retry_after"]

#: why a call failed: the first five are worth retrying, the rest are not
ErrorKind = Literal["rate_limit", "overloaded", "server", "timeout", "unreachable", "auth", "invalid", "other"]
_TRANSIENT: frozenset[str] = frozenset({"rate_limit", "overloaded", "server", "timeout", "unreachable"})


class ProviderError(RuntimeFailure):
    """A model call failed; ``kind`` says whether trying again (or elsewhere) may help."""

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind,
        status: int | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, retryable=kind in _TRANSIENT)
        self.kind: ErrorKind = kind
        self.status = status
        self.retry_after = retry_after
        self.request_id = request_id


class Provider(Protocol):
    """A model API: ``complete`` sends one request with one API key and returns the whole answer."""

    name: str

    async def complete(self, request: Request, *, api_key: str | None) -> Response: ...


def retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date), if given."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        with contextlib.suppress(ValueError):
            return max(0.0, float(raw_ms) / 1000)
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(raw) if raw else None
        return None if parsed is None else max(0.0, parsed.timestamp() - time.time())


def _kind(status: int, body_type: str) -> ErrorKind:
    if status == 429:
        return "rate_limit"
    if status == 529 or "overloaded" in body_type:
        return "overloaded"
    if status in (401, 403):
        return "auth"
    if status == 408:
        return "timeout"
    if status >= 500:
        return "server"
    if 400 <= status < 500:
        return "invalid"
    return "other"


def _message(body: Any, fallback: str) -> tuple[str, str]:
    """The provider's own error message and type from an error body (Anthropic and OpenAI shapes)."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or fallback), str(error.get("type") or "")
    return fallback, ""


@contextlib.contextmanager
def map_sdk_errors(provider: str, sdk: Any) -> Iterator[None]:
    """Translate the exceptions of an official SDK (``anthropic`` or ``openai``) into ``ProviderError``."""
    try:
        yield
    except sdk.APIStatusError as exc:
        message, body_type = _message(exc.body, exc.message)
        status = int(exc.status_code)
        raise ProviderError(
            f"{provider} answered {status}: {message}",
            kind=_kind(status, body_type),
            status=status,
            retry_after=retry_after(exc.response.headers),
            request_id=exc.request_id,
        ) from exc
    except sdk.APITimeoutError as exc:
        raise ProviderError(f"{provider} timed out: {exc}", kind="timeout") from exc
    except sdk.APIConnectionError as exc:
        cause = exc.__cause__ or exc
        raise ProviderError(f"{provider} is unreachable: {cause}", kind="unreachable") from exc
    except sdk.APIError as exc:  # e.g. an error event inside a stream
        message, body_type = _message(getattr(exc, "body", None), str(exc))
        kind: ErrorKind = "overloaded" if "overloaded" in body_type else "server"
        raise ProviderError(f"{provider} failed mid-stream: {message}", kind=kind) from exc
