"""``python -m quarterdeck``."""

from __future__ import annotations

from quarterdeck.cli.main import main

main()
