"""The API's own settings (``QUARTERDECK_*``): signing and sealing keys, token lifetimes, limits, CORS."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from quarterdeck.security.keyring import KeySettings

__all__ = ["ApiSettings"]


class ApiSettings(KeySettings):
    """What ``quarterdeck serve`` and the secret commands are configured with."""

    model_config = SettingsConfigDict(env_prefix="QUARTERDECK_", extra="ignore", frozen=True)

    #: lifetime of an access token
    access_token_ttl_s: int = Field(default=15 * 60, gt=0)
    #: lifetime of a refresh token (each use exchanges it for a new one)
    refresh_token_ttl_s: int = Field(default=14 * 24 * 3600, gt=0)
    #: origins allowed to call the API from a browser (JSON list); none by default
    cors_origins: list[str] = Field(default_factory=list)
    #: the largest request body accepted (bigger ones get 413)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    #: login attempts per IP address and e-mail, and API-key attempts per IP address, within the window
    login_rate_limit: int = Field(default=10, gt=0)
    #: the rate-limit window
    rate_limit_window_s: float = Field(default=60.0, gt=0)
    #: how long a verified API key is remembered by an API process: a key revoked by another process
    #: (``quarterdeck apikey revoke``, another API process) still works here for at most this long;
    #: one revoked through this process's API stops at once. 0 looks the key up on every request.
    api_key_cache_s: float = Field(default=5.0, ge=0)
    #: how long an API process trusts a user's role and enabled state as last read: every key, access
    #: token and session of a user demoted or disabled by another process is bound by the change
    #: within this time (through this process's API: at once). 0 reads it on every request.
    authority_cache_s: float = Field(default=1.0, ge=0, le=1.0)
    #: roots under which a run may name a raw repository path that is no project of its organisation
    #: (JSON list); none by default: runs and goals target their organisation's projects only
    repo_roots: list[Path] = Field(default_factory=list)
    #: mark cookies ``Secure``; default: when the request came over https
    cookie_secure: bool | None = None
