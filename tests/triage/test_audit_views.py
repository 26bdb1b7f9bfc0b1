"""The auditor's desk: the access log and the hash-chain verification, for auditors only,
and never a word of report content."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.test import Client
from django.utils import timezone

from intake.models import AccessRecord
from intake.services import content_view_record
from intake.staff_auth import otp_required
from tests.auth import otp_login
from tests.conftest import wait_for
from tests.tamper import owner_tampering
from tests.triage.casework import Team, bring_to, new_case, staff
from triage.models import Case, CaseEvent, CaseStatus
from triage.tasks import verify_audit_chains

pytestmark = pytest.mark.django_db
OWN = "379901-zj"
BODY = "文化路小区楼道堆放杂物多年，存在消防隐患，请督促整改。"


@pytest.fixture
def viewed(demo_org: None) -> Case:
    """A closed case whose content a handler opened once (one access record)."""
    team = Team(OWN, "own")
    case = bring_to(new_case(department=OWN, body=BODY), CaseStatus.CLOSED, team)
    content_view_record(report=case.report, user=team.handler, reason="办理需要")
    return case


def test_it_requires_login() -> None:
    assert Client().get("/staff/audit/").status_code == 302


@pytest.mark.parametrize("role", ["handler", "department_head", "leadership", "triage_officer"])
def test_it_is_for_auditors_only(demo_org: None, role: str) -> None:
    user = staff("someone", role, OWN)
    client = Client()
    if otp_required(user):
        otp_login(client, user)
    else:
        client.force_login(user)
    assert client.get("/staff/audit/").status_code == 403
    assert client.get("/staff/audit/changes/").status_code == 403
    assert client.post("/staff/audit/verify/", {"case": ""}).status_code == 403
    assert client.get("/staff/audit/access.csv").status_code == 403
    assert client.get("/staff/audit/changes.xlsx").status_code == 403


def test_it_lists_who_viewed_what_without_content(auditor: Client, viewed: Case) -> None:
    page = auditor.get("/staff/audit/").content.decode()
    assert viewed.number in page and "own-handler" in page and "办理需要" in page
    assert "楼道堆放杂物" not in page


def test_it_filters_the_log(auditor: Client, viewed: Case) -> None:
    assert viewed.number in auditor.get("/staff/audit/?username=own-handler").content.decode()
    assert viewed.number not in auditor.get("/staff/audit/?username=nobody").content.decode()
    assert viewed.number not in auditor.get("/staff/audit/?kind=reveal_identity").content.decode()
    assert viewed.number in auditor.get(f"/staff/audit/?case={viewed.number}").content.decode()


def test_it_verifies_the_chains(auditor: Client, viewed: Case) -> None:
    page = auditor.post("/staff/audit/verify/", {"case": ""})
    assert page.status_code == 200
    assert page.context["summary"].ok and page.context["summary"].cases == 1


def test_it_finds_an_altered_event(auditor: Client, viewed: Case) -> None:
    with owner_tampering():
        CaseEvent.objects.filter(case=viewed, seq=2).update(to_status="closed")
    summary = auditor.post("/staff/audit/verify/", {"case": viewed.number}).context["summary"]
    assert not summary.ok and summary.problems[0].seq == 2


def test_it_verifies_one_case(auditor: Client, viewed: Case) -> None:
    other = new_case(department=OWN)
    summary = auditor.post("/staff/audit/verify/", {"case": other.number}).context["summary"]
    assert summary.ok and summary.cases == 1 and summary.events == CaseEvent.objects.filter(case=other).count()


def test_it_rejects_an_unknown_case_number(auditor: Client, viewed: Case) -> None:
    assert auditor.post("/staff/audit/verify/", {"case": "QF202699999999"}).status_code == 400


def test_verify_rejects_get(auditor: Client) -> None:
    assert auditor.get("/staff/audit/verify/").status_code == 405


# --- many cases: the full verification runs in the worker ----------------------------------


@pytest.mark.django_db(transaction=True)
def test_verify_all_goes_to_the_worker_above_the_inline_limit(
    celery_worker: Any, auditor: Client, viewed: Case, settings: Any
) -> None:
    settings.AUDIT_INLINE_MAX_CASES = 0
    from triage.models import AuditRun

    response = auditor.post("/staff/audit/verify/", {"case": ""})
    assert response.status_code == 302 and response["Location"].endswith("/staff/audit/#runs")
    run = AuditRun.objects.get()
    assert run.requested_by is not None
    assert "全面校验已交由后台执行" in auditor.get("/staff/audit/").content.decode()
    # One case is still checked at once.
    assert auditor.post("/staff/audit/verify/", {"case": viewed.number}).context["summary"].ok

    assert wait_for(lambda: AuditRun.objects.get().finished_at is not None)
    run.refresh_from_db()
    assert run.state == "intact" and (run.cases, run.broken_cases) == (1, 0)
    assert run.events == CaseEvent.objects.count()
    page = auditor.get("/staff/audit/").content.decode()
    assert "完整" in page and run.heads_digest in page
    assert verify_audit_chains(run.pk) == "intact"  # redelivered: nothing changes
    assert AuditRun.objects.count() == 1


def test_a_full_run_is_requested_once_while_one_is_queued_or_running(auditor: Client) -> None:
    """One run at a time (the worker is not involved: a run stays queued here)."""
    from datetime import timedelta

    from django.utils import timezone

    from triage.audit import RUN_STALE_AFTER, audit_run_request
    from triage.models import AuditRun

    first, created = audit_run_request(user=None)
    assert created and audit_run_request(user=None) == (first, False)
    AuditRun.objects.filter(pk=first.pk).update(started_at=timezone.now())  # running
    assert audit_run_request(user=None) == (first, False)
    AuditRun.objects.filter(pk=first.pk).update(finished_at=timezone.now())
    second, created = audit_run_request(user=None)
    assert created and second.pk != first.pk
    AuditRun.objects.filter(pk=second.pk).update(requested_at=timezone.now() - RUN_STALE_AFTER - timedelta(minutes=1))
    third, created = audit_run_request(user=None)  # a lost run is not waited on forever
    assert created and third.pk not in (first.pk, second.pk)


def test_the_nightly_run_names_a_rewritten_event(auditor: Client, viewed: Case) -> None:
    from triage.models import AuditRun

    with owner_tampering():
        CaseEvent.objects.filter(case=viewed, seq=3).update(kind="forged")
    assert verify_audit_chains() == "broken"
    run = AuditRun.objects.get()
    assert run.requested_by is None and run.broken_cases == 1
    assert f"案件 {viewed.number} 第 3 条" in run.problems[0]
    page = auditor.get("/staff/audit/").content.decode()
    assert "定时任务" in page and "1 件案件的办理记录被篡改或缺失" in page and "forged" not in page


def test_a_run_that_cannot_be_queued_says_so(auditor: Client, viewed: Case, settings: Any) -> None:
    settings.AUDIT_INLINE_MAX_CASES = 0
    from triage.models import AuditRun

    with mock.patch.object(verify_audit_chains, "delay", side_effect=ConnectionRefusedError):
        assert auditor.post("/staff/audit/verify/", {"case": ""}).status_code == 302
    assert AuditRun.objects.get().state == "failed"
    assert "任务队列不可用" in auditor.get("/staff/audit/").content.decode()
    # The next request starts a new run instead of waiting on the failed one.
    published: list[int] = []
    with mock_delay(published):
        auditor.post("/staff/audit/verify/", {"case": ""})
    assert len(published) == 1 and AuditRun.objects.count() == 2


@contextlib.contextmanager
def mock_delay(published: list[int]) -> Iterator[None]:
    """Record what would be handed to the broker (after the outage above)."""
    with mock.patch.object(verify_audit_chains, "delay", side_effect=lambda run_id: published.append(run_id)):
        yield


# --- the access log's filters: input that names nothing is said so; dates narrow it ---------


def test_a_case_number_that_names_no_case_is_said_so(auditor: Client, viewed: Case) -> None:
    page = auditor.get("/staff/audit/", {"case": "QF2026999"}).content.decode()
    assert 'id="filter-errors"' in page and "找不到该案件" in page
    assert viewed.number not in page.split('id="access-records"')[1]
    assert viewed.number in auditor.get("/staff/audit/", {"case": viewed.number.lower()}).content.decode()


def test_the_log_narrows_by_date(auditor: Client, viewed: Case) -> None:
    today = timezone.localdate()
    AccessRecord.objects.update(at=timezone.now() - timedelta(days=3))
    day = (today - timedelta(days=3)).isoformat()

    def listed(**query: str) -> bool:
        page = auditor.get("/staff/audit/", query).content.decode()
        return viewed.number in page.split('id="access-records"')[1]

    assert listed(since=day, until=day)
    assert not listed(since=today.isoformat())
    assert not listed(until=(today - timedelta(days=4)).isoformat())
    bad = auditor.get("/staff/audit/", {"since": today.isoformat(), "until": day})
    assert bad.status_code == 200 and "结束日期不能早于开始日期" in bad.content.decode()
    assert "日期应在 2000 年至 2099 年之间" in auditor.get("/staff/audit/", {"since": "1900-01-01"}).content.decode()


def test_the_viewer_is_found_whatever_the_case_of_letters(auditor: Client, viewed: Case) -> None:
    assert viewed.number in auditor.get("/staff/audit/", {"username": "OWN-handler"}).content.decode()



def test_the_log_exports_every_filtered_row_without_content(auditor: Client, viewed: Case) -> None:
    import csv
    import io

    from openpyxl import load_workbook

    page = auditor.get("/staff/audit/", {"username": "own-handler"}).content.decode()
    assert 'id="access-exports"' in page and "/staff/audit/access.csv?username=own-handler" in page
    response = auditor.get("/staff/audit/access.csv", {"username": "own-handler"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="qingfeng-access-')
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["时间", "查阅人", "类型", "案件编号", "理由"]
    assert [row[1:] for row in rows[1:]] == [["own-handler", "查看内容", viewed.number, "办理需要"]]
    assert "楼道堆放杂物" not in response.content.decode("utf-8-sig")
    empty = auditor.get("/staff/audit/access.csv", {"username": "nobody"})
    assert len(list(csv.reader(io.StringIO(empty.content.decode("utf-8-sig"))))) == 1
    book = load_workbook(io.BytesIO(auditor.get("/staff/audit/access.xlsx").content))
    assert [c.value for c in next(book.active.iter_rows(min_row=2, max_row=2))][1:4] == [
        "own-handler", "查看内容", viewed.number]
    # A reason stored before forms refused control characters does not break the workbook.
    AccessRecord.objects.update(reason="办理\x0b需要\x1b[31m")
    book = load_workbook(io.BytesIO(auditor.get("/staff/audit/access.xlsx").content))
    assert next(book.active.iter_rows(min_row=2, max_row=2))[4].value == "办理需要[31m"


def test_an_export_with_bad_filters_or_too_many_rows_says_why(auditor: Client, viewed: Case,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from triage import audit_views

    bad = auditor.get("/staff/audit/access.csv", {"case": "QF2026999"})
    assert bad.status_code == 400 and "找不到该案件" in bad.content.decode()
    assert auditor.get("/staff/audit/access.pdf").status_code == 404
    monkeypatch.setattr(audit_views, "EXPORT_MAX_ROWS", 0)
    many = auditor.get("/staff/audit/access.xlsx")
    assert many.status_code == 400 and "缩小范围" in many.content.decode()


def test_the_change_record_exports_and_neutralises_formulas(auditor: Client, admin_client: Client) -> None:
    import csv
    import io

    from openpyxl import load_workbook

    response = admin_client.post("/admin/triage/replytemplate/add/",
                                 {"title": "=HYPERLINK(\"x\")", "body": "您好！", "position": 9, "is_active": "on"})
    assert response.status_code == 302
    rows = list(csv.reader(io.StringIO(auditor.get("/staff/audit/changes.csv").content.decode("utf-8-sig"))))
    assert rows[0] == ["时间", "操作人", "操作", "对象类型", "对象", "变更内容"]
    assert rows[1][1:5] == ["admin1", "新增", "答复模板", "'=HYPERLINK(\"x\")"]
    book = load_workbook(io.BytesIO(auditor.get("/staff/audit/changes.xlsx").content))
    cell = next(book.active.iter_rows(min_row=2, max_row=2))[4]
    assert cell.data_type == "s" and cell.value == "'=HYPERLINK(\"x\")"
