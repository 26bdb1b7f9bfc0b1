"""How intake hands work on without importing triage: signals, a task by name, and a
registered provider that tells the citizen pages how their case stands."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from django.dispatch import Signal

logger = logging.getLogger(__name__)

TRIAGE_TASK = "triage.tasks.triage_report"

# Sent inside the submission transaction, with `report`. Receivers create what must be
# committed together with the report (the case).
report_submitted = Signal()
# Sent inside the transaction when the reporter posts a message / rating / review request.
reporter_message_posted = Signal()
reporter_feedback_given = Signal()
reporter_review_requested = Signal()


def queue_triage(report_id: uuid.UUID | str, *, attempt: int = 0, countdown: float | None = None) -> bool:
    """Queue the triage task with the report id only. False if the broker is down.

    Called after commit: the report is safe in the database, and the sweeper re-queues
    it later if this publish fails.
    """
    from django.conf import settings

    from config.celery import app

    try:
        app.send_task(
            TRIAGE_TASK,
            args=[str(report_id)],
            kwargs={"attempt": attempt} if attempt else None,
            queue=settings.TRIAGE_QUEUE,
            countdown=countdown,
            retry=False,
        )
    except Exception as exc:  # noqa: BLE001 - any broker failure only delays triage
        logger.warning(
            "Broker unavailable (%s); report %s will be re-queued by the sweeper.", type(exc).__name__, report_id
        )
        return False
    return True


@dataclass(frozen=True)
class CasePart:
    """One of several cases a report was split into, as its reporter sees it."""

    number: str
    status: str
    status_label: str
    department: str | None = None
    deadline: date | None = None
    closed_at: datetime | None = None


@dataclass(frozen=True)
class CaseSummary:
    """What a reporter may know about their case. `parts` lists every case of the report,
    the main one first, when it raised several matters that are handled separately."""

    number: str
    status: str
    status_label: str
    department: str | None = None
    deadline: date | None = None
    closed_at: datetime | None = None
    accepts_messages: bool = True
    can_rate: bool = False
    can_request_review: bool = False
    review_until: date | None = None  # the last day to ask for 复查, while one may
    extra: dict[str, str] = field(default_factory=dict)
    parts: tuple[CasePart, ...] = ()


CaseSummaryProvider = Callable[[uuid.UUID], CaseSummary | None]
_provider: CaseSummaryProvider | None = None


def register_case_summary_provider(provider: CaseSummaryProvider) -> None:
    global _provider
    _provider = provider


def case_summary(report_id: uuid.UUID) -> CaseSummary | None:
    return _provider(report_id) if _provider else None
