"""Which provider key a task spends through, as submit records it for ``key:<NAME>`` limits."""

from __future__ import annotations

from quarterdeck.domain import plans
from quarterdeck.engine.submit import check_runtimes
from quarterdeck.runtimes.registry import default_registry


def _task(task_id: str, runtime: str, **options: object) -> plans.TaskSpec:
    return plans.TaskSpec(id=task_id, title=task_id, runtime=runtime, options=options)


def test_each_agent_runtime_names_the_key_it_spends_through_and_steps_name_none() -> None:
    plan = plans.Plan(
        name="keys",
        tasks=(
            _task("claude", "claude-code"),
            _task("codex", "codex"),
            _task("codex-local", "codex", base_url="http://127.0.0.1:9/v1", env_key="LOCAL_KEY"),
            _task("gemini", "gemini"),
            _task("api", "api-agent", models=[{"model": "m", "api_key_env": ["TEAM_A_KEY", "TEAM_A_SPARE"]}]),
            _task("api-openai", "api-agent", models=[{"provider": "openai-chat", "model": "m"}]),
            _task("shell", "shell", argv=["true"]),
        ),
    )
    assert check_runtimes(plan, default_registry()) == {
        "claude": "ANTHROPIC_API_KEY",
        "codex": "OPENAI_API_KEY",
        "codex-local": "LOCAL_KEY",
        "gemini": "GEMINI_API_KEY",
        "api": "TEAM_A_KEY",
        "api-openai": "OPENAI_API_KEY",
        "shell": None,
    }
