"""Benchmark: how long the ``quarterdeck`` command takes to start, as a user types it.

Each case is run as a fresh process ``--runs`` times (after ``--warmup`` unmeasured runs, so the disk
cache is warm) and reported as median and min wall time, hyperfine-style, and CPU time (user + system
of the child), which a loaded machine inflates far less than wall time. The state directory is a
temporary one holding a database with one finished run, so ``status`` reads a real table.

    .venv/bin/python bench/cli_startup.py [--runs 15] [--warmup 3]

Cases: ``python -c pass`` (the interpreter's floor), ``quarterdeck --help``, ``quarterdeck status``,
``quarterdeck status RUN``, and ``every command imported`` (what ``--help`` cost when every command
module was imported up front). The goal is under 0.3 s for ``--help`` and ``status`` on an idle machine;
the load average is printed next to the figures because the machine is usually shared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
QUARTERDECK = str(BIN / "quarterdeck")
EAGER = (
    "import importlib; from quarterdeck.cli.main import COMMANDS; "
    "[importlib.import_module(ref.partition(':')[0]) for ref, _ in COMMANDS.values()]"
)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(argv: list[str], env: dict[str, str], runs: int, warmup: int) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) seconds of each measured run."""
    wall: list[float] = []
    cpu: list[float] = []
    for i in range(warmup + runs):
        start, start_cpu = time.perf_counter(), _cpu()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        if i >= warmup:
            wall.append(time.perf_counter() - start)
            cpu.append(_cpu() - start_cpu)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qd-cli-bench-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERDECK_")}
        env["QUARTERDECK_STATE_DIR"] = str(Path(tmp) / "state")
        demo = subprocess.run(
            [QUARTERDECK, "demo", "--json"], env=env, cwd=tmp, capture_output=True, text=True, check=True
        )
        run_id = json.loads(demo.stdout)["run"]["id"]
        cases = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "quarterdeck --help": [QUARTERDECK, "--help"],
            "quarterdeck status": [QUARTERDECK, "status"],
            "quarterdeck status RUN": [QUARTERDECK, "status", run_id],
            "every command imported": [sys.executable, "-c", EAGER],
        }
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"{args.runs} runs each after {args.warmup} warm-up; wall clock, and CPU (user+system) which load")
        print("on a shared machine inflates far less")
        print(f"{'case':<26}{'wall median':>12}{'wall min':>10}{'cpu median':>12}{'cpu min':>10}")
        for name, argv in cases.items():
            wall, cpu = _time(argv, env, args.runs, args.warmup)
            print(
                f"{name:<26}{statistics.median(wall):>11.3f}s{min(wall):>9.3f}s"
                f"{statistics.median(cpu):>11.3f}s{min(cpu):>9.3f}s"
            )
        print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
