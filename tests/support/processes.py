"""Waiting on real processes the tests do not control: poll a condition under a deadline, never sleep blindly."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any

__all__ = ["wait_for"]


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[Any] | None = None, timeout: float = 60) -> None:
    """Poll ``condition`` until it holds; fail with the process's output if it dies or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"process exited {proc.returncode} early:\n{out}\n{err}")
        if time.monotonic() > deadline:
            output = ""
            if proc is not None:
                proc.kill()
                out, err = proc.communicate()
                output = f":\n{out}\n{err}"
            raise AssertionError(f"timed out{output}")
        time.sleep(0.02)
