"""Celery tasks of triage. Each takes ids only and is safe to run twice."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from celery.signals import worker_process_init
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from intake.handoff import queue_triage
from intake.selectors import report_content
from triage.decide import decide
from triage.models import Case, CaseStatus
from triage.services import apply_decision

logger = logging.getLogger(__name__)


@worker_process_init.connect
def _warm_up(**kwargs: object) -> None:
    """Load the model and gazetteer when a pool process starts, not on its first report."""
    from triage.decide import active_model, extract_place

    try:
        active_model()
        extract_place("")
    except Exception:  # noqa: BLE001 - e.g. tables not migrated yet; the first task retries the load
        logger.warning("Triage warm-up failed; the model loads on first use.")


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
    """Decide category, type, urgency, place and department for a received report, link
    near-duplicates, and route it (confident) or put it in the human queue."""
    case = Case.objects.filter(report_id=report_id).select_related("report").first()
    if case is None:
        logger.warning("No case for report %s; skipping.", report_id)
        return
    if case.status != CaseStatus.RECEIVED:
        return  # already triaged: a redelivery or a sweeper duplicate
    # Decrypted in memory only; nothing of it is logged, stored or sent on.
    content = report_content(case.report)
    decision = decide(
        text=f"{content.title}\n{content.body}\n{content.place_detail}",
        chosen_matter_type=case.report.matter_type,
        area_code=content.area_code,
        accused=content.accused,
    )
    del content
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case.pk)
        if case.status != CaseStatus.RECEIVED:
            return
        apply_decision(case, decision)


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


@shared_task(name="triage.tasks.retrain_classifier", acks_late=True, time_limit=3600)
def retrain_classifier() -> str:
    """Weekly: train on the labelled data plus every human correction since."""
    from triage.training import train_and_register

    result = train_and_register(csv_path=settings.TRAINING_CSV)
    return result.model.version
