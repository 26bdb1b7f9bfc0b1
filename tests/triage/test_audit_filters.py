"""The access log's filters say when the input names nothing, and narrow by date."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from intake.models import AccessRecord
from intake.services import content_view_record
from tests.triage.casework import Team, bring_to, new_case, staff
from triage.models import Case, CaseStatus

pytestmark = pytest.mark.django_db
OWN = "379901-zj"


@pytest.fixture
def auditor(demo_org: None) -> Client:
    client = Client()
    client.force_login(staff("aud", "auditor", "379900-jw"))
    return client


@pytest.fixture
def viewed(demo_org: None) -> Case:
    team = Team(OWN, "own")
    case = bring_to(new_case(department=OWN, body="文化路小区楼道堆放杂物多年。"), CaseStatus.CLOSED, team)
    content_view_record(report=case.report, user=team.handler, reason="办理需要")
    return case


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
