"""Celery tasks of notifications: ids in, the work in notifications.services."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from notifications import services


@shared_task(name="notifications.tasks.send_notification", bind=True, acks_late=True, max_retries=None)
def send_notification(self: Any, notification_id: int) -> str:
    """Send one notification; a failure is tried again with exponential backoff until
    NOTIFY_MAX_ATTEMPTS (counted in the database), then dead-lettered."""
    outcome = services.notification_send(notification_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(name="notifications.tasks.send_batch", acks_late=True)
def send_batch(notification_ids: list[int]) -> int:
    """First attempts of many notifications in one message; each retry is its own task."""
    sent = 0
    for notification_id in notification_ids:
        outcome = services.notification_send(notification_id)
        sent += outcome.status == "sent"
        if outcome.retry_in is not None:
            send_notification.apply_async(args=[notification_id], countdown=outcome.retry_in)
    return sent


@shared_task(name="notifications.tasks.scan_deadlines", acks_late=True)
def scan_deadlines() -> dict[str, Any]:
    return vars(services.deadline_scan())


@shared_task(name="notifications.tasks.send_digests", acks_late=True)
def send_digests(period: str = "daily") -> int:
    return len(services.digests_send(period=period))
