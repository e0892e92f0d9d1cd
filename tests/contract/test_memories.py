"""Memories on SQLite and the real PostgreSQL: retrieval quality with the real model, and organisations apart."""

from __future__ import annotations

import functools

import pytest
import sqlalchemy as sa

from quarterdeck.errors import NotFound
from quarterdeck.memory import embedder
from quarterdeck.store import memories, orgs, vectors
from quarterdeck.store.database import Database
from quarterdeck.store.types import Vector, utcnow
from tests.support.memory_pairs import LESSONS, QUERIES

REPO = "/srv/repos/app"


@functools.cache
def _vectors() -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """The labelled set's embeddings, computed once for every backend."""
    model = embedder.load()
    return tuple(model.embed(t).tobytes() for t in LESSONS), tuple(model.embed(t).tobytes() for t in QUERIES)


def _new(i: int, *, org: str = "default", repo: str = REPO) -> memories.NewMemory:
    return memories.NewMemory(
        org_id=org,
        repo=repo,
        run_id="r1",
        task_id=f"t{i}",
        title=LESSONS[i].split(".")[0],
        outcome="succeeded",
        text=LESSONS[i],
        files=("src/a.py",),
        model=embedder.MODEL_NAME,
        embedding=_vectors()[0][i],
    )


async def _store_all(db: Database, **where: str) -> None:
    async with db.transaction() as conn:
        for i in range(len(LESSONS)):
            await memories.create_memory(conn, _new(i, **where), now=utcnow())


async def test_recall_at_3_on_the_labelled_set_is_at_least_0_8(db: Database) -> None:
    await _store_all(db)
    found = 0
    async with db.read() as conn:
        for i, query in enumerate(_vectors()[1]):
            nearest = await memories.search_memories(conn, query, org_id="default", repo=REPO, k=3)
            found += f"t{i}" in [hit.memory.task_id for hit in nearest]
            assert [hit.similarity for hit in nearest] == sorted((hit.similarity for hit in nearest), reverse=True)
    recall = found / len(QUERIES)
    print(f"recall@3 on {db.dialect}: {recall:.3f}")
    assert recall >= 0.8


async def test_the_search_scores_the_stored_vector_exactly(db: Database) -> None:
    await _store_all(db)
    async with db.read() as conn:
        [hit] = await memories.search_memories(conn, _vectors()[0][7], org_id="default", repo=REPO, k=1)
    assert hit.memory.task_id == "t7"
    assert hit.similarity == pytest.approx(1.0, abs=1e-5)


async def test_organisations_never_see_each_others_memories(db: Database) -> None:
    async with db.transaction() as conn:
        await orgs.ensure_org(conn, "acme")
    await _store_all(db, org="acme")
    async with db.transaction() as conn:
        mine = await memories.create_memory(conn, _new(0), now=utcnow())
    async with db.read() as conn:
        hits = await memories.search_memories(conn, _vectors()[1][3], org_id="default", repo=REPO, k=10)
        assert [h.memory.id for h in hits] == [mine.id]
        assert await memories.search_memories(conn, _vectors()[1][3], org_id="default", k=10) == hits
        theirs = (await memories.read_memories(conn, org_id="acme", limit=1))[0]
        with pytest.raises(NotFound):
            await memories.read_memory(conn, theirs.id, org_id="default")
        assert await memories.count_memories(conn, org_id="acme") == len(LESSONS)
    async with db.transaction() as conn:
        assert await memories.delete_memories(conn, org_id="default", memory_id=theirs.id) == 0
        assert await memories.delete_memories(conn, org_id="default", repo=REPO) == 1
    async with db.read() as conn:
        assert await memories.count_memories(conn, org_id="acme") == len(LESSONS)
        assert await memories.count_memories(conn, org_id="default") == 0


async def test_a_search_keeps_to_its_repository(db: Database) -> None:
    await _store_all(db, repo="/srv/repos/other")
    async with db.transaction() as conn:
        here = await memories.create_memory(conn, _new(5), now=utcnow())
    async with db.read() as conn:
        hits = await memories.search_memories(conn, _vectors()[1][0], org_id="default", repo=REPO, k=3)
    assert [h.memory.id for h in hits] == [here.id]


async def test_forgetting_needs_a_target(db: Database) -> None:
    async with db.transaction() as conn:
        with pytest.raises(ValueError, match="name a memory"):
            await memories.delete_memories(conn, org_id="default")


async def test_the_ranking_is_the_servers_statement_s_ties_newest_first(db: Database) -> None:
    """PostgreSQL scores in this process (numpy over ``array_send``): the same order and scores as the SQL."""
    await _store_all(db)
    async with db.transaction() as conn:
        twin = await memories.create_memory(conn, _new(4), now=utcnow())  # the same vector as t4, newer
    query = _vectors()[0][4]
    async with db.read() as conn:
        hits = await memories.search_memories(conn, query, org_id="default", repo=REPO, k=8)
        statement = sa.text(vectors.search_sql(db.dialect, pgvector=False, by_repo=True)).bindparams(
            sa.bindparam("q", type_=Vector())
        )
        rows = (await conn.execute(statement, {"org": "default", "repo": REPO, "q": query, "k": 8})).all()
    assert [h.memory.id for h in hits] == [row.id for row in rows]
    assert [h.similarity for h in hits] == pytest.approx([1.0 - row.distance for row in rows], abs=1e-5)
    assert hits[0].memory.id == twin.id
    assert hits[1].memory.task_id == "t4"


async def test_rows_without_embedding_bytes_are_read_from_the_real_array(db: Database) -> None:
    """PostgreSQL rows stored before migration 0017's column (or with it emptied) are found the same."""
    await _store_all(db)
    query = _vectors()[1][2]
    async with db.read() as conn:
        before = await memories.search_memories(conn, query, org_id="default", repo=REPO, k=5)
    async with db.transaction() as conn:
        await conn.execute(sa.text("UPDATE memories SET embedding_bytes = NULL"))
    async with db.read() as conn:
        after = await memories.search_memories(conn, query, org_id="default", repo=REPO, k=5)
    assert [h.memory.id for h in after] == [h.memory.id for h in before]
    assert [h.similarity for h in after] == pytest.approx([h.similarity for h in before], abs=1e-6)
