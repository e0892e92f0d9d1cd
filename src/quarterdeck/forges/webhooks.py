"""Webhook deliveries from GitHub and GitLab: their signatures, and what each event asks Quarterdeck to do.

GitHub signs the raw body with HMAC-SHA256 (``X-Hub-Signature-256: sha256=<hex>``); GitLab sends the
shared secret itself (``X-Gitlab-Token``). Both are compared in constant time. ``parse_github`` and
``parse_gitlab`` turn an event into one ``Intent`` — start from an issue, feedback on a pull request,
checks that changed — or ``Ignored`` with the reason; they do no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from quarterdeck.domain import forges as rules

__all__ = [
    "ChecksChanged",
    "Ignored",
    "Intent",
    "IssueCommand",
    "ReviewFeedback",
    "delivery_key",
    "parse_github",
    "parse_gitlab",
    "verify_github",
    "verify_gitlab",
]


def verify_github(secret: str, body: bytes, signature: str | None) -> bool:
    """Whether ``X-Hub-Signature-256`` is the HMAC-SHA256 of ``body`` under ``secret``."""
    if not signature or not signature.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode())


def verify_gitlab(secret: str, token: str | None) -> bool:
    """Whether ``X-Gitlab-Token`` is the shared secret."""
    return token is not None and hmac.compare_digest(secret.encode(), token.encode())


def delivery_key(forge: str, delivery: str | None, body: bytes) -> str:
    """The idempotency key of a delivery: its id, else the digest of its body."""
    if delivery:
        return f"{forge}:{delivery[:150]}"
    return f"{forge}:sha256:{hashlib.sha256(body).hexdigest()}"


@dataclass(frozen=True, slots=True)
class IssueCommand:
    """Start from an issue: ``run`` it, or ``plan`` it (comment the plan, run nothing)."""

    command: str
    issue: rules.IssueRecord
    by: str


@dataclass(frozen=True, slots=True)
class ReviewFeedback:
    """Feedback on pull request ``number`` (or the one whose head is ``head``)."""

    items: tuple[rules.Feedback, ...]
    number: int | None = None
    head: str | None = None


@dataclass(frozen=True, slots=True)
class ChecksChanged:
    """A check passed (or is pending): the pull request of ``head`` or ``number`` may become ready."""

    number: int | None = None
    head: str | None = None


@dataclass(frozen=True, slots=True)
class Ignored:
    reason: str


Intent = IssueCommand | ReviewFeedback | ChecksChanged | Ignored


def _d(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _github_issue(issue: Mapping[str, Any]) -> rules.IssueRecord:
    labels = tuple(_s(_d(label).get("name")) for label in issue.get("labels") or [] if _d(label))
    return rules.IssueRecord(
        number=int(issue.get("number") or 0),
        title=_s(issue.get("title")),
        body=_s(issue.get("body")),
        labels=labels,
        state=_s(issue.get("state")).upper() or "OPEN",
    )


def parse_github(event: str, payload: Mapping[str, Any], *, label: str) -> Intent:
    """What a GitHub event (``X-GitHub-Event``) asks for."""
    action = _s(payload.get("action"))
    sender = _s(_d(payload.get("sender")).get("login"))
    if event == "ping":
        return Ignored("ping")
    if event == "issues":
        if action == "labeled" and _s(_d(payload.get("label")).get("name")) == label:
            return IssueCommand("run", _github_issue(_d(payload.get("issue"))), sender)
        return Ignored(f"issues.{action}")
    if event == "issue_comment":
        issue = _d(payload.get("issue"))
        command = rules.parse_command(_s(_d(payload.get("comment")).get("body")))
        if action != "created" or command is None:
            return Ignored("a comment without a command")
        if "pull_request" in issue:
            return Ignored("a command on a pull request")
        return IssueCommand(command, _github_issue(issue), sender)
    if event == "pull_request_review":
        review = _d(payload.get("review"))
        number = int(_d(payload.get("pull_request")).get("number") or 0)
        if action != "submitted" or _s(review.get("state")).lower() != "changes_requested":
            return Ignored(f"a review that is {_s(review.get('state')) or 'unknown'}")
        body = _s(review.get("body")) or "Changes were requested."
        author = _s(_d(review.get("user")).get("login"))
        return ReviewFeedback(
            (rules.Feedback("review", body, author, commit=_s(review.get("commit_id")) or None),), number
        )
    if event == "pull_request_review_comment":
        comment = _d(payload.get("comment"))
        if action != "created":
            return Ignored(f"pull_request_review_comment.{action}")
        line = comment.get("line") or comment.get("original_line")
        item = rules.Feedback(
            "comment",
            _s(comment.get("body")),
            _s(_d(comment.get("user")).get("login")),
            path=_s(comment.get("path")) or None,
            line=int(line) if isinstance(line, int) else None,
            commit=_s(comment.get("commit_id")) or None,
        )
        return ReviewFeedback((item,), int(_d(payload.get("pull_request")).get("number") or 0))
    if event == "check_run":
        run = _d(payload.get("check_run"))
        pulls = [int(_d(p).get("number") or 0) for p in run.get("pull_requests") or []]
        on: int | None = pulls[0] if pulls else None
        head = _s(_d(run.get("check_suite")).get("head_branch")) or None
        if action != "completed":
            return Ignored(f"check_run.{action}")
        if _s(run.get("conclusion")) in ("success", "neutral", "skipped"):
            return ChecksChanged(on, head)
        output = _d(run.get("output"))
        text = "\n".join(t for t in (_s(output.get("title")), _s(output.get("summary"))) if t)
        body = f"{_s(run.get('name')) or 'a check'} {_s(run.get('conclusion'))}" + (f":\n{text}" if text else "")
        return ReviewFeedback((rules.Feedback("check", body, commit=_s(run.get("head_sha")) or None),), on, head)
    if event == "status":
        state = _s(payload.get("state"))
        branches = [_s(_d(b).get("name")) for b in payload.get("branches") or []]
        head = branches[0] if branches else None
        if state in ("success", "pending"):
            return ChecksChanged(None, head)
        text = f"{_s(payload.get('context')) or 'a status'} {state}: {_s(payload.get('description'))}".strip()
        url = _s(payload.get("target_url"))
        item = rules.Feedback("check", text + (f"\n{url}" if url else ""), commit=_s(payload.get("sha")) or None)
        return ReviewFeedback((item,), None, head)
    return Ignored(f"event {event!r} is not used")


def _gitlab_issue(attrs: Mapping[str, Any], labels: Any) -> rules.IssueRecord:
    names = tuple(_s(_d(label).get("title")) for label in labels or [] if _d(label))
    return rules.IssueRecord(
        number=int(attrs.get("iid") or 0),
        title=_s(attrs.get("title")),
        body=_s(attrs.get("description")),
        labels=names,
        state="CLOSED" if _s(attrs.get("state")) == "closed" else "OPEN",
    )


def parse_gitlab(event: str, payload: Mapping[str, Any], *, label: str) -> Intent:
    """What a GitLab event (``X-Gitlab-Event``) asks for."""
    attrs = _d(payload.get("object_attributes"))
    user = _s(_d(payload.get("user")).get("username"))
    if event == "Issue Hook":
        change = _d(_d(payload.get("changes")).get("labels"))
        before = {_s(_d(x).get("title")) for x in change.get("previous") or []}
        after = {_s(_d(x).get("title")) for x in change.get("current") or []}
        if label in after and label not in before:
            return IssueCommand("run", _gitlab_issue(attrs, payload.get("labels")), user)
        return Ignored("an issue change that adds no label")
    if event == "Note Hook":
        note = _s(attrs.get("note"))
        kind = _s(attrs.get("noteable_type"))
        if kind == "Issue":
            command = rules.parse_command(note)
            if command is None:
                return Ignored("a comment without a command")
            return IssueCommand(command, _gitlab_issue(_d(payload.get("issue")), payload.get("labels")), user)
        if kind == "MergeRequest":
            position = _d(attrs.get("position"))
            line = position.get("new_line")
            item = rules.Feedback(
                "comment",
                note,
                user,
                path=_s(position.get("new_path")) or None,
                line=int(line) if isinstance(line, int) else None,
                commit=_s(position.get("head_sha")) or None,
            )
            return ReviewFeedback((item,), int(_d(payload.get("merge_request")).get("iid") or 0))
        return Ignored(f"a note on a {kind or 'thing'}")
    if event == "Pipeline Hook":
        status = _s(attrs.get("status"))
        head = _s(attrs.get("ref")) or None
        number = _d(payload.get("merge_request")).get("iid")
        iid = int(number) if isinstance(number, int) else None
        if status == "success":
            return ChecksChanged(iid, head)
        if status != "failed":
            return Ignored(f"a pipeline that is {status}")
        failed = [_s(_d(b).get("name")) for b in payload.get("builds") or [] if _s(_d(b).get("status")) == "failed"]
        body = "the pipeline failed" + (f" in {', '.join(failed)}" if failed else "")
        return ReviewFeedback((rules.Feedback("check", body, commit=_s(attrs.get("sha")) or None),), iid, head)
    return Ignored(f"event {event!r} is not used")
