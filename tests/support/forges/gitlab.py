"""A local GitLab REST v4 server in a thread, speaking GitLab's JSON shapes for what Quarterdeck uses.

Merge requests (a draft while the title starts with ``Draft:``), issue notes and commit statuses, in
memory; a merge request's source branch must exist in the real bare repository (the push remote),
as on GitLab; ``PRIVATE-TOKEN`` is checked.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

__all__ = ["FakeGitLab"]


class FakeGitLab:
    def __init__(self, *, token: str, remote: Path, project: str = "acme/shop") -> None:
        self.token = token
        self.remote = remote
        self.project = project
        self.merge_requests: dict[int, dict[str, Any]] = {}
        self.notes: list[dict[str, Any]] = []
        self.statuses: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else {}
                url = urlsplit(self.path)
                fake.requests.append((method, url.path))
                if self.headers.get("PRIVATE-TOKEN") != fake.token:
                    self._answer(401, {"message": "401 Unauthorized"})
                    return
                with fake._lock:
                    status, answer = fake.route(method, url.path, parse_qs(url.query), body)
                self._answer(status, answer)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PUT(self) -> None:
                self._handle("PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeGitLab:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def set_status(self, sha: str, status: str, name: str = "test") -> None:
        with self._lock:
            self.statuses[sha] = [{"id": 1, "sha": sha, "status": status, "name": name, "ref": None}]

    def _exists(self, branch: str) -> bool:
        shown = subprocess.run(
            ["git", "--git-dir", str(self.remote), "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
            capture_output=True,
            text=True,
            check=False,
        )
        return shown.returncode == 0

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        prefix = f"/api/v4/projects/{quote(self.project, safe='')}"
        if not path.startswith(prefix):
            return 404, {"message": "404 Project Not Found"}
        rest = path[len(prefix) :]
        if rest == "/merge_requests" and method == "GET":
            source = query.get("source_branch", [None])[0]
            state = query.get("state", ["all"])[0]
            found = [
                self._mr(m)
                for m in self.merge_requests.values()
                if (source is None or m["source_branch"] == source) and state in ("all", m["state"])
            ]
            return 200, found
        if rest == "/merge_requests" and method == "POST":
            if not self._exists(body["source_branch"]):
                return 422, {"message": ["Source branch does not exist"]}
            iid = len(self.merge_requests) + 1
            self.merge_requests[iid] = {
                "iid": iid, "title": body["title"], "description": body.get("description") or "",
                "source_branch": body["source_branch"], "target_branch": body["target_branch"], "state": "opened",
            }  # fmt: skip
            return 201, self._mr(self.merge_requests[iid])
        if match := re.fullmatch(r"/merge_requests/(\d+)", rest):
            mr = self.merge_requests.get(int(match.group(1)))
            if mr is None:
                return 404, {"message": "404 Not found"}
            if method == "PUT":
                mr.update({k: v for k, v in body.items() if k in ("title", "description", "target_branch")})
            return 200, self._mr(mr)
        if match := re.fullmatch(r"/issues/(\d+)/notes", rest):
            note = {"id": len(self.notes) + 1, "issue": int(match.group(1)), "body": body["body"]}
            self.notes.append(note)
            return 201, {"id": note["id"], "body": note["body"], "noteable_type": "Issue"}
        if match := re.fullmatch(r"/repository/commits/([0-9a-f]{40})/statuses", rest):
            return 200, self.statuses.get(match.group(1), [])
        return 404, {"message": "404 Not found"}

    def _mr(self, mr: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": 5000 + mr["iid"],
            "iid": mr["iid"],
            "project_id": 1,
            "title": mr["title"],
            "description": mr["description"],
            "state": mr["state"],
            "draft": mr["title"].startswith("Draft:"),
            "work_in_progress": mr["title"].startswith("Draft:"),
            "source_branch": mr["source_branch"],
            "target_branch": mr["target_branch"],
            "web_url": f"{self.url}/{self.project}/-/merge_requests/{mr['iid']}",
        }
