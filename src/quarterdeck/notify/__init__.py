"""Notifications: subscriptions, the durable outbox, and its delivery by webhook, Slack and email."""

from __future__ import annotations
