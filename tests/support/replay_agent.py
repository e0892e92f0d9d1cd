#!/usr/bin/env python3
"""A stand-in agent CLI at the CLI's own boundary: prints recorded JSON lines, as Sculptor's fake_claude does.

``REPLAY_VERSION`` answers ``--version``; ``REPLAY_FILE`` is printed line by line to stdout;
``REPLAY_EXIT`` is the exit code. Arguments and stdin are ignored (stdin is drained).
"""

from __future__ import annotations

import os
import sys

if "--version" in sys.argv[1:]:
    print(os.environ.get("REPLAY_VERSION", "0.0.0"))
    sys.exit(0)
sys.stdin.read()
with open(os.environ["REPLAY_FILE"], encoding="utf-8") as replay:
    for line in replay:
        sys.stdout.write(line)
        sys.stdout.flush()
sys.exit(int(os.environ.get("REPLAY_EXIT", "0")))
