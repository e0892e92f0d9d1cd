"""Similarity search over embeddings: the few statements where SQLite and PostgreSQL differ.

Vectors are unit length (``memory/embedder.py``), so cosine distance is ``1 - a·b``. Every search is exact:
it scores each memory of one organisation (and repository) and keeps the nearest ``k``.

- **SQLite**: ``vec_distance_cosine(a, b)`` in SQL over float32 BLOBs. sqlite-vec's C function serves it
  when this interpreter's ``sqlite3`` can load extensions (``prepare_sqlite`` loads it at connect); the
  Python builds that cannot (pyenv's default build, this machine's CI among them) get a function of the
  same name and meaning registered with ``create_function``, so the SQL is one and the same.
- **PostgreSQL, without pgvector**: one query reads the repository's candidates (the index
  ``(org_id, repo)`` bounds it to one organisation's repository) as ``pk`` and ``embedding_bytes``, the
  vector as float32 little-endian bytes (migration 0017 added the column beside the ``real[]`` and backfilled
  it; a row without it is converted by the query itself, ``float4send`` per element); ``nearest`` makes them
  one numpy matrix, scores it with one matrix-vector product in this process and picks the ``k`` best with
  ``argpartition``; a second query reads those ``k`` rows. Reading the ``real[]`` instead costs the server
  ~10× more (``array_send`` calls a function per element; asyncpg decoding it makes a Python float per value).
  Before, the server computed ``sum(a*b)`` over ``unnest`` per row: 1.85 s at 5,000 lessons; now see
  bench/RESULTS.md. Without numpy (the memory extra not installed) ``search_sql``'s statement still serves.
- **PostgreSQL with pgvector** (detected once per database: ``pg_extension``): the same ``real[]`` column cast
  to ``vector`` and ordered by ``<=>``, pgvector's cosine distance computed in C. Still exact (no ANN index:
  the scan is per repository and small); an ANN index would need a ``vector(384)`` column of its own.
  This path is not exercised here (this machine's PostgreSQL has no pgvector package).
"""

from __future__ import annotations

import functools
import importlib.util
import math
import sqlite3
import struct
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["candidates_sql", "has_pgvector", "nearest", "numpy_available", "prepare_sqlite", "search_sql"]


def prepare_sqlite(connection: sqlite3.Connection) -> None:
    """Give a new SQLite connection ``vec_distance_cosine``: sqlite-vec's if it loads, else ours."""
    if hasattr(connection, "enable_load_extension") and importlib.util.find_spec("sqlite_vec") is not None:
        import sqlite_vec

        try:
            connection.enable_load_extension(True)
            sqlite_vec.load(connection)
            return
        except sqlite3.OperationalError:
            pass
        finally:
            connection.enable_load_extension(False)
    connection.create_function("vec_distance_cosine", 2, _cosine_distance, deterministic=True)


def _cosine_distance(a: bytes, b: bytes) -> float:
    """sqlite-vec's ``vec_distance_cosine`` for float32 BLOBs, in Python (numpy when installed)."""
    if len(a) != len(b) or not a:
        raise ValueError("vectors of different dimensions")
    if (np := _numpy()) is not None:
        x, y = np.frombuffer(a, dtype="<f4"), np.frombuffer(b, dtype="<f4")
        dot, norms = float(x @ y), float(np.linalg.norm(x) * np.linalg.norm(y))
    else:
        n = len(a) // 4
        x, y = struct.unpack(f"<{n}f", a), struct.unpack(f"<{n}f", b)
        dot = math.fsum(p * q for p, q in zip(x, y, strict=True))
        norms = math.sqrt(math.fsum(p * p for p in x)) * math.sqrt(math.fsum(q * q for q in y))
    return 1.0 - dot / norms if norms else 1.0


@functools.cache
def _numpy() -> Any:
    """numpy, imported at the first search (not at connect: the CLI's start-up does not pay for it)."""
    if importlib.util.find_spec("numpy") is None:
        return None
    import numpy

    return numpy


