"""The issue-to-ready-pull-request flow on a local GitHub (``test_forge_flow``), with its people told on the
way: a Slack-format message and an email through a real SMTP server when the run succeeds, each time it does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from quarterdeck.settings import Settings
from tests.api import test_forge_flow as flow
from tests.api.conftest import Api
from tests.api.test_forge_flow import forge_api  # noqa: F401  (the flow's app, with its test agent)
from tests.support.receivers import SmtpReceiver, WebhookReceiver


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as receiver:
        yield receiver


@pytest.fixture
def settings(settings: Settings, smtp: SmtpReceiver) -> Settings:
    return settings.model_copy(
        update={"smtp_url": smtp.url, "notify_poll_s": 0.05, "public_url": "https://qd.example.com"}
    )


async def test_the_issue_flow_tells_slack_and_email(forge_api: Api, tmp_path: Path, smtp: SmtpReceiver) -> None:  # noqa: F811
    api = forge_api
    await api.user("acme", "member", email="lead@acme.io")  # the organisation exists before the flow's admin
    with WebhookReceiver() as slack:
        for channel, target in (("slack", slack.url("/slack")), ("email", "lead@acme.io")):
            await api.services.quarterdeck.subscribe(
                org_id="acme", actor="test", scope="org", channel=channel, target=target, kinds=["run.succeeded"]
            )
        await flow.test_an_issue_becomes_a_reviewed_revised_and_ready_pull_request(api, tmp_path)
        # the run succeeded twice: as the issue's run, and again after the review's revision
        sent = await flow.until(
            "both successes are delivered on both channels",
            lambda: flow.wait(len(slack.received("/slack")) == 2 and len(smtp.messages) == 2),
        )
        assert sent
    texts = [p.json()["text"] for p in slack.received("/slack")]
    assert len(set(texts)) == 1
    assert texts[0].endswith("succeeded")
    assert texts[0].startswith("Run ")
    (recipients, email), _ = smtp.messages
    assert recipients == ["lead@acme.io"]
    assert email["Subject"] == f"[Quarterdeck] {texts[0]}"
    assert "https://qd.example.com/runs/" in email.get_payload()
