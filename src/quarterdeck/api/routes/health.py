"""Operations endpoints at the root: liveness, readiness (database and bus), Prometheus metrics."""

from __future__ import annotations

import logging

import redis.asyncio as redis
from fastapi import APIRouter, Response
from redis.exceptions import RedisError

from quarterdeck.api import schemas
from quarterdeck.api.metrics import CONTENT_TYPE
from quarterdeck.api.services import Svc
from quarterdeck.app import health

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])


async def _redis_answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return bool(await client.ping())
    except RedisError as exc:
        log.warning("not ready: event bus (Redis): %s", exc)
        return False
    finally:
        await client.aclose()


@router.get("/healthz")
async def healthz() -> schemas.Health:
    """The process is up."""
    return schemas.Health(status="ok")


@router.get("/readyz", responses={503: {"model": schemas.Readiness, "description": "Not ready"}})
async def readyz(svc: Svc, response: Response) -> schemas.Readiness:
    """The database answers and the event bus is reachable; 503 otherwise."""
    database = bus = True
    if (problem := await health.database_problem(svc.db)) is not None:
        log.warning("not ready: %s", problem)
        database = False
    if svc.settings.redis_url:
        bus = await _redis_answers(svc.settings.redis_url)
    ready = database and bus
    response.status_code = 200 if ready else 503
    return schemas.Readiness(status="ok" if ready else "unavailable", database=database, bus=bus)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}})
async def metrics(svc: Svc) -> Response:
    """Runs and tasks by status, queue depth, attempt durations, costs, API latency (Prometheus text format)."""
    return Response(await svc.metrics.render(svc.db), media_type=CONTENT_TYPE)
