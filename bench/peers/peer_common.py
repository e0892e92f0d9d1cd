"""Shared by the peer benchmarks: their command line and the JSON lines they print for ``bench/engine.py``."""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["emit", "parse_args", "skip"]


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--independent", type=int, default=1000)
    parser.add_argument("--chain", type=int, default=200)
    parser.add_argument("--fanout", type=int, default=500)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    parser.add_argument("--one", choices=("independent", "chain", "fanout"), help="run only this workload")
    return parser.parse_args()


def emit(backend: str, workload: str, n: int, wall_s: float) -> None:
    """One measured workload, as ``bench/engine.py`` reads it."""
    print(json.dumps({"backend": backend, "workload": workload, "n": n, "wall_s": wall_s}), flush=True)
    print(f"{workload}: {n} in {wall_s:.3f} s", file=sys.stderr, flush=True)


def skip(reason: str) -> None:
    """This peer cannot run here; say why."""
    print(json.dumps({"skip": reason}), flush=True)
