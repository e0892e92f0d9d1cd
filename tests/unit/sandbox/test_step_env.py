"""What of the worker's environment a sandboxed step sees (``engine.containment.step_env``)."""

from __future__ import annotations

from quarterdeck.engine.containment import step_env

WORKER = {
    "PATH": "/usr/bin",
    "LC_ALL": "C.UTF-8",
    "AWS_SECRET_ACCESS_KEY": "worker-only",
    "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
    "OPENAI_API_KEY": "sk-other-provider",
    "JAVA_HOME": "/opt/java",
}


def test_a_check_keeps_only_the_basics_and_what_the_project_passes() -> None:
    env = step_env(WORKER, pass_env=("JAVA_HOME",), runtime=None)
    assert env == {"PATH": "/usr/bin", "LC_ALL": "C.UTF-8", "JAVA_HOME": "/opt/java"}


def test_claude_code_keeps_its_provider_and_is_told_it_runs_in_a_sandbox() -> None:
    env = step_env(WORKER, pass_env=(), runtime="claude-code")
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9"
    assert env["IS_SANDBOX"] == "1"  # bypassPermissions as root is accepted only inside a sandbox
    assert "OPENAI_API_KEY" not in env
    assert "AWS_SECRET_ACCESS_KEY" not in env


def test_other_agents_get_no_sandbox_marker() -> None:
    env = step_env(WORKER | {"IS_SANDBOX": "1"}, pass_env=(), runtime="codex")
    assert "IS_SANDBOX" not in env
    assert env["OPENAI_API_KEY"] == "sk-other-provider"
