"""Record the cassettes of the offline crew demo (``quarterdeck demo --goal``) into ``examples/crew/``.

A real ``quarterdeck goal`` runs against local servers speaking the Anthropic wire format (the test
suite's, ``tests/support/llm_servers``): the manager plans two tasks, the workers (api-agent) write the
code, the reviewer sends the first task back once (a revision), then accepts both. Every exchange is
recorded; the demo replays them with no key and no network. Run from the repository root after changing
the example or the prompts:

    .venv/bin/python tools/record_crew_demo.py
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.llm_servers import AnthropicServer, Reply, Script, ToolCall  # noqa: E402

EXAMPLE = ROOT / "examples" / "crew"
MODEL = "claude-haiku-4-5"
GREET = "def greet(name):\n    return f'Hello, {name}!'\n"
GREET_DOCUMENTED = (
    'def greet(name: str) -> str:\n    """A friendly greeting for ``name``."""\n    return f"Hello, {name}!"\n'
)
CHECK = "python -c \"from greeter.greet import greet; assert greet('Ada') == 'Hello, Ada!'\""

PLAN = {
    "name": "greeter",
    "summary": "A greet function, then its documentation.",
    "tasks": [
        {
            "id": "greet",
            "title": "Add greet(name)",
            "prompt": "Add greeter/greet.py with greet(name) returning 'Hello, NAME!'.",
            "role": "backend",
            "depends_on": [],
            "acceptance_criteria": [
                {"text": "greet('Ada') returns 'Hello, Ada!'", "command": CHECK},
                {"text": "greet has type hints and a docstring"},
            ],
            "verify": [CHECK],
            "estimate_usd": 0.02,
        },
        {
            "id": "docs",
            "title": "Document greet in the README",
            "prompt": "Add a Usage section to README.md showing greet.",
            "role": "docs",
            "depends_on": ["greet"],
            "acceptance_criteria": [{"text": "README.md has a Usage section with an example"}],
            "verify": ["grep -q '## Usage' README.md"],
            "estimate_usd": 0.01,
        },
    ],
}


def _write(path: str, content: str) -> list[Reply]:
    return [
        Reply.tools(ToolCall("write_file", {"path": path, "content": content}), input_tokens=900, output_tokens=120),
        Reply.text(f"Wrote {path}.", input_tokens=1100, output_tokens=20),
    ]


WORK: dict[str, list[Reply]] = {
    "Add greet(name)": [*_write("greeter/greet.py", GREET), *_write("greeter/greet.py", GREET_DOCUMENTED)],
    "Document greet in the README": [
        *_write(
            "README.md",
            "# greeter\n\nA tiny library that greets people.\n\n## Usage\n\n"
            "```python\nfrom greeter.greet import greet\n\ngreet('Ada')  # 'Hello, Ada!'\n```\n",
        )
    ],
}


def _verdict(verdict: str, *criteria: tuple[str, str, str], feedback: str = "") -> Reply:
    judged = [{"criterion": c, "status": s, "evidence": e} for c, s, e in criteria]
    summary = {"accept": "Looks good.", "revise": "Almost: see the feedback."}[verdict]
    text = json.dumps({"criteria": judged, "verdict": verdict, "summary": summary, "feedback": feedback})
    return Reply.text(text, input_tokens=1500, output_tokens=80)


REVIEWS: dict[str, list[Reply]] = {
    "greet": [
        _verdict(
            "revise",
            ("2", "not_met", "greet has neither type hints nor a docstring"),
            feedback="Add type hints and a docstring to greet.",
        ),
        _verdict("accept", ("2", "met", "def greet(name: str) -> str with a docstring")),
    ],
    "docs": [_verdict("accept", ("1", "met", "README.md: ## Usage with greet('Ada')"))],
}


class Dispatch:
    """Answers each request from the list of the task it is about, in order."""

    def __init__(self, answers: Mapping[str, list[Reply]], key: Callable[[Mapping[str, Any]], str]) -> None:
        self.answers = {k: list(v) for k, v in answers.items()}
        self.key = key
        self.lock = threading.Lock()

    def __call__(self, body: Mapping[str, Any]) -> Reply:
        with self.lock:
            return self.answers[self.key(body)].pop(0)


def _worker_key(body: Mapping[str, Any]) -> str:
    match = re.search(r"# Task: (.+)", body["system"])
    assert match is not None, body["system"][:200]
    return match.group(1).strip()


def _reviewer_key(body: Mapping[str, Any]) -> str:
    match = re.match(r"Task ([\w-]+):", body["messages"][0]["content"][0]["text"])
    assert match is not None
    return match.group(1)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="qd-crew-record-") as tmp_dir:
        tmp = Path(tmp_dir)
        repo = tmp / "repo"
        shutil.copytree(EXAMPLE / "project", repo)
        identity = ["-c", "user.name=Quarterdeck Demo", "-c", "user.email=demo@quarterdeck.invalid"]
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
        subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
        subprocess.run(["git", *identity, "commit", "-qm", "greeter: initial project"], cwd=repo, check=True)
        cassettes = tmp / "cassettes"
        cassettes.mkdir()
        with (
            AnthropicServer(Script(Reply.text(json.dumps(PLAN), input_tokens=2000, output_tokens=400))) as boss,
            AnthropicServer(Script(then=Dispatch(WORK, _worker_key))) as work,
            AnthropicServer(Script(then=Dispatch(REVIEWS, _reviewer_key))) as review,
        ):
            toml = (EXAMPLE / "crew.toml").read_text()
            route = '[{{provider = "anthropic", model = "{m}", base_url = "{u}"}}]'
            toml = toml.replace("replay =", "record =").replace("{replay =", "{record =")
            for name, server in (("manager", boss), ("reviewer", review)):
                toml = toml.replace(
                    f'[crew.{name}]\nmodels = [{{provider = "anthropic", model = "{MODEL}"}}]',
                    f"[crew.{name}]\nmodels = {route.format(m=MODEL, u=server.url)}",
                )
            toml = toml.replace(
                f'runtime = "api-agent"\nmodels = [{{provider = "anthropic", model = "{MODEL}"}}]',
                f'runtime = "api-agent"\nmodels = {route.format(m=MODEL, u=work.url)}',
            )
            (repo / ".quarterdeck").mkdir()
            (repo / ".quarterdeck" / "crew.toml").write_text(toml.replace("{cassettes}", str(cassettes)))
            env = {k: v for k, v in os.environ.items() if not k.startswith(("QUARTERDECK_", "ANTHROPIC_"))}
            env |= {"QUARTERDECK_STATE_DIR": str(tmp / "state"), "ANTHROPIC_API_KEY": "recording-key"}
            goal = (EXAMPLE / "goal.txt").read_text().strip()
            done = subprocess.run(
                [str(Path(sys.executable).parent / "quarterdeck"), "goal", goal, "--repo", str(repo), "--yes"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            print(done.stdout)
            if done.returncode != 0:
                sys.exit(f"the recording run failed:\n{done.stderr}")
        for name in ("manager", "reviewer", "workers"):
            shutil.copy(cassettes / f"{name}.jsonl", EXAMPLE / f"{name}.jsonl")
            print(f"recorded {EXAMPLE / name}.jsonl")


if __name__ == "__main__":
    main()
