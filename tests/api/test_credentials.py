"""The memory of verified credentials: what it saves, and that revocation and expiry still bind."""

from __future__ import annotations

import time

from quarterdeck.api.credentials import CredentialCache
from quarterdeck.store import identity
from quarterdeck.store.types import utcnow
from tests.api.conftest import PASSWORD, Api
from tests.api.test_auth import assert_error


def _later(seconds: float):  # type: ignore[no-untyped-def]
    return lambda: time.time() + seconds


def test_the_cache_answers_until_the_deadline_and_forgets_on_demand() -> None:
    now = [1000.0]
    cache: CredentialCache[str] = CredentialCache(max_entries=3, clock=lambda: now[0])
    cache.put("qdk_a", "alice", until=1010.0)
    cache.put("qdk_b", "bob", until=1005.0)
    cache.put("qdk_old", "nobody", until=999.0)  # already past: not kept
    assert (cache.get("qdk_a"), cache.get("qdk_b"), cache.get("qdk_old"), len(cache)) == ("alice", "bob", None, 2)
    now[0] = 1005.0
    assert (cache.get("qdk_a"), cache.get("qdk_b")) == ("alice", None)
    assert cache.forget(lambda who: who == "alice") == 1
    assert cache.get("qdk_a") is None
    for i in range(5):  # never more than max_entries
        cache.put(f"qdk_{i}", str(i), until=2000.0)
        assert len(cache) <= 3
    assert cache.get("qdk_4") == "4"


async def _key(api: Api, admin: dict[str, str]) -> tuple[str, str]:
    created = await api.client.post("/api/v1/api-keys", headers=admin, json={"name": "ci", "role": "viewer"})
    assert created.status_code == 201, created.text
    return created.json()["key"], created.json()["id"]


async def test_a_key_revoked_by_another_process_stops_within_the_window(api: Api) -> None:
    window = api.services.api.api_key_cache_s
    assert window == 5.0
    key, key_id = await _key(api, await api.user("acme", "admin"))
    bearer = {"Authorization": f"Bearer {key}"}
    assert (await api.client.get("/api/v1/me", headers=bearer)).status_code == 200
    # As `quarterdeck apikey revoke` does it: in the database, without this process knowing.
    async with api.services.db.transaction() as conn:
        await identity.revoke_api_key(conn, key_id, org_id="acme", now=utcnow())
    assert (await api.client.get("/api/v1/me", headers=bearer)).status_code == 200  # still remembered here
    api.services.api_keys.clock = _later(window)
    assert_error(await api.client.get("/api/v1/me", headers=bearer), 401, "unauthorized")


async def test_revoking_or_disabling_through_this_process_stops_the_key_at_once(api: Api) -> None:
    admin = await api.user("acme", "admin")
    key, key_id = await _key(api, admin)
    bearer = {"Authorization": f"Bearer {key}"}
    assert (await api.client.get("/api/v1/me", headers=bearer)).status_code == 200
    assert (await api.client.delete(f"/api/v1/api-keys/{key_id}", headers=admin)).status_code == 200
    assert_error(await api.client.get("/api/v1/me", headers=bearer), 401, "unauthorized")

    # A key of a second admin, whose account the first one disables.
    other = await api.user("acme", "admin", email="other-admin@acme.io")
    other_key, _ = await _key(api, other)
    other_bearer = {"Authorization": f"Bearer {other_key}"}
    other_id = (await api.client.get("/api/v1/me", headers=other)).json()["id"]
    assert (await api.client.get("/api/v1/me", headers=other_bearer)).status_code == 200
    disabled = await api.client.patch(f"/api/v1/users/{other_id}", headers=admin, json={"disabled": True})
    assert disabled.status_code == 200, disabled.text
    assert_error(await api.client.get("/api/v1/me", headers=other_bearer), 401, "unauthorized")


async def test_a_remembered_key_is_not_rate_limited_but_guessing_still_is(api: Api) -> None:
    limit = api.services.api.login_rate_limit * 10
    key, _ = await _key(api, await api.user("acme", "admin"))
    bearer = {"Authorization": f"Bearer {key}"}
    statuses = {(await api.client.get("/api/v1/me", headers=bearer)).status_code for _ in range(limit + 5)}
    assert statuses == {200}
    guessed = {"Authorization": f"Bearer {key[:-2]}{'AA' if not key.endswith('AA') else 'BB'}"}
    answers = [(await api.client.get("/api/v1/me", headers=guessed)).status_code for _ in range(limit + 1)]
    assert set(answers[:-2]) == {401}
    assert_error(await api.client.get("/api/v1/me", headers=guessed), 429, "rate_limited")


async def test_an_access_token_is_remembered_only_until_it_expires(api: Api) -> None:
    await api.user("acme", "viewer")
    login = await api.client.post("/api/v1/auth/login", json={"email": "viewer-acme@example.com", "password": PASSWORD})
    token = login.json()["access_token"]
    assert (await api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    ttl = api.services.api.access_token_ttl_s
    api.services.tokens.clock = _later(ttl - 5)
    assert api.services.tokens.get(token) is not None
    api.services.tokens.clock = _later(ttl + 1)  # past the token's exp: verified again (and refused) from then on
    assert api.services.tokens.get(token) is None