#: per database URL: whether its PostgreSQL has the pgvector extension (looked up once)
_pgvector: dict[str, bool] = {}


async def has_pgvector(conn: AsyncConnection) -> bool:
    """Whether this PostgreSQL database has pgvector installed (cached per database for the process)."""
    key = conn.engine.url.render_as_string(hide_password=True)
    if key not in _pgvector:
        found = await conn.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'vector'"))
        _pgvector[key] = found.first() is not None
    return _pgvector[key]


def search_sql(dialect: str, *, pgvector: bool, by_repo: bool) -> str:
    """The nearest-``:k`` query of one organisation's memories (and one repository's, ``by_repo``).

    Binds ``:org``, ``:repo`` (with ``by_repo``), ``:q`` (the query vector) and ``:k``; returns the
    memory's columns and its ``distance``.
    """
    if dialect == "sqlite":
        distance = "vec_distance_cosine(embedding, :q)"
    elif pgvector:
        distance = "(embedding::vector <=> CAST(:q AS real[])::vector)"
    else:
        distance = "(1 - (SELECT sum(a::float8 * b::float8) FROM unnest(embedding, CAST(:q AS real[])) AS t(a, b)))"
    where = "org_id = :org" + (" AND repo = :repo" if by_repo else "")
    return (
        f"SELECT id, org_id, repo, run_id, task_id, title, outcome, text, files, model, created_at, "
        f"{distance} AS distance FROM memories WHERE {where} ORDER BY distance, pk DESC LIMIT :k"
    )


def numpy_available() -> bool:
    """Whether this process can score candidates itself (``nearest``): numpy is installed."""
    return _numpy() is not None


def candidates_sql(*, by_repo: bool) -> str:
    """PostgreSQL: every memory of ``:org`` (and ``:repo``) as ``pk`` and its float32 little-endian ``vector``."""
    where = "org_id = :org" + (" AND repo = :repo" if by_repo else "")
    return f"SELECT pk, coalesce(embedding_bytes, {_LITTLE_ENDIAN}) AS vector FROM memories WHERE {where}"


#: a ``real[]``'s float32 little-endian bytes, in SQL (``float4send`` is big-endian): for rows stored without
#: ``embedding_bytes`` (migration 0017 backfills them with the same expression)
_LITTLE_ENDIAN = (
    "(SELECT string_agg(substr(b, 4, 1) || substr(b, 3, 1) || substr(b, 2, 1) || substr(b, 1, 1), ''::bytea "
    "ORDER BY i) FROM unnest(embedding) WITH ORDINALITY AS t(x, i), LATERAL (SELECT float4send(x) AS b) AS s)"
)


def nearest(rows: list[tuple[int, bytes]], query: bytes, k: int) -> list[tuple[int, float]]:
    """The ``k`` nearest of ``(pk, vector)`` rows to ``query`` (float32 little-endian, all unit length).

    Returns ``(pk, cosine distance)`` nearest first, ties newest (highest ``pk``) first — the order of the
    SQL statements. A row whose vector has another length than the query (another model's) is not a candidate.
    """
    np = _numpy()
    q = np.frombuffer(query, dtype="<f4").astype(np.float64)
    kept = [(pk, blob) for pk, blob in rows if len(blob) == len(query)]
    if not kept or k <= 0:
        return []
    matrix = np.frombuffer(b"".join(blob for _, blob in kept), dtype="<f4").reshape(len(kept), q.shape[0])
    distances = 1.0 - matrix.astype(np.float64) @ q
    pks = np.fromiter((pk for pk, _ in kept), dtype=np.int64, count=len(kept))
    if k < len(kept):
        # the k nearest, and every row as near as the k-th (its ties are broken by pk below, as ORDER BY does)
        kth = distances[np.argpartition(distances, k - 1)[k - 1]]
        chosen = np.flatnonzero(distances <= kth)
    else:
        chosen = np.arange(len(kept))
    order = np.lexsort((-pks[chosen], distances[chosen]))[:k]
    return [(int(pks[chosen[i]]), float(distances[chosen[i]])) for i in order]
