"""Tests for the batch triage task: many reports in one batch, and a report that cannot be
triaged (its ciphertext is damaged) neither holds back the others nor gets lost."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from django.core.cache import cache

from intake.models import Report
from tests.factories import submit
from triage.models import Case, CaseStatus
from triage.services import triage_reports
from triage.tasks import sweep_received, triage_report

pytestmark = pytest.mark.django_db

PLACES = ["379901001002", "379921101", "379902001001", "379921102201"]
TEXTS = [
    "东城区东关街道文化路小区楼道堆放杂物多年，物业不清理，存在消防隐患，请相关部门督促整改。",
    "出租车司机拒载绕路，还不打表乱收费，请交通运输局整治出租车行业。",
    "湖滨社区一家餐馆油烟直排，噪音扰民到深夜，多次反映无人处理。",
    "单位拖欠我们农民工工资半年多，老板避而不见，请劳动监察部门帮忙追讨。",
]


def _damage(report: Report) -> None:
    """A report whose body no longer decrypts (a damaged row): a real failure, no mock."""
    body = bytearray(bytes(report.body_ct))
    body[-1] ^= 0xFF
    Report.objects.filter(pk=report.pk).update(body_ct=bytes(body))


def _statuses(reports: list[Report]) -> list[str]:
    return [Case.objects.get(report=r, split_from__isnull=True).status for r in reports]


def test_a_batch_triages_every_report_the_same_as_one_at_a_time(demo_org: None, active_classifier: Any) -> None:
    single = [submit(body=text, area_code=place).report for text, place in zip(TEXTS, PLACES, strict=True)]
    for report in single:
        triage_reports([str(report.pk)])
    batch = [submit(body=text, area_code=place).report for text, place in zip(TEXTS, PLACES, strict=True)]
    assert triage_reports([str(r.pk) for r in batch]) == len(batch)
    for one, many in zip(single, batch, strict=True):
        a, b = Case.objects.get(report=one), Case.objects.get(report=many)
        assert (a.status, a.category_id, a.department_id, a.urgent, a.matter_type) == (
            b.status, b.category_id, b.department_id, b.urgent, b.matter_type
        )
        assert b.duplicate_of_id == a.pk  # the same matter reported again is linked
    assert triage_reports([str(r.pk) for r in batch]) == 0  # a redelivered batch does nothing


def test_reports_repeating_each_other_in_one_batch_are_linked(demo_org: None, active_classifier: Any) -> None:
    reports = [submit(body=TEXTS[0], area_code=PLACES[0]).report for _ in range(3)]
    triage_reports([str(r.pk) for r in reversed(reports)])
    first = Case.objects.get(report=reports[0])
    assert first.duplicate_of is None
    assert {c.duplicate_of_id for c in Case.objects.filter(report__in=reports[1:])} == {first.pk}


def _requests(*report_ids: str, attempt: int = 0) -> list[SimpleNamespace]:
    """What the worker hands the task: one request per message, each with its id."""
    return [SimpleNamespace(args=[report_id], kwargs={"attempt": attempt} if attempt else {}) for report_id in report_ids]


def test_a_damaged_report_does_not_hold_back_its_batch(demo_org: None, active_classifier: Any) -> None:
    good = [submit(body=text, area_code=place).report for text, place in zip(TEXTS, PLACES, strict=True)]
    bad = submit(body=TEXTS[0]).report
    _damage(bad)
    ids = [str(r.pk) for r in good]
    assert triage_report([*_requests(*ids[:2]), *_requests(str(bad.pk)), *_requests(*ids[2:])]) == len(good)
    assert CaseStatus.RECEIVED not in _statuses(good)
    # The damaged one is left received and published again for a later attempt.
    assert Case.objects.get(report=bad).status == CaseStatus.RECEIVED


def test_a_report_that_keeps_failing_goes_to_a_person(demo_org: None, active_classifier: Any, settings: Any) -> None:
    bad = submit(body=TEXTS[1]).report
    _damage(bad)
    last = settings.TRIAGE_MAX_ATTEMPTS - 1
    assert triage_report(_requests(str(bad.pk), attempt=last)) == 0
    case = Case.objects.get(report=bad)
    assert case.status == CaseStatus.AWAITING_TRIAGE and case.queue_reason == "triage_failed"
    assert str(case.queue_reason_label) == "自动分流多次失败"


def test_a_message_without_a_valid_id_is_ignored(demo_org: None) -> None:
    assert triage_report(_requests("not-a-uuid")) == 0
    assert triage_report([SimpleNamespace(args=[], kwargs={})]) == 0
    assert triage_report.apply(args=["00000000-0000-0000-0000-000000000000"]).get() == 0  # through Celery's apply


def test_the_sweeper_does_not_queue_a_report_twice_within_its_repeat_window(demo_org: None, settings: Any) -> None:
    settings.TRIAGE_SWEEP_AFTER_SECONDS = 0
    settings.TRIAGE_SWEEP_REPEAT_SECONDS = 60
    submit()
    assert sweep_received() == 1
    assert sweep_received() == 0
    cache.clear()  # the window has passed
    assert sweep_received() == 1


def test_a_batch_writes_each_case_its_route_event_and_clocks(demo_org: None, active_classifier: Any) -> None:
    from triage.audit import audit_verify
    from triage.models import CaseEvent, Deadline, DeadlineKind

    reports = [submit(body=text, area_code=place).report for text, place in zip(TEXTS, PLACES, strict=True)]
    triage_reports([str(r.pk) for r in reports])
    for case in Case.objects.filter(report__in=reports):
        assert list(case.events.order_by("seq").values_list("kind", flat=True)) == ["register", "route"]
        open_kinds = set(case.deadlines.filter(met_at__isnull=True).values_list("kind", flat=True))
        if case.status == CaseStatus.ASSIGNED:
            assert case.deadlines.get(kind=DeadlineKind.TRANSFER).met_at is not None
            assert DeadlineKind.ACCEPTANCE_NOTICE in open_kinds or not case.report.is_named
        else:
            assert open_kinds == {DeadlineKind.TRANSFER}
        assert case.due_at == min(
            (d.due_at for d in Deadline.objects.filter(case=case, met_at__isnull=True, cancelled_at__isnull=True)),
            default=None,
        )
    summary = audit_verify()
    assert not summary.problems and summary.events == CaseEvent.objects.count()


def test_a_batch_routed_case_notifies_its_department_like_a_case_routed_alone(demo_org: None, active_classifier: Any) -> None:
    """The batch writes the cases before appending their events: the notification hook
    reads each case as routed (status and department), not as it was before."""
    from notifications.models import Kind, Notification
    from tests.triage.casework import Team

    team = Team("379901-zj", "zj")
    reports = [submit(body=TEXTS[0], area_code=PLACES[0]).report, submit(body=TEXTS[3], area_code=PLACES[1]).report]
    assert triage_reports([str(r.pk) for r in reports]) == 2
    case = Case.objects.get(report=reports[0])
    assert (case.status, case.department.code if case.department else None) == (CaseStatus.ASSIGNED, "379901-zj")
    notified = set(Notification.objects.filter(case=case, kind=Kind.CASE_ASSIGNED).values_list("recipient_id", flat=True))
    assert notified == {team.handler.pk, team.drafter.pk, team.head.pk}
    other = Case.objects.get(report=reports[1])
    assert not Notification.objects.filter(case=other, recipient__in=notified).exists()


def test_a_batch_meets_paused_and_running_transfer_clocks_of_the_cases_it_assigns(
    demo_org: None, active_classifier: Any
) -> None:
    """A 登记交办 clock that stood paused is resumed (its paused time counted) and met; a running
    one is met; the clock of a case left for a person keeps running and sets its due time."""
    from datetime import timedelta

    from django.utils import timezone

    from triage.models import Deadline, DeadlineKind

    reports = [submit(body=TEXTS[0], area_code=PLACES[0]).report, submit(body=TEXTS[3], area_code=PLACES[1]).report,
               submit(body="有一件事情想反映一下，具体情况比较复杂。").report]
    paused_at = timezone.now() - timedelta(hours=2)
    Deadline.objects.filter(case__report=reports[0], kind=DeadlineKind.TRANSFER).update(paused_at=paused_at)
    assert triage_reports([str(r.pk) for r in reports]) == 3
    paused, running, waiting = (Case.objects.get(report=r) for r in reports)
    assert (paused.status, running.status, waiting.status) == (CaseStatus.ASSIGNED, CaseStatus.ASSIGNED,
                                                                CaseStatus.AWAITING_TRIAGE)
    resumed = paused.deadlines.get(kind=DeadlineKind.TRANSFER)
    assert (resumed.met_at, resumed.paused_at) == (paused.triaged_at, None)
    assert paused.triaged_at is not None
    calendar_seconds = int((paused.triaged_at - paused_at).total_seconds())
    assert 0 <= resumed.paused_seconds <= calendar_seconds  # working seconds of the pause (none on a rest day)
    assert running.deadlines.get(kind=DeadlineKind.TRANSFER).met_at == running.triaged_at
    assert waiting.deadlines.get(kind=DeadlineKind.TRANSFER).met_at is None
    for case in (paused, running, waiting):
        assert case.due_at == min(
            (d.due_at for d in case.deadlines.filter(met_at__isnull=True, cancelled_at__isnull=True)), default=None)
