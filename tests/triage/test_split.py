"""Tests for splitting a report that raises several separate matters into several cases."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.test import Client

from intake import abuse
from intake.handoff import case_summary
from tests.factories import submit
from triage.models import Case, CaseStatus, Category, Correction, CorrectionKind, Department, StaffProfile
from triage.services import TriageError, triage_correct, triage_split
from triage.training import correction_examples

pytestmark = pytest.mark.django_db

TWO_MATTERS = "青石镇某服装厂拖欠工人三个月工资不发；另外该厂夜间偷排污水，河水发黑发臭。"


@pytest.fixture
def officer_user(demo_org: None, django_user_model: Any) -> Any:
    user = django_user_model.objects.create_user("officer", password="x-password-123")
    user.groups.add(Group.objects.get(name="triage_officer"))
    StaffProfile.objects.create(user=user, department=Department.objects.get(code="379900-xf"))
    return user


@pytest.fixture
def officer(officer_user: Any) -> Client:
    client = Client()
    client.force_login(officer_user)
    return client


def _queued(body: str = TWO_MATTERS) -> Case:
    case = Case.objects.get(report=submit(body=body).report)
    case.status = CaseStatus.AWAITING_TRIAGE
    case.category = Category.objects.get(name="劳动和社会保障")
    case.department = Department.objects.get(code="379902-rs")
    case.confidence = 0.38
    case.urgent = True
    case.matter_type = "complaint"
    case.queue_reason = "low_confidence"
    case.save()
    return case


def _parts() -> list[tuple[Category, Department, str]]:
    return [
        (Category.objects.get(name="劳动和社会保障"), Department.objects.get(code="379902-rs"), "拖欠工资"),
        (Category.objects.get(name="环境保护"), Department.objects.get(code="379902-sthj"), "偷排污水"),
    ]


def _counts() -> tuple[int, int]:
    return Case.objects.count(), Correction.objects.count()


# --- the service ------------------------------------------------------------------------


def test_it_splits_a_case_into_assigned_cases_of_the_same_report(officer_user: Any) -> None:
    case = _queued()
    cases = triage_split(case=case, user=officer_user, parts=_parts(), reason="欠薪和污染是两件事")
    original, part = cases
    original.refresh_from_db()
    part.refresh_from_db()
    assert original.pk == case.pk and original.split_from is None
    assert (original.status, original.category.name, original.department.code) == (  # type: ignore[union-attr]
        CaseStatus.ASSIGNED, "劳动和社会保障", "379902-rs")
    assert original.queue_reason == ""
    assert part.split_from == original and part.report_id == case.report_id
    assert (part.status, part.category.name, part.department.code) == (  # type: ignore[union-attr]
        CaseStatus.ASSIGNED, "环境保护", "379902-sthj")
    assert part.urgent and part.matter_type == "complaint" and part.created_at == original.created_at
    assert part.fingerprint is None and part.confidence is None
    assert list(original.splits.all()) == [part]
    assert set(case.report.cases.all()) == {original, part}


def test_it_records_who_when_and_why_for_every_part(officer_user: Any) -> None:
    case = _queued()
    original, part = triage_split(case=case, user=officer_user, parts=_parts(), reason="欠薪和污染是两件事")
    records = {c.case_id: c for c in Correction.objects.all()}
    assert set(records) == {original.pk, part.pk}
    for record in records.values():
        assert record.kind == CorrectionKind.SPLIT and record.user == officer_user and record.reason == "欠薪和污染是两件事"
        assert record.old_category and record.old_category.name == "劳动和社会保障"
    assert records[part.pk].note == "偷排污水" and records[part.pk].new_department.code == "379902-sthj"  # type: ignore[union-attr]


def test_three_parts(officer_user: Any) -> None:
    parts = [*_parts(), (Category.objects.get(name="城乡建设"), Department.objects.get(code="379902-zj"), "违建厂房")]
    cases = triage_split(case=_queued(), user=officer_user, parts=parts, reason="三件事")
    assert len(cases) == 3 and Case.objects.filter(split_from=cases[0]).count() == 2


@pytest.mark.parametrize("status", [CaseStatus.RECEIVED, CaseStatus.ASSIGNED, CaseStatus.CLOSED])
def test_it_refuses_a_case_not_awaiting_triage(officer_user: Any, status: str) -> None:
    case = _queued()
    Case.objects.filter(pk=case.pk).update(status=status)
    before = _counts()
    with pytest.raises(TriageError, match="只有待分流的案件可以拆分"):
        triage_split(case=case, user=officer_user, parts=_parts(), reason="两件事")
    assert _counts() == before
    assert Case.objects.get(pk=case.pk).status == status


@pytest.mark.parametrize("reason", ["", "   "])
def test_it_requires_a_reason(officer_user: Any, reason: str) -> None:
    case = _queued()
    before = _counts()
    with pytest.raises(TriageError, match="拆分须说明原因"):
        triage_split(case=case, user=officer_user, parts=_parts(), reason=reason)
    assert _counts() == before and Case.objects.get(pk=case.pk).status == CaseStatus.AWAITING_TRIAGE


@pytest.mark.parametrize("n", [0, 1])
def test_it_requires_at_least_two_parts(officer_user: Any, n: int) -> None:
    case = _queued()
    before = _counts()
    with pytest.raises(TriageError, match="至少需要两项"):
        triage_split(case=case, user=officer_user, parts=_parts()[:n], reason="两件事")
    assert _counts() == before


def test_it_refuses_a_missing_or_inactive_department(officer_user: Any) -> None:
    case = _queued()
    before = _counts()
    category, _department, note = _parts()[1]
    with pytest.raises(TriageError, match="第 2 项：请选择有效的承办部门"):
        triage_split(case=case, user=officer_user, parts=[_parts()[0], (category, None, note)], reason="两件事")
    inactive = Department.objects.get(code="379902-sthj")
    inactive.is_active = False
    inactive.save()
    with pytest.raises(TriageError, match="第 2 项：请选择有效的承办部门"):
        triage_split(case=case, user=officer_user, parts=[_parts()[0], (category, inactive, note)], reason="两件事")
    assert _counts() == before and Case.objects.get(pk=case.pk).status == CaseStatus.AWAITING_TRIAGE


def test_it_refuses_a_missing_category_and_identical_parts(officer_user: Any) -> None:
    case = _queued()
    first = _parts()[0]
    with pytest.raises(TriageError, match="第 1 项：请选择有效的类别"):
        triage_split(case=case, user=officer_user, parts=[(None, first[1], ""), _parts()[1]], reason="两件事")
    with pytest.raises(TriageError, match="不能完全相同"):
        triage_split(case=case, user=officer_user, parts=[first, first], reason="两件事")
    assert Case.objects.count() == 1


def test_a_split_part_cannot_be_split_again(officer_user: Any) -> None:
    _original, part = triage_split(case=_queued(), user=officer_user, parts=_parts(), reason="两件事")
    Case.objects.filter(pk=part.pk).update(status=CaseStatus.AWAITING_TRIAGE)  # e.g. returned by the department
    with pytest.raises(TriageError, match="不能再拆分"):
        triage_split(case=part, user=officer_user, parts=_parts(), reason="再拆")


def test_a_failure_half_way_stores_nothing(officer_user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    case = _queued()
    before = _counts()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise IntegrityError("simulated")

    monkeypatch.setattr(Correction.objects, "bulk_create", broken)
    with pytest.raises(IntegrityError):
        triage_split(case=case, user=officer_user, parts=_parts(), reason="两件事")
    assert _counts() == before
    case.refresh_from_db()
    assert case.status == CaseStatus.AWAITING_TRIAGE and case.department.code == "379902-rs"  # type: ignore[union-attr]


def test_the_database_allows_one_primary_case_per_report(officer_user: Any) -> None:
    case = _queued()
    with pytest.raises(IntegrityError), transaction.atomic():
        Case.objects.create(report=case.report)
    Case.objects.create(report=case.report, split_from=case)  # split parts are not primary
    assert case.report.cases.count() == 2


# --- training ---------------------------------------------------------------------------


def test_split_cases_do_not_teach_the_model(officer_user: Any) -> None:
    original, part = triage_split(case=_queued(), user=officer_user, parts=_parts(), reason="两件事")
    # Even a later plain correction of a split part or the original labels only part of the text.
    triage_correct(case=part, user=officer_user, category=Category.objects.get(name="城乡建设"),
                   department=Department.objects.get(code="379902-zj"), reason="改派")
    triage_correct(case=original, user=officer_user, category=Category.objects.get(name="城乡建设"),
                   department=Department.objects.get(code="379902-zj"), reason="改派")
    plain = _queued("学校食堂卫生差，学生吃了拉肚子。")
    triage_correct(case=plain, user=officer_user, category=Category.objects.get(name="卫生计生"),
                   department=Department.objects.get(code="379902-wj"), reason="食品卫生归卫健委")
    examples = correction_examples()
    assert [(e.label, "食堂" in e.text) for e in examples] == [("卫生计生", True)]


# --- the queue page ---------------------------------------------------------------------


def _form(case: Case, rows: list[tuple[Any, Any, str]], reason: str = "欠薪和污染是两件事") -> dict[str, Any]:
    data: dict[str, Any] = {"part-TOTAL_FORMS": "3", "part-INITIAL_FORMS": "1", "part-MIN_NUM_FORMS": "0",
                            "part-MAX_NUM_FORMS": "6", "split-reason": reason}
    for i in range(3):
        category, department, note = rows[i] if i < len(rows) else ("", "", "")
        data[f"part-{i}-category"] = getattr(category, "pk", category)
        data[f"part-{i}-department"] = getattr(department, "pk", department)
        data[f"part-{i}-note"] = note
    return data


def test_the_case_page_offers_a_split_form(officer: Client) -> None:
    case = _queued()
    page = officer.get(f"/staff/triage/{case.pk}/").content.decode()
    assert "拆分为多件" in page and 'name="part-0-category"' in page and 'name="part-2-department"' in page


def test_the_page_splits_a_case(officer: Client) -> None:
    case = _queued()
    response = officer.post(f"/staff/triage/{case.pk}/split/", _form(case, _parts()), follow=True)
    assert response.redirect_chain[-1][0] == "/staff/triage/"
    part = Case.objects.get(split_from=case)
    assert "已拆分为 2 件并分别交办" in response.content.decode() and part.number in response.content.decode()
    page = officer.get(f"/staff/triage/{case.pk}/").content.decode()
    assert part.number in page and "已拆分出" in page
    page = officer.get(f"/staff/triage/{part.pk}/").content.decode()
    assert case.number in page and "拆分自" in page and "拆分为多件" not in page


def test_the_page_shows_errors_in_chinese_and_stores_nothing(officer: Client) -> None:
    case = _queued()
    before = _counts()
    parts = _parts()
    response = officer.post(f"/staff/triage/{case.pk}/split/", _form(case, parts, reason=""))
    assert response.status_code == 400
    assert "拆分未成功" in response.content.decode() and "该字段是必填项" in response.content.decode()
    response = officer.post(f"/staff/triage/{case.pk}/split/", _form(case, parts[:1]))
    assert response.status_code == 400 and "拆分至少需要两项" in response.content.decode()
    response = officer.post(f"/staff/triage/{case.pk}/split/", _form(case, [parts[0], (parts[1][0], 999999, "")]))
    assert response.status_code == 400 and "选择一个有效的选项" in response.content.decode()
    # The officer's rows come back filled in.
    assert 'value="偷排污水"' in officer.post(
        f"/staff/triage/{case.pk}/split/", _form(case, parts, reason="")).content.decode()
    assert _counts() == before and Case.objects.get(pk=case.pk).status == CaseStatus.AWAITING_TRIAGE


def test_handlers_may_not_split(demo_org: None, django_user_model: Any) -> None:
    user = django_user_model.objects.create_user("h", password="x-password-123")
    user.groups.add(Group.objects.get(name="handler"))
    StaffProfile.objects.create(user=user, department=Department.objects.get(code="379902-rs"))
    client = Client()
    client.force_login(user)
    case = _queued()
    assert client.post(f"/staff/triage/{case.pk}/split/", _form(case, _parts())).status_code == 403
    assert not Case.objects.filter(split_from=case).exists()


def test_split_rejects_get(officer: Client) -> None:
    assert officer.get(f"/staff/triage/{_queued().pk}/split/").status_code == 405


# --- the citizen's status page ------------------------------------------------------------


def test_the_reporter_sees_every_case_of_a_split_report(client: Client, officer_user: Any) -> None:
    result = submit(body=TWO_MATTERS)
    case = Case.objects.get(report=result.report)
    Case.objects.filter(pk=case.pk).update(status=CaseStatus.AWAITING_TRIAGE)
    original, part = triage_split(case=case, user=officer_user, parts=_parts(), reason="两件事")
    summary = case_summary(result.report.pk)
    assert summary is not None and summary.number == original.number
    assert [(p.number, p.status) for p in summary.parts] == [(original.number, "assigned"), (part.number, "assigned")]
    page = client.post("/status/", {"form_token": abuse.issue_form_token("lookup"), "receipt": result.receipt})
    text = page.content.decode()
    assert page.status_code == 200 and "已分为 2 件" in text
    rows = re.findall(r'<td>(QF\d+)</td><td class="part-status">([^<]+)</td>', text)
    assert rows == [(original.number, "已交办"), (part.number, "已交办")]
    assert "偷排污水" not in text  # the officer's notes are for departments, not shown here


def test_a_split_report_is_rated_only_when_every_case_is_closed(officer_user: Any) -> None:
    result = submit(body=TWO_MATTERS)
    case = Case.objects.get(report=result.report)
    Case.objects.filter(pk=case.pk).update(status=CaseStatus.AWAITING_TRIAGE)
    original, part = triage_split(case=case, user=officer_user, parts=_parts(), reason="两件事")
    Case.objects.filter(pk=original.pk).update(status=CaseStatus.CLOSED)
    summary = case_summary(result.report.pk)
    assert summary is not None and not summary.can_rate
    Case.objects.filter(pk=part.pk).update(status=CaseStatus.CLOSED)
    summary = case_summary(result.report.pk)
    assert summary is not None and summary.can_rate


def test_an_unsplit_report_has_no_parts(demo_org: None) -> None:
    result = submit()
    summary = case_summary(result.report.pk)
    assert summary is not None and summary.parts == ()
