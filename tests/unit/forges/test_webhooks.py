"""Webhook signatures and what each GitHub / GitLab event asks for (pure: no I/O)."""

from __future__ import annotations

import hashlib
import hmac

from quarterdeck.forges import webhooks


def _signed(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_github_signature_must_be_the_bodys_hmac_under_the_secret() -> None:
    body = b'{"action": "labeled"}'
    assert webhooks.verify_github("s3cret", body, _signed("s3cret", body))
    assert not webhooks.verify_github("s3cret", body + b" ", _signed("s3cret", body))
    assert not webhooks.verify_github("s3cret", body, _signed("other", body))
    assert not webhooks.verify_github("s3cret", body, None)
    assert not webhooks.verify_github("s3cret", body, "sha1=" + "0" * 40)


def test_a_gitlab_token_must_be_the_secret() -> None:
    assert webhooks.verify_gitlab("tok", "tok")
    assert not webhooks.verify_gitlab("tok", "tok2")
    assert not webhooks.verify_gitlab("tok", None)


def test_a_delivery_is_keyed_by_its_id_else_by_its_body() -> None:
    assert webhooks.delivery_key("github", "abc", b"{}") == "github:abc"
    assert webhooks.delivery_key("gitlab", None, b"{}") == "gitlab:sha256:" + hashlib.sha256(b"{}").hexdigest()


def test_only_the_projects_label_starts_a_run() -> None:
    issue = {"number": 3, "title": "T", "body": "B", "labels": [{"name": "bug"}], "state": "open"}
    started = webhooks.parse_github(
        "issues", {"action": "labeled", "label": {"name": "qd"}, "issue": issue}, label="qd"
    )
    assert isinstance(started, webhooks.IssueCommand)
    assert started.issue.number == 3
    assert started.issue.labels == ("bug",)
    other = webhooks.parse_github("issues", {"action": "labeled", "label": {"name": "bug"}, "issue": issue}, label="qd")
    assert isinstance(other, webhooks.Ignored)


def test_a_comment_command_on_a_pull_request_is_not_an_issue_command() -> None:
    payload = {"action": "created", "issue": {"number": 4, "pull_request": {}}, "comment": {"body": "/quarterdeck run"}}
    assert isinstance(webhooks.parse_github("issue_comment", payload, label="qd"), webhooks.Ignored)


def test_approvals_and_plain_comments_are_not_feedback_but_requested_changes_are() -> None:
    def review(state: str) -> webhooks.Intent:
        payload = {"action": "submitted", "pull_request": {"number": 9}, "review": {"state": state, "body": "Fix it"}}
        return webhooks.parse_github("pull_request_review", payload, label="qd")

    assert isinstance(review("approved"), webhooks.Ignored)
    assert isinstance(review("commented"), webhooks.Ignored)
    changes = review("changes_requested")
    assert isinstance(changes, webhooks.ReviewFeedback)
    assert changes.number == 9
    assert changes.items[0].kind == "review"


def test_a_failed_check_is_feedback_and_a_green_one_a_change_of_checks() -> None:
    def check(conclusion: str) -> webhooks.Intent:
        run = {
            "name": "tests",
            "conclusion": conclusion,
            "head_sha": "a" * 40,
            "output": {"title": "2 failed", "summary": "test_x"},
            "pull_requests": [{"number": 2}],
            "check_suite": {"head_branch": "quarterdeck/r1"},
        }
        return webhooks.parse_github("check_run", {"action": "completed", "check_run": run}, label="qd")

    failed = check("failure")
    assert isinstance(failed, webhooks.ReviewFeedback)
    assert failed.items[0].body == "tests failure:\n2 failed\ntest_x"
    assert check("success") == webhooks.ChecksChanged(2, "quarterdeck/r1")


def test_gitlab_diff_notes_pipelines_and_labels() -> None:
    note = {
        "object_attributes": {
            "note": "Rename",
            "noteable_type": "MergeRequest",
            "position": {"new_path": "a.py", "new_line": 4},
        },
        "merge_request": {"iid": 6},
        "user": {"username": "ana"},
    }
    parsed = webhooks.parse_gitlab("Note Hook", note, label="qd")
    assert isinstance(parsed, webhooks.ReviewFeedback)
    assert (parsed.number, parsed.items[0].path, parsed.items[0].line, parsed.items[0].author) == (6, "a.py", 4, "ana")
    failed = {
        "object_attributes": {"status": "failed", "sha": "b" * 40, "ref": "main"},
        "builds": [{"name": "lint", "status": "failed"}],
    }
    pipeline = webhooks.parse_gitlab("Pipeline Hook", failed, label="qd")
    assert isinstance(pipeline, webhooks.ReviewFeedback)
    assert pipeline.items[0].body == "the pipeline failed in lint"
    kept = {
        "object_attributes": {"iid": 1},
        "changes": {"labels": {"previous": [{"title": "qd"}], "current": [{"title": "qd"}]}},
    }
    assert isinstance(webhooks.parse_gitlab("Issue Hook", kept, label="qd"), webhooks.Ignored)
