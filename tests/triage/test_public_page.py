"""The public transparency page and the head's publish action: counts per department and
month, no login, no cookies, no script, and never the reporter's identity."""

from __future__ import annotations

import pytest
from django.test import Client

from intake.models import Rating
from intake.services import feedback_give
from tests.auth import otp_login
from tests.triage.casework import Team, at, bring_to, frozen, new_case
from triage.dashboard_figures import figures_refresh
from triage.models import Case, CaseStatus, PublishedCase
from triage.publication import PublicationError, case_publish, identity_problems

pytestmark = pytest.mark.django_db
OWN = "379901-zj"
IDENTITY = {"name": "张三丰", "mobile": "13812345678", "id_number": "110101199003071233"}


@pytest.fixture
def closed_case(demo_org: None) -> tuple[Case, Team]:
    team = Team(OWN, "own")
    with frozen(at(2026, 10, 13, 9)):
        case = new_case(department=OWN, identity=IDENTITY)
    Case.objects.filter(pk=case.pk).update(created_at=at(2026, 10, 13, 9))
    with frozen(at(2026, 10, 15, 9)):
        case = bring_to(Case.objects.get(pk=case.pk), CaseStatus.CLOSED, team)
    feedback_give(report=case.report, rating=Rating.BASICALLY_SATISFIED)
    return case, team


@pytest.mark.parametrize("text", ["反映人张三丰称小区楼道堆物", "联系电话 138 1234 5678，已回访", "身份证110101199003071233",
                                  "来电 13900001111 反映", "邮箱 someone@example.com"])
def test_identity_is_refused(closed_case: tuple[Case, Team], text: str) -> None:
    case, team = closed_case
    assert identity_problems(case=case, text=text)
    with pytest.raises(PublicationError):
        case_publish(case=case, user=team.head, title="楼道堆物问题整改", summary=text + "，已督促整改到位。")
    assert not PublishedCase.objects.exists()


def test_only_a_head_publishes(closed_case: tuple[Case, Team]) -> None:
    case, team = closed_case
    with pytest.raises(PermissionError):
        case_publish(case=case, user=team.handler, title="楼道堆物问题整改", summary="某小区楼道长期堆放杂物，已督促物业清理。")
    client = Client()
    client.force_login(team.handler)
    assert client.get(f"/staff/cases/{case.pk}/publish/").status_code == 403


def test_a_head_publishes_and_the_public_sees_it(closed_case: tuple[Case, Team]) -> None:
    case, team = closed_case
    client = otp_login(Client(), team.head)
    refused = client.post(f"/staff/cases/{case.pk}/publish/", {"title": "楼道堆物问题整改",
                                                               "summary": "张三丰反映楼道堆物，已督促物业清理。"})
    assert refused.status_code == 400 and not PublishedCase.objects.exists()
    ok = client.post(f"/staff/cases/{case.pk}/publish/", {"title": "楼道堆物问题整改",
                                                          "summary": "某小区楼道长期堆放杂物，已督促物业清理并建立巡查制度。"})
    assert ok.status_code == 302 and PublishedCase.objects.get().published_at is not None

    figures_refresh()  # what the beat does every minute: the anonymous page never refreshes
    public = Client()
    page = public.get("/public/?month=2026-10")
    html = page.content.decode()
    assert page.status_code == 200 and not page.cookies and "Set-Cookie" not in page
    assert "<script" not in html and "楼道堆物问题整改" in html
    for secret in IDENTITY.values():
        assert secret not in html
    row = page.context["rows"][0]
    assert (str(row["department"]), row["received"], row["closed"], row["satisfaction"]) == ("东城区人民政府", 1, 1, 100.0)
    detail = public.get(f"/public/cases/{PublishedCase.objects.get().pk}/")
    assert detail.status_code == 200 and not detail.cookies


def test_an_open_case_is_not_published(demo_org: None) -> None:
    team = Team(OWN, "own")
    case = new_case(department=OWN)
    with pytest.raises(PublicationError):
        case_publish(case=case, user=team.head, title="楼道堆物问题整改", summary="某小区楼道长期堆放杂物，正在处理。")


@pytest.mark.parametrize(("language", "month"), [("zh-hans", "2026年10月"), ("en", "October 2026")])
def test_the_month_is_written_in_the_reader_language(closed_case: tuple[Case, Team], language: str, month: str) -> None:
    page = Client(HTTP_ACCEPT_LANGUAGE=language).get("/public/?month=2026-10").content.decode()
    assert month in page


def test_the_head_reaches_the_publish_page_from_the_case(closed_case: tuple[Case, Team]) -> None:
    case, team = closed_case
    link = f'href="/staff/cases/{case.pk}/publish/"'
    assert link in otp_login(Client(), team.head).get(f"/staff/cases/{case.pk}/").content.decode()
    handler = Client()
    handler.force_login(team.handler)
    assert link not in handler.get(f"/staff/cases/{case.pk}/").content.decode()


def test_the_public_figures_equal_the_live_counts(closed_case: tuple[Case, Team]) -> None:
    from datetime import date

    from triage.publication import public_statistics

    figures_refresh()
    now = at(2026, 10, 31, 12)
    for month in (date(2026, 10, 1), date(2026, 9, 1)):
        live = public_statistics(month=month, source="live", now=now)
        assert public_statistics(month=month, now=now) == live
    assert live == [] and public_statistics(month=date(2026, 10, 1), now=now)[0]["received"] == 1
