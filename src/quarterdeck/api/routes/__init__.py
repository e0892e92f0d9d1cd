"""The REST v1 routes, one module per noun, all under ``/api/v1``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from quarterdeck.api.schemas import ErrorResponse

__all__ = ["ERRORS", "PREFIX", "api_router"]

PREFIX = "/api/v1"

#: every route may answer with these, always in the one error shape
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in (
        (400, "Bad request"),
        (401, "Not authenticated"),
        (403, "Not allowed"),
        (404, "Not found"),
        (409, "Conflict"),
        (413, "Body too large"),
        (422, "Invalid request"),
        (429, "Rate limited"),
        (500, "Internal error"),
        (503, "Database unavailable"),
    )
}


def api_router() -> APIRouter:
    """Every v1 route."""
    from quarterdeck.api.routes import (
        approvals,
        audit,
        auth,
        costs,
        events,
        keys,
        projects,
        queue,
        runs,
        runtimes,
        secrets,
        tasks,
        users,
    )

    router = APIRouter(prefix=PREFIX, responses=ERRORS)
    for module in (auth, runs, tasks, queue, costs, audit, approvals, runtimes, projects, keys, secrets, users, events):
        router.include_router(module.router)
    return router
