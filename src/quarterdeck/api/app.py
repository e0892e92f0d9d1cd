"""The app factory: ``create_app(settings)`` builds the API, the dashboard and the edge middleware.

The lifespan opens the facade (migrating the database), the event bus and its feed; everything the
routes share is on ``app.state.services``. Nothing connects at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from quarterdeck import bus
from quarterdeck.api import errors, mcp_endpoint, middleware, request_context
from quarterdeck.api.metrics import Metrics
from quarterdeck.api.ratelimit import open_rate_limiter
from quarterdeck.api.routes import api_routers, health
from quarterdeck.api.services import Services
from quarterdeck.api.settings import ApiSettings
from quarterdeck.app import Quarterdeck
from quarterdeck.bus.relay import RelayServer
from quarterdeck.runtimes.registry import Registry
from quarterdeck.settings import Settings

__all__ = ["create_app"]


def create_app(
    settings: Settings,
    *,
    api_settings: ApiSettings | None = None,
    registry: Registry | None = None,
    worker_slots: int = 0,
    event_relay: Path | None = None,
) -> FastAPI:
    """The whole HTTP application for ``settings`` (``api_settings``: default from the environment).

    With ``worker_slots``, the app also runs an engine worker with that many slots for its lifetime
    (``app.state.worker``), so one process serves the API and executes the runs created through it;
    shutting down drains it (running attempts finish, or are released when ``force_exit`` is set).
    With ``event_relay`` (a socket path; ``serve`` without Redis), the events that the worker processes it
    started push there reach the live feed at once (``bus/relay.py``).
    """
    api = api_settings or ApiSettings()
    keys = api.keyring(settings.state_dir)  # read (or generated) now: a bad key fails at start, not per request
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            quarterdeck = await stack.enter_async_context(Quarterdeck(settings, registry=registry))
            event_bus = quarterdeck.bus  # publishing across processes already (Redis)
            if event_bus is None:
                event_bus = bus.open_bus(settings)
                stack.push_async_callback(event_bus.close)
            limiter = open_rate_limiter(settings.redis_url)
            stack.push_async_callback(limiter.close)
            feed = bus.EventFeed(quarterdeck.db, event_bus, poll_s=settings.event_poll_s)
            stack.push_async_callback(feed.close)  # runs before the bus closes
            if event_relay is not None and quarterdeck.bus is None:
                relay = RelayServer(event_bus, event_relay)
                await relay.start()
                stack.push_async_callback(relay.close)
            await stack.enter_async_context(run_mcp())  # the MCP server's sessions at /mcp
            app.state.services = Services(
                settings=settings,
                api=api,
                quarterdeck=quarterdeck,
                keys=keys,
                bus=event_bus,
                feed=feed,
                limiter=limiter,
                metrics=metrics,
            )
            # pull requests on GitHub / GitLab follow the runs of projects that have a [forge] table
            follower = quarterdeck.forge_follower(keys=api)
            assert follower is not None  # (None only for a repository without a [forge])
            following = asyncio.create_task(follower.serve(), name="quarterdeck-forges")

            async def stop_following() -> None:
                follower.should_exit = True
                follower.wake()
                await following

            stack.push_async_callback(stop_following)
            app.state.follower = follower
            app.state.worker = None
            if worker_slots:
                worker = quarterdeck.worker(slots=worker_slots, keys=api)  # the keys the API seals with
                serving = asyncio.create_task(worker.serve(), name="quarterdeck-worker")

                async def drain() -> None:
                    worker.should_exit = True
                    worker.wake()
                    await serving

                stack.push_async_callback(drain)  # pushed last: drains first, while the database is open
                app.state.worker = worker
            yield

    app = FastAPI(
        title="Quarterdeck",
        summary="A control plane for crews of AI coding agents: plan, queue, run, review, merge.",
        version="1",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    errors.install_handlers(app)
    app.include_router(health.router)
    for router in api_routers():
        app.include_router(router)

    from quarterdeck.api import pages
    from quarterdeck.web import STATIC_DIR

    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # the MCP server (streamable HTTP), authenticated as the API is: docs/mcp.md
    run_mcp = mcp_endpoint.install(app)

    # Outermost first at request time: size limit, then headers, CORS, and latency around the routes.
    app.add_middleware(middleware.RequestMetrics, metrics=metrics)
    if api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=api.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-CSRF-Token", "Last-Event-ID"],
        )
    app.add_middleware(middleware.InputPolicy)
    app.add_middleware(middleware.SecurityHeaders)
    app.add_middleware(middleware.BodyLimit, limit=api.max_body_bytes)
    app.add_middleware(request_context.RequestContext)  # outermost: every line and span of a request has its id
    return app
