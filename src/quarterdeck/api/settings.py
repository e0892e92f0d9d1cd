"""The API's own settings (``QUARTERDECK_*``): signing and sealing keys, token lifetimes, limits, CORS."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from quarterdeck.security import keyring

__all__ = ["ApiSettings"]

#: where a generated key is kept when none is configured, relative to the state directory
KEY_FILE = "secret.key"


class ApiSettings(BaseSettings):
    """What ``quarterdeck serve`` and the secret commands are configured with."""

    model_config = SettingsConfigDict(env_prefix="QUARTERDECK_", extra="ignore", frozen=True)

    #: signs access tokens and seals secrets; default: generated once into ``<state_dir>/secret.key`` (0600)
    secret_key: SecretStr | None = None
    #: several keys for rotation, newest first (JSON list); the newest signs and seals, all verify and open
    secret_keys: list[SecretStr] = Field(default_factory=list)
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
    #: mark cookies ``Secure``; default: when the request came over https
    cookie_secure: bool | None = None

    def master_keys(self, state_dir: Path) -> list[str]:
        """The configured keys, newest first; with none configured, the state directory's generated key."""
        keys = [k.get_secret_value() for k in self.secret_keys]
        if not keys and self.secret_key is not None:
            keys = [self.secret_key.get_secret_value()]
        if not keys:
            keys = [keyring.load_or_create_key_file(state_dir / KEY_FILE)]
        return keys

    def keyring(self, state_dir: Path) -> keyring.Keyring:
        return keyring.Keyring(self.master_keys(state_dir))
