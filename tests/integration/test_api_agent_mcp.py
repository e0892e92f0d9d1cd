"""The api-agent uses external MCP servers' tools (``[mcp.servers.<name>]``), through the official SDK."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from quarterdeck.app import Quarterdeck
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import RunStatus
from quarterdeck.errors import InputError
from quarterdeck.runtimes.mcp_tools import tool_name
from quarterdeck.workspaces.project import parse_project_config
from tests.integration.test_api_agent import api_agent, llm_settings, run_plan, tool_results
from tests.support import mcp_facts
from tests.support.gitrepo import git
from tests.support.llm_servers import AnthropicServer, Reply, Script, ToolCall

__all__ = ["api_agent", "llm_settings"]

SERVER_SOURCE = Path(mcp_facts.__file__).read_text(encoding="utf-8")

STDIO_CONFIG = """
[mcp.servers.facts]
command = "python"
args = ["tools/facts_server.py"]
env = { FACTS_LANG = "en" }
"""


def with_server(repo: Path, config: str) -> Path:
    """The repository with its own MCP server committed and a config naming it."""
    (repo / "tools").mkdir()
    (repo / "tools" / "facts_server.py").write_text(SERVER_SOURCE)
    (repo / ".quarterdeck").mkdir(exist_ok=True)
    (repo / ".quarterdeck" / "config.toml").write_text(config)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "facts server")
    return repo


def write_the_fact(body: Mapping[str, Any]) -> Reply:
    """The model writes what the lookup answered into fact.txt."""
    fact = tool_results(body)[0]["content"]
    text = fact if isinstance(fact, str) else "".join(b["text"] for b in fact)
    return Reply.tools(ToolCall("write_file", {"path": "fact.txt", "content": text}))


def plan_for(server: AnthropicServer, **options: Any) -> plans.Plan:
    model = {"provider": "anthropic", "model": "claude-haiku-4-5", "base_url": server.url}
    task = plans.TaskSpec(
        id="fact",
        title="Write the fact down",
        prompt="Look up quarterdeck with the facts server and write the answer to fact.txt.",
        runtime="api-agent",
        options={"models": [model], **options},
        verify=("test -s fact.txt",),
    )
    return plans.Plan(name="mcp", tasks=(task,))


@pytest.mark.usefixtures("api_agent")
async def test_the_agent_calls_a_stdio_mcp_servers_tool_and_uses_its_answer(app: Quarterdeck, repo: Path) -> None:
    with_server(repo, STDIO_CONFIG)
    script = Script(
        Reply.tools(ToolCall("mcp__facts__lookup", {"term": "quarterdeck"})),
        write_the_fact,
        Reply.tools(ToolCall("mcp__facts__explode", {"reason": "on purpose"})),
        Reply.text("fact.txt holds the fact."),
    )
    with AnthropicServer(script) as server:
        view = await run_plan(app, repo, plan_for(server))
    assert view.run.status == RunStatus.SUCCEEDED, view.tasks[0].error
    fact = git(repo, "show", f"{view.run.integration_branch}:fact.txt")
    assert fact == f"quarterdeck: {mcp_facts.FACT} (lang=en)"
    requests = server.model_requests()
    offered = {t["name"]: t for t in requests[0].body["tools"]}
    assert {"mcp__facts__lookup", "mcp__facts__explode", "write_file"} <= set(offered)
    assert offered["mcp__facts__lookup"]["input_schema"]["required"] == ["term"]
    failed = tool_results(requests[3].body)[0]
    assert failed["is_error"] is True
    assert "exploded: on purpose" in json.dumps(failed["content"])
    events = await app.events(view.run.id)
    tools = [e.payload for e in events if e.type == "agent.tool"]
    assert [t["tool"] for t in tools] == ["mcp__facts__lookup", "write_file", "mcp__facts__explode"]
    assert json.loads(tools[0]["input"]) == {"term": "quarterdeck"}
    # the server is a step process: started in the task's sandbox, like the agent's own commands
    confined = [e.payload for e in events if e.type == "sandbox.confined"]
    assert any(c["command"] == "python" for c in confined), confined


@pytest.fixture
def http_facts() -> Iterator[str]:
    """The facts server over streamable HTTP, on a free port: its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, mcp_facts.__file__, "http", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, "the HTTP facts server exited"
                assert time.monotonic() < deadline, "the HTTP facts server did not start"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.usefixtures("api_agent")
async def test_the_agent_calls_a_streamable_http_mcp_servers_tool(
    app: Quarterdeck, repo: Path, http_facts: str
) -> None:
    with_server(repo, f'[mcp.servers.facts]\nurl = "{http_facts}"\nheaders = {{ X-Team = "core" }}\n')
    script = Script(Reply.tools(ToolCall("mcp__facts__lookup", {"term": "deck"})), write_the_fact)
    with AnthropicServer(script) as server:
        view = await run_plan(app, repo, plan_for(server))
    assert view.run.status == RunStatus.SUCCEEDED, view.tasks[0].error
    assert git(repo, "show", f"{view.run.integration_branch}:fact.txt") == f"deck: {mcp_facts.FACT} (lang=?)"


@pytest.mark.usefixtures("api_agent")
async def test_an_mcp_server_that_cannot_start_fails_the_attempt_naming_it(app: Quarterdeck, repo: Path) -> None:
    with_server(repo, '[mcp.servers.broken]\ncommand = "python"\nargs = ["tools/missing.py"]\n')
    with AnthropicServer(Script()) as server:
        view = await run_plan(app, repo, plan_for(server, max_attempts=1))
    assert view.run.status == RunStatus.FAILED
    error = view.tasks[0].error or ""
    assert "MCP server 'broken' (python tools/missing.py)" in error, error
    assert "No such file" in error  # what the server printed to stderr before it died
    assert server.model_requests() == []


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ('[mcp.servers.x]\nargs = ["a"]\n', "mcp.servers.x"),
        ('[mcp.servers.x]\ncommand = "a"\nurl = "http://h/mcp"\n', "exactly one of `command`"),
        ('[mcp.servers.x]\nurl = "ftp://h/mcp"\n', "mcp.servers.x.url"),
        ('[mcp.servers.x]\ncommand = "a"\nport = 3\n', "mcp.servers.x.port"),
        ('[mcp.servers."a b"]\ncommand = "a"\n', "mcp.servers"),
    ],
)
def test_a_bad_mcp_server_config_is_refused_naming_the_key(config: str, named: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_project_config(config, where=".quarterdeck/config.toml")
    assert ".quarterdeck/config.toml" in str(caught.value)
    assert named in str(caught.value)


def test_tool_names_are_namespaced_and_sanitised_for_every_provider() -> None:
    assert tool_name("facts", "lookup") == "mcp__facts__lookup"
    assert tool_name("facts", "look.up/v2") == "mcp__facts__look_up_v2"
    assert len(tool_name("facts", "x" * 200)) == 64
