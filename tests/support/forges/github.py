"""A local GitHub REST (+ the one GraphQL mutation used) server in a thread, speaking GitHub's JSON shapes.

It keeps pull requests, issue comments, commit statuses and check runs in memory, resolves a pull
request's head from a real bare repository (the push remote), refuses a head that was never pushed
(422, as GitHub does) and checks the bearer token. Tests read ``pulls``, ``comments``; they set
statuses with ``set_status``.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["FakeGitHub"]


class FakeGitHub:
    def __init__(self, *, token: str, remote: Path, repository: str = "acme/shop") -> None:
        self.token = token
        self.remote = remote
        self.repository = repository
        self.pulls: dict[int, dict[str, Any]] = {}
        self.comments: list[dict[str, Any]] = []
        self.statuses: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[tuple[str, str]] = []
        self._next = 1
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else {}
                url = urlsplit(self.path)
                fake.requests.append((method, url.path))
                if (
                    self.headers.get("Authorization") != f"token {fake.token}"
                    and self.headers.get("Authorization") != f"Bearer {fake.token}"
                ):
                    self._answer(401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com"})
                    return
                with fake._lock:
                    status, answer = fake.route(method, url.path, parse_qs(url.query), body)
                self._answer(status, answer)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PATCH(self) -> None:
                self._handle("PATCH")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return self.url + "/api/v3"

    def __enter__(self) -> FakeGitHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def set_status(self, sha: str, state: str, context: str = "ci") -> None:
        with self._lock:
            self.statuses.setdefault(sha, []).append({"state": state, "context": context, "id": len(self.statuses)})

    def head_sha(self, branch: str) -> str | None:
        shown = subprocess.run(
            ["git", "--git-dir", str(self.remote), "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
            capture_output=True,
            text=True,
            check=False,
        )
        return shown.stdout.strip() or None

    # --- routes ---------------------------------------------------------------------------------------

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        prefix = f"/api/v3/repos/{self.repository}"
        if method == "POST" and path == "/api/graphql":
            return self._graphql(body)
        if not path.startswith(prefix):
            return 404, {"message": "Not Found"}
        rest = path[len(prefix) :]
        if rest == "/pulls" and method == "GET":
            head = query.get("head", [""])[0].split(":", 1)[-1]
            state = query.get("state", ["open"])[0]
            found = [
                self._pull(p)
                for p in self.pulls.values()
                if p["head"] == head and (state == "all" or p["state"] == state)
            ]
            return 200, found
        if rest == "/pulls" and method == "POST":
            sha = self.head_sha(body["head"])
            if sha is None:
                return 422, {
                    "message": "Validation Failed",
                    "errors": [{"resource": "PullRequest", "field": "head", "code": "invalid"}],
                }
            if any(p["head"] == body["head"] and p["state"] == "open" for p in self.pulls.values()):
                return 422, {
                    "message": "Validation Failed",
                    "errors": [{"message": f"A pull request already exists for {body['head']}."}],
                }
            number = self._next
            self._next += 1
            self.pulls[number] = {
                "number": number, "head": body["head"], "base": body["base"], "title": body["title"],
                "body": body.get("body") or "", "draft": bool(body.get("draft")), "state": "open",
            }  # fmt: skip
            return 201, self._pull(self.pulls[number])
        if match := re.fullmatch(r"/pulls/(\d+)", rest):
            pull = self.pulls.get(int(match.group(1)))
            if pull is None:
                return 404, {"message": "Not Found"}
            if method == "PATCH":
                pull.update({k: v for k, v in body.items() if k in ("title", "body", "state", "base")})
            return 200, self._pull(pull)
        if match := re.fullmatch(r"/issues/(\d+)/comments", rest):
            comment = {"id": len(self.comments) + 1, "issue": int(match.group(1)), "body": body["body"]}
            self.comments.append(comment)
            return 201, {"id": comment["id"], "body": comment["body"], "html_url": f"{self.url}/c/{comment['id']}"}
        if match := re.fullmatch(r"/commits/([0-9a-f]{40})/status", rest):
            statuses = self.statuses.get(match.group(1), [])
            states = [s["state"] for s in statuses]
            combined = "failure" if any(s in ("failure", "error") for s in states) else (
                "pending" if not states or "pending" in states else "success")  # fmt: skip
            return 200, {"state": combined, "sha": match.group(1), "total_count": len(statuses), "statuses": statuses}
        if match := re.fullmatch(r"/commits/([0-9a-f]{40})/check-runs", rest):
            return 200, {"total_count": 0, "check_runs": []}
        return 404, {"message": "Not Found"}

    def _pull(self, pull: dict[str, Any]) -> dict[str, Any]:
        number = pull["number"]
        return {
            "id": 1000 + number,
            "node_id": f"PR_node{number}",
            "number": number,
            "state": pull["state"],
            "title": pull["title"],
            "body": pull["body"],
            "draft": pull["draft"],
            "html_url": f"{self.url}/{self.repository}/pull/{number}",
            "url": f"{self.api_url}/repos/{self.repository}/pulls/{number}",
            "head": {"ref": pull["head"], "sha": self.head_sha(pull["head"]) or "", "label": f"acme:{pull['head']}"},
            "base": {"ref": pull["base"], "sha": self.head_sha(pull["base"]) or "", "label": f"acme:{pull['base']}"},
        }

    def _graphql(self, body: dict[str, Any]) -> tuple[int, Any]:
        query = str(body.get("query", ""))
        if "markPullRequestReadyForReview" not in query:
            return 200, {"errors": [{"message": "unsupported by the fake"}]}
        node = str((body.get("variables") or {}).get("input", {}).get("pullRequestId", ""))
        pull = next((p for p in self.pulls.values() if f"PR_node{p['number']}" == node), None)
        if pull is None:
            return 200, {
                "errors": [
                    {"type": "NOT_FOUND", "message": f"Could not resolve to a node with the global id of '{node}'"}
                ]
            }
        pull["draft"] = False
        return 200, {
            "data": {"markPullRequestReadyForReview": {"clientMutationId": None, "pullRequest": {"isDraft": False}}}
        }
