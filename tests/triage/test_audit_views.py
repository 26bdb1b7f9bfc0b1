"""The auditor's desk: the access log and the hash-chain verification, for auditors only,
and never a word of report content."""

from __future__ import annotations

import pytest
from django.test import Client

from intake.services import content_view_record
from intake.staff_auth import otp_required
from tests.auth import otp_login
from tests.tamper import owner_tampering
from tests.triage.casework import Team, bring_to, new_case, staff
from triage.models import Case, CaseEvent, CaseStatus

pytestmark = pytest.mark.django_db
OWN = "379901-zj"
BODY = "文化路小区楼道堆放杂物多年，存在消防隐患，请督促整改。"


@pytest.fixture
def auditor(demo_org: None) -> Client:
    client = Client()
    client.force_login(staff("aud", "auditor", "379900-jw"))
    return client


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
    assert client.post("/staff/audit/verify/", {"case": ""}).status_code == 403


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
