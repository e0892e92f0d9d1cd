"""What the routes share, built once by the app's lifespan and reached through ``Annotated`` dependencies."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from quarterdeck.api.credentials import CredentialCache
from quarterdeck.api.frames import EventEncoder
from quarterdeck.api.metrics import Metrics
from quarterdeck.api.ratelimit import RateLimiter
from quarterdeck.api.settings import ApiSettings
from quarterdeck.app import Quarterdeck
from quarterdeck.bus import EventBus, EventFeed
from quarterdeck.security.keyring import Keyring
from quarterdeck.settings import Settings
from quarterdeck.store.database import Database

if TYPE_CHECKING:
    from quarterdeck.api.principals import Principal

__all__ = ["Services", "Standing", "Svc", "services"]


@dataclass(frozen=True, slots=True)
class Standing:
    """A user's role as last read (None: disabled or removed), which bounds every credential of theirs."""

    user_id: str
    role: str | None


@dataclass(slots=True)
class Services:
    settings: Settings
    api: ApiSettings
    quarterdeck: Quarterdeck
    keys: Keyring
    bus: EventBus
    feed: EventFeed
    limiter: RateLimiter
    metrics: Metrics
    #: set when the server begins to shut down: open event streams end, so the shutdown does not wait on them
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    #: callers proved by an access token, until the token expires
    tokens: CredentialCache[Principal] = field(default_factory=CredentialCache)
    #: callers proved by an API key, for ``api.api_key_cache_s`` (revoking through the API forgets at once)
    api_keys: CredentialCache[Principal] = field(default_factory=CredentialCache)
    #: each event's JSON and SSE frame, made once for every stream that sends it
    frames: EventEncoder = field(default_factory=EventEncoder)
    #: users' current roles, for ``api.authority_cache_s`` (a change through this process forgets at once)
    standings: CredentialCache[Standing] = field(default_factory=CredentialCache)

    @property
    def db(self) -> Database:
        return self.quarterdeck.db


async def services(connection: HTTPConnection) -> Services:
    # async: FastAPI runs a plain ``def`` dependency in a thread pool, which costs more than the lookup
    found: Services = connection.app.state.services
    return found


Svc = Annotated[Services, Depends(services)]
