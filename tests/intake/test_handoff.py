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
from triage.tasks import sweep_received, triage_report

pytestmark = pytest.mark.worker


def _reset_publisher() -> None:
    """Drop pooled broker connections so the next publish uses the current URL."""
    app._pool = None
    app.amqp._producer_pool = None


def _status(report_id: Any) -> str:
    return Case.objects.get(report_id=report_id).status


def test_a_report_reaches_awaiting_triage_through_the_real_worker(celery_worker: Process, demo_org: None) -> None:
    report = submit().report
    assert wait_for(lambda: _status(report.pk) == CaseStatus.AWAITING_TRIAGE), celery_worker.log_text()


def test_the_task_is_idempotent(transactional_db: Any, demo_org: None) -> None:
    report = submit().report
    triage_report(str(report.pk))
    first = Case.objects.get(report=report).triaged_at
    triage_report(str(report.pk))  # a redelivery changes nothing
    assert Case.objects.get(report=report).triaged_at == first


def test_a_submission_while_the_broker_is_down_is_kept_and_triaged_later(
    celery_worker: Process, demo_org: None, settings: Any
) -> None:
    good_url = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:9/0" if good_url.startswith("redis") else "sqla+sqlite:////nonexistent/dir/b.db"
    _reset_publisher()
    try:
        assert queue_triage("00000000-0000-0000-0000-000000000000") is False
        client = Client()
        response = client.post("/report/", {"form_token": abuse.issue_form_token("submit"), "body": SAMPLE_BODY})
        assert response.status_code == 201
        case = Case.objects.get()
        assert case.status == CaseStatus.RECEIVED
    finally:
        app.conf.broker_url = good_url
        _reset_publisher()
    settings.TRIAGE_SWEEP_AFTER_SECONDS = 0
    assert sweep_received() == 1
    assert wait_for(lambda: _status(case.report_id) == CaseStatus.AWAITING_TRIAGE), celery_worker.log_text()
