"""Secrets: sealed at rest, shown masked, bound to their row, re-sealed by a key rotation."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from quarterdeck.app import vault
from quarterdeck.security import sealing
from quarterdeck.security.keyring import Keyring
from quarterdeck.store import secrets as secret_store
from quarterdeck.store.tables import secrets
from tests.api.conftest import SECRET_KEY, Api

PLAINTEXT = "sk-live-0123456789abcdef-PLANTED"


async def test_a_secret_is_sealed_at_rest_and_only_ever_shown_masked(api: Api) -> None:
    admin = await api.user("acme", "admin")
    stored = await api.client.put(
        "/api/v1/secrets/OPENAI_API_KEY", headers=admin, json={"value": PLAINTEXT, "kind": "provider_key"}
    )
    assert stored.status_code == 200, stored.text
    assert stored.json()["masked"] == "sk-…NTED"
    listed = await api.client.get("/api/v1/secrets", headers=admin)
    assert [s["name"] for s in listed.json()["items"]] == ["OPENAI_API_KEY"]
    assert PLAINTEXT not in stored.text + listed.text
    async with api.services.db.read() as conn:
        rows = (await conn.execute(sa.select(secrets))).mappings().all()
    assert len(rows) == 1
    assert not any(PLAINTEXT in str(value) for value in rows[0].values())
    assert PLAINTEXT[8:20] not in rows[0]["ciphertext"]
    async with api.services.db.read() as conn:
        record = await secret_store.read_secret(conn, org_id="acme", name="OPENAI_API_KEY")
    assert vault.reveal(api.services.keys, record) == PLAINTEXT

    deleted = await api.client.delete("/api/v1/secrets/OPENAI_API_KEY", headers=admin)
    assert deleted.status_code == 204
    assert (await api.client.delete("/api/v1/secrets/OPENAI_API_KEY", headers=admin)).status_code == 404
    assert (await api.client.put("/api/v1/secrets/..bad", headers=admin, json={"value": "x"})).status_code == 400


async def test_a_sealed_value_does_not_open_in_another_row_or_organisation(api: Api) -> None:
    keys = api.services.keys
    record = await vault.set_secret(
        api.services.db, keys, org_id="default", name="GIT_TOKEN", value="t" * 20, kind="other"
    )
    moved = secret_store.SecretRecord(**{**{f: getattr(record, f) for f in record.__slots__}, "org_id": "rival"})
    with pytest.raises(sealing.SealError):
        vault.reveal(keys, moved)


async def test_rotation_reseals_every_secret_with_the_newest_key(api: Api) -> None:
    db = api.services.db
    old = Keyring([SECRET_KEY])
    await vault.set_secret(db, old, org_id="default", name="A_KEY", value=PLAINTEXT, kind="provider_key")
    await vault.set_secret(db, old, org_id="default", name="B_KEY", value=PLAINTEXT[::-1], kind="other")
    rotated = Keyring(["a-brand-new-key-" + "n" * 32, SECRET_KEY])
    assert await vault.rotate(db, rotated) == 2
    assert await vault.rotate(db, rotated) == 0  # already sealed by the newest
    newest_only = Keyring(["a-brand-new-key-" + "n" * 32])
    async with db.read() as conn:
        records = await secret_store.read_all_secrets(conn)
    assert {r.key_id for r in records} == {sealing.newest_key_id(newest_only)}
    assert sorted(vault.reveal(newest_only, r) for r in records) == sorted([PLAINTEXT, PLAINTEXT[::-1]])
    with pytest.raises(sealing.SealError):
        vault.reveal(old, records[0])
