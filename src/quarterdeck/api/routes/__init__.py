"""The REST v1 routes, one module per noun, all under ``/api/v1``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from quarterdeck.api.schemas import ErrorResponse

__all__ = ["ERRORS", "PREFIX", "api_routers", "v1_router"]

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
        (502, "A model provider failed"),
        (503, "Database unavailable"),
    )
}


def v1_router(tag: str) -> APIRouter:
    """A router for one noun's routes, each created with the full ``/api/v1`` path.

    The prefix is the router's own (not given when including it) so that every route's template
    (``scope["route"].path``, used as the latency metric's label) is the whole path.
    """
    return APIRouter(prefix=PREFIX, responses=ERRORS, tags=[tag])


def api_routers() -> list[APIRouter]:
    """Every v1 router."""
    from quarterdeck.api.routes import (
        analytics,
        approvals,
        audit,
        auth,
        costs,
        events,
        goals,
        hooks,
        keys,
        memory,
        notifications,
        projects,
        queue,
        runs,
        runtimes,
        secrets,
        talk,
        tasks,
        users,
        workers,
    )

    modules = (
        *(auth, runs, goals, tasks, queue, costs, audit, approvals),
        *(runtimes, projects, keys, secrets, users, events, notifications, hooks, analytics, talk),
        workers,
        memory,
    )
    return [module.router for module in modules]
