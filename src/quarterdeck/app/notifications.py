"""Notifications (``notify/``): subscriptions and the outbox."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quarterdeck.app.parts import Parts

if TYPE_CHECKING:
    from quarterdeck.store.notifications import NotificationRecord, SubscriptionRecord

__all__ = ["Notifications"]


class Notifications(Parts):
    async def subscribe(self, **kwargs: Any) -> SubscriptionRecord:
        """Subscribe a target to notifications (``notify.subscriptions.subscribe``)."""
        from quarterdeck.notify import subscriptions

        return await subscriptions.subscribe(self.db, **kwargs)

    async def subscriptions(self, *, org_id: str, user_id: str | None = None) -> list[SubscriptionRecord]:
        from quarterdeck.notify import subscriptions

        return await subscriptions.subscriptions(self.db, org_id=org_id, user_id=user_id)

    async def unsubscribe(self, subscription_id: str, *, org_id: str, user_id: str | None = None) -> None:
        from quarterdeck.notify import subscriptions

        await subscriptions.unsubscribe(self.db, subscription_id, org_id=org_id, user_id=user_id)

    async def notifications(self, *, org_id: str, **filters: Any) -> list[NotificationRecord]:
        """The outbox, newest first (``notify.subscriptions.notifications``)."""
        from quarterdeck.notify import subscriptions

        return await subscriptions.notifications(self.db, org_id=org_id, **filters)
