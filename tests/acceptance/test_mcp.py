"""``quarterdeck mcp`` over stdio, driven by the official ``mcp`` client as a user's agent starts it: plan, run,
watch (with progress), log, diff, and the errors of a missing plan and an unknown run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.support.mcp_session import data, drive, plan_file


async def test_quarterdeck_mcp_over_stdio(database_url: str, tmp_path: Path, repo: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERDECK_")}
    env |= {
        "QUARTERDECK_DATABASE_URL": database_url,
        "QUARTERDECK_STATE_DIR": str(tmp_path / "state"),
        "QUARTERDECK_POLL_MAX_S": "0.05",
    }
    params = StdioServerParameters(command=sys.executable, args=["-m", "quarterdeck", "mcp", "--workers", "1"], env=env)
    plan_path = plan_file(tmp_path)
    with (tmp_path / "mcp-stderr.log").open("w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            run_id = await drive(session, plan_path, repo)
            approvals = data(await session.call_tool("list_approvals", {"run_id": run_id}))
            assert approvals == {"approvals": []}
