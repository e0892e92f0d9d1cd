"""The API's one error shape, ``{"error": {"code", "message", "details"}}``, and the handlers producing it.

QuarterdeckError
└── ApiError                 an HTTP-level refusal with its status
    ├── Unauthorized         401: no valid credentials
    ├── Forbidden            403: the role does not allow it (or a CSRF check failed)
    └── TooManyRequests      429: rate limited; ``retry_after`` seconds
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from quarterdeck.crews.manager import GoalFailed
from quarterdeck.errors import (
    Conflict,
    CycleError,
    InputError,
    MemoryUnavailable,
    NotFound,
    PlanError,
    QuarterdeckError,
    RuntimeFailure,
    StoreError,
    UnknownRuntimeError,
    UnsafeNameError,
)

__all__ = [
    "ApiError",
    "Forbidden",
    "TooManyRequests",
    "Unauthorized",
    "error_response",
    "install_handlers",
]

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(QuarterdeckError):
    """The request was refused."""

    status = 400
    code = "bad_request"
    headers: Mapping[str, str] = {}


class Unauthorized(ApiError):
    """Authentication is required: send a bearer token, an API key or the session cookie."""

    status = 401
    code = "unauthorized"
    headers: Mapping[str, str] = {"WWW-Authenticate": "Bearer"}


class Forbidden(ApiError):
    """Your role does not allow this."""

    status = 403
    code = "forbidden"


class TooManyRequests(ApiError):
    """Too many attempts; try again later."""

    status = 429
    code = "rate_limited"

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, int(retry_after + 0.999))
        self.headers = {"Retry-After": str(self.retry_after)}
        super().__init__(f"too many attempts; try again in {self.retry_after} s")


def error_response(
    status: int,
    code: str,
    message: str,
    details: Sequence[Mapping[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": [dict(d) for d in details]}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def _quarterdeck_error(exc: QuarterdeckError) -> JSONResponse:
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.code, exc.message, headers=exc.headers)
    if isinstance(exc, PlanError):
        details: list[dict[str, Any]] = [{"path": p.path, "line": p.line, "message": p.message} for p in exc.problems]
        if isinstance(exc, CycleError):
            details.append({"cycle": list(exc.cycle)})
            return error_response(422, "plan_cycle", exc.message, details)
        return error_response(422, "invalid_plan", exc.message, details)
    if isinstance(exc, UnsafeNameError):
        return error_response(400, "unsafe_name", exc.message, [{"name": exc.name, "reason": exc.reason}])
    if isinstance(exc, UnknownRuntimeError):
        return error_response(400, "unknown_runtime", exc.message, [{"available": list(exc.available)}])
    if isinstance(exc, Conflict):
        return error_response(409, "conflict", exc.message)
    if isinstance(exc, InputError):
        return error_response(400, "bad_request", exc.message)
    if isinstance(exc, NotFound):
        return error_response(404, "not_found", exc.message)
    if isinstance(exc, GoalFailed):
        return error_response(422, "goal_not_planned", exc.message, [{"problem": p} for p in exc.problems])
    if isinstance(exc, RuntimeFailure):
        return error_response(502, "upstream_failed", exc.message)
    if isinstance(exc, MemoryUnavailable):
        return error_response(503, "memory_unavailable", exc.message)
    if isinstance(exc, StoreError):
        log.error("store unavailable: %s", exc.message)
        return error_response(503, "unavailable", "the database is unavailable; try again shortly")
    return _internal(exc)


def _internal(exc: BaseException) -> JSONResponse:
    error_id = secrets.token_hex(6)
    log.error("internal error %s", error_id, exc_info=exc)
    return error_response(
        500,
        "internal_error",
        f"internal error; the server log has the details under {error_id}",
        [{"error_id": error_id}],
    )


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "message": str(error.get("msg", "")),
            "type": error.get("type"),
        }
        for error in exc.errors()
    ]


def install_handlers(app: FastAPI) -> None:
    """Every error, expected or not, leaves as the one JSON shape."""

    async def quarterdeck_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, QuarterdeckError)
        return _quarterdeck_error(exc)

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        details = _validation_details(exc)
        if any(d["type"] == "json_invalid" for d in details):
            return error_response(400, "malformed_json", "the request body is not valid JSON", details)
        return error_response(422, "invalid_request", "the request is invalid", details)

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        return _internal(exc)

    app.add_exception_handler(QuarterdeckError, quarterdeck_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
