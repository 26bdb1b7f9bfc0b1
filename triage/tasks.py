"""Celery tasks of triage. Each takes ids only and is safe to run twice."""

from __future__ import annotations

import contextlib
import logging
import random
import time
import uuid
from collections.abc import Collection
from datetime import timedelta
from typing import Any

from celery import shared_task
from celery.signals import worker_process_init
from celery.worker.request import Request
from celery_batches import Batches, SimpleRequest
from celery_batches.trace import apply_batches_task
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from intake.handoff import queue_triage
from triage.models import Case, CaseStatus
from triage.services import triage_failed, triage_reports

logger = logging.getLogger(__name__)


@worker_process_init.connect
def _warm_up(**kwargs: object) -> None:
    """Load the model and gazetteer, and build the classifier's derived tables, when a pool
    process starts, not on its first report."""
    from triage.decide import active_model, extract_place

    started = time.monotonic()
    try:
        model = active_model()
        loaded = time.monotonic()
        extract_place("")
        if model is not None:
            model[1].warm_up()
    except Exception:  # noqa: BLE001 - e.g. tables not migrated yet; the first task retries the load
        logger.warning("Triage warm-up failed; the model loads on first use.")
        return
    logger.info("Triage warm-up done in %.2f s (model load %.3f s).", time.monotonic() - started, loaded - started)


class TriageBatches(Batches):  # type: ignore[misc]
    """celery-batches' Batches, acknowledging a returned batch's messages together.

    Batches acknowledges each message of a batch (acks_late) through its request, one
    broker round trip each. Here, when the channel supports it (config.broker), the acks
    of the batch are sent as one pipeline at the same moment, when the batch returns.
    Everything else, including when a message counts as done, is Batches' own."""

    def flush(self, requests: Collection[Request]) -> Any:
        requests = list(requests)
        acks_early = [r for r in requests if not r.task.acks_late]
        acks_late = [r for r in requests if r.task.acks_late]

        def on_accepted(pid: int, time_accepted: float) -> None:
            for req in acks_early:
                req.acknowledge()

        def on_return(result: Any) -> None:
            _acknowledge_together(acks_late)

        return self._pool.apply_async(
            apply_batches_task,
            (self, ([_pool_request(r) for r in requests],), 0, None),
            accept_callback=on_accepted,
            callback=on_return,
        )


def _pool_request(request: Request) -> SimpleRequest:
    """What the pool process gets of a request: SimpleRequest.from_request's, without the
    message's headers and properties (`request_dict`). The task reads only the id, name and
    arguments of its requests; the headers were most of what was pickled to the pool and
    unpickled there for every batch (~2% of the pool process's time)."""
    args, kwargs, _embed = request._payload
    return SimpleRequest(request.id, request.name, args, kwargs, request.delivery_info, request.hostname,
                         getattr(request, "ignore_result", False), request.reply_to, request.correlation_id, {})


def _acknowledge_together(requests: list[Request]) -> None:
    """Acknowledge the requests' messages in one broker pipeline when their channel offers
    it (`QoS.acks_together`), else one by one as Batches does; errors are logged as kombu's
    ack_log_error logs them (an unacknowledged message is redelivered; triage is idempotent)."""
    pending = [r for r in requests if not r.acknowledged]
    channels = {id(r.message.channel): r.message.channel for r in pending}
    together = getattr(getattr(next(iter(channels.values()), None), "qos", None), "acks_together", None)
    if len(channels) != 1 or together is None:
        for req in pending:
            req.acknowledge()
        return
    errors = tuple(pending[0].connection_errors)
    try:
        with together():
            for req in pending:
                req.message.ack()
                req.acknowledged = True
    except errors as exc:  # as kombu's ack_log_error: unacknowledged messages come back later
        logger.critical("Couldn't acknowledge a triage batch of %d message(s): %r", len(pending), exc, exc_info=True)


