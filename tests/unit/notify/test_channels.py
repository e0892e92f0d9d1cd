"""What goes on the wire: webhook signatures a receiver can check, Slack's message shape, an email."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from quarterdeck.notify import channels

BODY = b'{"id":"n1","type":"run.failed"}'


def test_the_signature_is_hmac_sha256_of_timestamp_and_body() -> None:
    header = channels.sign("s3cret", BODY, timestamp=1_700_000_000)
    expected = hmac.new(b"s3cret", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert channels.verify("s3cret", BODY, header, now=1_700_000_010)


@pytest.mark.parametrize(
    ("secret", "body", "now"),
    [("other", BODY, 1_700_000_010), ("s3cret", BODY + b" ", 1_700_000_010), ("s3cret", BODY, 1_700_009_999)],
)
def test_a_wrong_secret_a_changed_body_or_a_stale_timestamp_fail(secret: str, body: bytes, now: float) -> None:
    header = channels.sign("s3cret", BODY, timestamp=1_700_000_000)
    assert not channels.verify(secret, body, header, now=now)


def test_slack_messages_escape_mrkdwn() -> None:
    message = channels.slack_message(
        {"summary": "Run <a&b> failed", "type": "run.failed", "org": "acme", "run": {"id": "r1", "url": None}}
    )
    assert message["text"] == "Run <a&b> failed"
    assert message["blocks"][0]["text"]["text"] == "*Run &lt;a&amp;b&gt; failed*"


def test_smtp_urls() -> None:
    server = channels.SmtpServer.from_url("smtps://bot%40acme:p%2Fw@mail.acme.test?starttls=false")
    assert (server.host, server.port, server.tls, server.user, server.password) == (
        "mail.acme.test",
        465,
        True,
        "bot@acme",
        "p/w",
    )
    assert channels.SmtpServer.from_url("smtp://localhost:2525?starttls=true").starttls
    with pytest.raises(ValueError, match="QUARTERDECK_SMTP_URL"):
        channels.SmtpServer.from_url("http://mail")


def test_the_email_has_the_summary_as_subject() -> None:
    message = channels.email_message(
        {
            "summary": "Run r1 failed",
            "type": "run.failed",
            "org": "acme",
            "run": {"id": "r1", "url": "https://q/runs/r1"},
        },
        sender="qd@acme.test",
        recipient="lead@acme.test",
    )
    assert message["Subject"] == "[Quarterdeck] Run r1 failed"
    assert "https://q/runs/r1" in message.get_content()
