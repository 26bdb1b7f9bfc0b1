"""Periodic housekeeping of intake."""

from __future__ import annotations

from celery import shared_task

from intake.services import idempotency_purge


@shared_task(name="intake.tasks.purge_idempotency", acks_late=True)
def purge_idempotency() -> int:
    """Forget idempotency records (and the sealed receipts in them) after their TTL."""
    return idempotency_purge()