@shared_task(
    base=TriageBatches,
    name="triage.tasks.triage_report",
    acks_late=True,
    flush_every=settings.TRIAGE_BATCH_SIZE,
    flush_interval=settings.TRIAGE_BATCH_WAIT_SECONDS,
)
def triage_report(requests: list[SimpleRequest]) -> int:
    """Triage received reports, a batch at a time.

    One message per report, carrying its id only (and, on a retry, the attempt number).
    The worker collects up to TRIAGE_BATCH_SIZE of them, or what arrived within
    TRIAGE_BATCH_WAIT_SECONDS, and triages them together: segmentation and the
    classifier run once per batch, the case rows are written with one UPDATE. Messages are
    acknowledged when the batch returns (acks_late); a redelivered or swept duplicate finds
    its case already triaged and does nothing.

    A batch that fails is retried report by report, so one bad report cannot hold back
    the others; a report that still fails is published again with exponential backoff and,
    after TRIAGE_MAX_ATTEMPTS, handed to the human triage queue."""
    attempts: dict[str, int] = {}
    for request in requests:
        report_id, attempt = _parse(request)
        if report_id is not None:
            attempts[report_id] = max(attempt, attempts.get(report_id, 0))
    if not attempts:
        return 0
    ids = list(attempts)
    started = time.monotonic()
    try:
        done = triage_reports(ids)
    except DatabaseError as exc:
        if not _database_reachable():
            logger.warning("Triage batch of %d failed: database unavailable (%s); retrying later.", len(ids), type(exc).__name__)
            for report_id in ids:
                _retry_later(report_id, attempts[report_id])
            return 0
        done = _one_by_one(ids, attempts)
    except Exception:  # noqa: BLE001 - isolate the report that fails, the others go on
        done = _one_by_one(ids, attempts)
    logger.info(
        "Triage batch: %d message(s), %d report(s) triaged, %d already done, in %.2f s.",
        len(requests), done, len(ids) - done, time.monotonic() - started,
    )
    return done


def _parse(request: Any) -> tuple[str | None, int]:
    args = list(getattr(request, "args", None) or [])
    kwargs = dict(getattr(request, "kwargs", None) or {})
    raw = args[0] if args else kwargs.get("report_id")
    try:
        report_id = str(uuid.UUID(str(raw)))
        attempt = int(kwargs.get("attempt", 0))
    except (TypeError, ValueError):
        logger.warning("Ignored a triage message without a valid report id.")
        return None, 0
    return report_id, max(attempt, 0)


def _one_by_one(ids: list[str], attempts: dict[str, int]) -> int:
    done = 0
    for report_id in ids:
        try:
            done += triage_reports([report_id])
        except Exception as exc:  # noqa: BLE001 - logged by type only: messages may quote data
            logger.warning("Triage of report %s failed (%s).", report_id, type(exc).__name__)
            _retry_later(report_id, attempts[report_id])
    return done


def _database_reachable() -> bool:
    from django.db import connection

    try:
        connection.close_if_unusable_or_obsolete()
        connection.ensure_connection()
        return True
    except Exception:  # noqa: BLE001 - any failure means: not now
        return False


def _retry_later(report_id: str, attempt: int) -> None:
    """Publish the report again after a backoff, or give it to a person after the last
    attempt. If even that fails, the sweeper finds the report still received."""
    if attempt + 1 >= settings.TRIAGE_MAX_ATTEMPTS:
        try:
            if triage_failed(report_id=report_id):
                logger.warning("Report %s could not be triaged automatically; sent to the human queue.", report_id)
        except Exception as exc:  # noqa: BLE001
            logger.warning("Could not hand report %s to a person (%s); the sweeper retries.", report_id, type(exc).__name__)
        return
    countdown = min(settings.TRIAGE_RETRY_BACKOFF_MAX, settings.TRIAGE_RETRY_BACKOFF * 2**attempt) * (0.5 + random.random() / 2)  # noqa: S311 - jitter
    queue_triage(report_id, attempt=attempt + 1, countdown=round(countdown, 1))


