"""Celery tasks of triage. Each takes ids only and is safe to run twice."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from intake.handoff import queue_triage
from triage.models import Case, CaseStatus

logger = logging.getLogger(__name__)


@shared_task(
    name="triage.tasks.triage_report",
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
)
def triage_report(report_id: str) -> None:
    """Move a received report on to triage. Until the classifier lands, every report
    waits for a human triage officer (待分流)."""
    with transaction.atomic():
        case = Case.objects.select_for_update().filter(report_id=report_id).first()
        if case is None:
            logger.warning("No case for report %s; skipping.", report_id)
            return
        if case.status != CaseStatus.RECEIVED:
            return  # already triaged: a redelivery or a sweeper duplicate
        case.status = CaseStatus.AWAITING_TRIAGE
        case.triaged_at = timezone.now()
        case.save(update_fields=["status", "triaged_at", "updated_at"])


@shared_task(name="triage.tasks.sweep_received", acks_late=True)
def sweep_received(limit: int = 1000) -> int:
    """Re-queue reports still waiting for triage: a lost publish delays, never loses."""
    cutoff = timezone.now() - timedelta(seconds=settings.TRIAGE_SWEEP_AFTER_SECONDS)
    ids = list(
        Case.objects.filter(status=CaseStatus.RECEIVED, created_at__lt=cutoff)
        .order_by("created_at")
        .values_list("report_id", flat=True)[:limit]
    )
    queued = sum(1 for report_id in ids if queue_triage(report_id))
    if ids:
        logger.info("Sweeper re-queued %d of %d untriaged reports.", queued, len(ids))
    return queued
