"""The schema's migrations (alembic): ``versions/`` holds one linear chain, ``NNNN_what.py`` with revision ``NNNN``."""

#: the newest migration's revision — what a current database is stamped with. Opening a database compares the
#: stamp with this before importing alembic at all (most commands find nothing to do and start faster);
#: ``tests/contract/test_migrations.py`` keeps it equal to alembic's own head.
from __future__ import annotations

HEAD = "0018"
