"""Tests for the hand-off to triage through a real broker and a real worker."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from config.celery import app
from intake import abuse
from intake.handoff import queue_triage
from tests.conftest import Process, wait_for
from tests.factories import SAMPLE_BODY, submit
from triage.models import Case, CaseStatus
from triage.services import triage_reports
from triage.tasks import sweep_received

pytestmark = pytest.mark.worker


def _use_broker(url: str) -> None:
    """Point the publisher at another broker URL. With a Django namespace Celery keeps the
    setting under both names and reads the namespaced one first."""
    app.conf.broker_url = url
    app.conf["CELERY_BROKER_URL"] = url
    app._pool = None  # drop pooled connections so the next publish uses the new URL
    app.amqp._producer_pool = None


def _status(report_id: Any) -> str:
    return Case.objects.get(report_id=report_id).status


def test_a_report_reaches_awaiting_triage_through_the_real_worker(celery_worker: Process, demo_org: None) -> None:
    report = submit().report
    assert wait_for(lambda: _status(report.pk) == CaseStatus.AWAITING_TRIAGE), celery_worker.log_text()


def test_the_task_is_idempotent(transactional_db: Any, demo_org: None) -> None:
    report = submit().report
    triage_reports([str(report.pk)])
    first = Case.objects.get(report=report).triaged_at
    triage_reports([str(report.pk)])  # a redelivery changes nothing
    assert Case.objects.get(report=report).triaged_at == first


def test_a_submission_while_the_broker_is_down_is_kept_and_triaged_later(
    celery_worker: Process, demo_org: None, settings: Any
) -> None:
    good_url = app.conf.broker_url
    _use_broker("redis://127.0.0.1:9/0" if good_url.startswith("redis") else "sqla+sqlite:////nonexistent/dir/b.db")
    try:
        assert queue_triage("00000000-0000-0000-0000-000000000000") is False
        client = Client()
        response = client.post("/report/", {"form_token": abuse.issue_form_token("submit"), "body": SAMPLE_BODY})
        assert response.status_code == 201
        case = Case.objects.get()
        assert case.status == CaseStatus.RECEIVED
    finally:
        _use_broker(good_url)
    settings.TRIAGE_SWEEP_AFTER_SECONDS = 0
    assert sweep_received() == 1
    assert wait_for(lambda: _status(case.report_id) == CaseStatus.AWAITING_TRIAGE), celery_worker.log_text()
