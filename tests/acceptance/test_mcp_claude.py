"""The real Claude Code CLI uses Quarterdeck's MCP server: ``claude -p --mcp-config`` starts ``quarterdeck mcp``
over stdio, the project's fake Anthropic server answers with a call of a Quarterdeck tool, and the tool's result
(the run that exists) reaches the model in Claude Code's next request."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from quarterdeck.app import Quarterdeck
from quarterdeck.domain import plans
from tests.support.agents import agent_bin
from tests.support.llm_servers import AnthropicServer, Reply, Script
from tests.support.llm_servers.script import ToolCall

MODEL = "claude-sonnet-4-5"
TOOL = "mcp__quarterdeck__list_runs"


def _tool_results(body: Mapping[str, Any]) -> list[str]:
    """The text of every tool result in a Messages API request."""
    found = []
    for message in body.get("messages", []):
        content = message.get("content")
        for block in content if isinstance(content, list) else []:
            if block.get("type") == "tool_result":
                inner = block.get("content")
                parts = inner if isinstance(inner, list) else [{"type": "text", "text": str(inner)}]
                found += [p.get("text", "") for p in parts if isinstance(p, dict)]
    return found


async def test_claude_code_calls_a_quarterdeck_tool(app: Quarterdeck, repo: Path, tmp_path: Path) -> None:
    shell = plans.TaskSpec(id="t", title="T", runtime="shell", options={"argv": ["true"]})
    run = await app.submit(plans.Plan(name="visible-to-claude", tasks=(shell,)), repo=repo)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERDECK_")}
    server_env = {
        "QUARTERDECK_DATABASE_URL": app.settings.resolved_database_url(),
        "QUARTERDECK_STATE_DIR": str(app.settings.state_dir),
    }
    config = {
        "mcpServers": {
            "quarterdeck": {
                "command": sys.executable,
                "args": ["-m", "quarterdeck", "mcp", "--workers", "0"],
                "env": server_env,
            }
        }
    }
    (tmp_path / "mcp.json").write_text(json.dumps(config))
    script = Script(Reply.tools(ToolCall(TOOL, {"limit": 5}), say="Let me look at your runs."), Reply.text("One run."))
    with AnthropicServer(script) as server:
        env |= {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "test-key", "IS_SANDBOX": "1"}
        env["ENABLE_TOOL_SEARCH"] = "false"  # offer the MCP tools themselves, not a search for them
        result = await asyncio.to_thread(
            subprocess.run,
            [
                agent_bin("claude"),
                "-p",
                "Which Quarterdeck runs do I have?",
                "--mcp-config",
                str(tmp_path / "mcp.json"),
                "--strict-mcp-config",
                "--allowedTools",
                TOOL,
                "--model",
                MODEL,
                "--output-format",
                "json",
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=repo,
            timeout=180,
            check=False,
        )
        assert result.returncode == 0, (result.stdout, result.stderr)
        requests = server.model_requests()
    offered = {t.get("name") for r in requests for t in (r.body or {}).get("tools", [])}
    assert TOOL in offered, sorted(n for n in offered if n)
    results = [text for r in requests for text in _tool_results(r.body or {})]
    assert any(run.id in text and "visible-to-claude" in text for text in results), results
    assert json.loads(result.stdout)["result"] == "One run."