@shared_task(name="triage.tasks.sweep_received", acks_late=True)
def sweep_received(limit: int = 1000) -> int:
    """Re-queue reports still waiting for triage: a lost publish delays, never loses.

    A report swept once is not swept again for TRIAGE_SWEEP_REPEAT_SECONDS, so a long
    backlog (a worker down for an hour) does not fill the queue with copies every minute."""
    from django.core.cache import cache

    cutoff = timezone.now() - timedelta(seconds=settings.TRIAGE_SWEEP_AFTER_SECONDS)
    ids = [
        str(report_id)
        for report_id in Case.objects.filter(status=CaseStatus.RECEIVED, created_at__lt=cutoff, split_from__isnull=True)
        .order_by("created_at")
        .values_list("report_id", flat=True)[:limit]
    ]
    if not ids:
        return 0
    keys = {f"triage:swept:{report_id}": report_id for report_id in ids}
    try:
        recent = set(cache.get_many(list(keys)))
    except Exception:  # noqa: BLE001 - without the cache, sweep everything
        recent = set()
    queued = [report_id for key, report_id in keys.items() if key not in recent and queue_triage(report_id)]
    if queued and settings.TRIAGE_SWEEP_REPEAT_SECONDS > 0:
        with contextlib.suppress(Exception):
            cache.set_many({f"triage:swept:{r}": 1 for r in queued}, timeout=settings.TRIAGE_SWEEP_REPEAT_SECONDS)
    logger.info("Sweeper re-queued %d of %d untriaged reports (%d swept recently).", len(queued), len(ids), len(recent))
    return len(queued)


@shared_task(name="triage.tasks.retrain_classifier", acks_late=True, time_limit=3600)
def retrain_classifier() -> str:
    """Weekly (beat): train on the labelled data plus every human correction, unless the
    active model already saw exactly that data. Activation still requires the new model to
    be at least as good as the active one."""
    from triage.training import TrainingError, train_and_register

    try:
        result = train_and_register(csv_path=settings.TRAINING_CSV, only_if_changed=True)
    except TrainingError as exc:
        logger.warning("Weekly retraining skipped: %s", exc)
        return ""
    logger.info(
        "Weekly retraining: model %s, %s; %d older version(s) pruned.",
        result.model.version,
        "activated" if result.activated else "kept the active model",
        len(result.pruned),
    )
    return result.model.version


@shared_task(name="triage.tasks.scan_alerts", acks_late=True)
def scan_alerts() -> int:
    """Periodic (beat): 实时预警, see triage.alerts. Idempotent: re-runs update the week's alerts."""
    from triage.alerts import alerts_scan

    return len(alerts_scan())


@shared_task(name="triage.tasks.recalendar_deadlines", acks_late=True, time_limit=3600)
def recalendar_deadlines(days: list[str]) -> int:
    """The working-day calendar changed on `days` (ISO dates): move the running deadlines
    those days fall into. Idempotent (a re-run finds nothing left to move)."""
    from datetime import date

    from triage.deadlines import deadlines_recalendar

    return deadlines_recalendar([date.fromisoformat(day) for day in days])


@shared_task(name="triage.tasks.refresh_dashboard_figures", acks_late=True)
def refresh_dashboard_figures() -> int:
    """Periodic (beat): recompute the dashboard figures of the cases changed since the last
    run (triage.dashboard_figures). Idempotent; a lost run leaves the queue for the next."""
    from triage.dashboard_figures import figures_refresh

    return figures_refresh()


@shared_task(name="triage.tasks.rebuild_dashboard_figures", acks_late=True, time_limit=3600)
def rebuild_dashboard_figures() -> int:
    """After a holiday override changed: every working-day duration may have moved."""
    from triage.dashboard_figures import figures_rebuild, workday_index_sync

    workday_index_sync(force=True)
    return figures_rebuild()


@shared_task(name="triage.tasks.verify_audit_chains", acks_late=True, time_limit=6 * 3600)
def verify_audit_chains(run_id: int | None = None) -> str:
    """Verify every case's event chain (triage.audit): for a run an auditor asked for, or,
    from beat without an id, for a new nightly run. Read-only apart from the run's row;
    a redelivered task verifies again and stores the same kind of result."""
    from triage.audit import audit_run_execute, audit_run_request

    if run_id is None:
        run, created = audit_run_request(user=None)
        if not created:
            return "already queued"
        run_id = run.pk
    done = audit_run_execute(run_id)
    return done.state if done is not None else "missing"
