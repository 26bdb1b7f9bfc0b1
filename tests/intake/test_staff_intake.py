"""Tests for the staff intake desk: letters, visits and calls."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from intake.models import Report
from tests.factories import SAMPLE_BODY, png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(clerk: Any) -> Client:
    client = Client()
    client.force_login(clerk)
    return client


def test_it_requires_login(client: Client, demo_org: None) -> None:
    response = client.get("/staff/intake/letter/")
    assert response.status_code == 302 and "/staff/login/" in response["Location"]


def test_it_refuses_users_without_the_role(client: Client, demo_org: None, django_user_model: Any) -> None:
    client.force_login(django_user_model.objects.create_user("nobody", password="x-password-123"))
    assert client.get("/staff/intake/visit/").status_code == 403
    assert client.post("/staff/intake/visit/", {"body": SAMPLE_BODY, "visitor_count": 1}).status_code == 403
    assert not Report.objects.exists()


def test_it_logs_a_letter_with_its_scan(desk: Client) -> None:
    scan = SimpleUploadedFile("scan.png", png_bytes("寄信人"), content_type="image/png")
    response = desk.post("/staff/intake/letter/", {"body": SAMPLE_BODY, "postmarked_on": "2026-11-20",
                                                    "received_on": "2026-11-23", "attachments": [scan]})
    assert response.status_code == 201
    report = Report.objects.get()
    assert report.channel == "letter" and str(report.postmarked_on) == "2026-11-20" and report.attachments.count() == 1
    assert "打印" in response.content.decode()


def test_it_logs_a_group_visit_with_representatives(desk: Client) -> None:
    response = desk.post("/staff/intake/visit/", {"body": SAMPLE_BODY, "visitor_count": 12,
                                                   "representatives": "赵一\n钱二\n孙三"})
    assert response.status_code == 201
    assert Report.objects.get().visitor_count == 12


def test_it_refuses_more_than_five_representatives(desk: Client) -> None:
    response = desk.post("/staff/intake/visit/", {"body": SAMPLE_BODY, "visitor_count": 40,
                                                   "representatives": "\n".join("甲乙丙丁戊己")})
    assert response.status_code == 400 and "不超过5人" in response.content.decode()
    assert not Report.objects.exists()
    for text, message in (("赵一\n" + "钱" * 51, "不超过 50 个字"), ("甲" * 100_000, "不能超过 1000 个字")):
        long = desk.post("/staff/intake/visit/", {"body": SAMPLE_BODY, "visitor_count": 3, "representatives": text})
        assert long.status_code == 400 and message in long.content.decode()
    assert not Report.objects.exists()


def test_it_logs_a_call_and_reads_out_the_receipt(desk: Client) -> None:
    response = desk.post("/staff/intake/call/", {"body": SAMPLE_BODY, "caller_number": "13800138000",
                                                  "call_started_at": "2026-11-24T09:30", "call_duration_seconds": 240})
    assert response.status_code == 201 and "读出查询码" in response.content.decode()
    report = Report.objects.get()
    assert report.channel == "call" and report.call_duration_seconds == 240


def test_a_call_form_with_a_bad_number_is_refused(desk: Client) -> None:
    response = desk.post("/staff/intake/call/", {"body": SAMPLE_BODY, "caller_number": "call-me-maybe!"})
    assert response.status_code == 400 and "来电号码格式不正确" in response.content.decode()
    assert not Report.objects.exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"received_on": "0001-01-01"}, "日期应在 2000 年至 2099 年之间"),
        ({"postmarked_on": "9999-12-31"}, "日期应在 2000 年至 2099 年之间"),
        ({"received_on": "2099-01-01"}, "收信日期不能晚于今天"),
        ({"received_on": "2026-01-05", "postmarked_on": "2026-01-06"}, "邮戳日期不能晚于收信日期"),
    ],
)
def test_a_letter_with_dates_nobody_can_mean_is_refused(desk: Client, fields: dict[str, str], message: str) -> None:
    scan = SimpleUploadedFile("scan.png", png_bytes("寄信人"), content_type="image/png")
    response = desk.post("/staff/intake/letter/", {"body": SAMPLE_BODY, "attachments": [scan], **fields})
    assert response.status_code == 400 and message in response.content.decode()
    assert not Report.objects.exists()


def test_a_call_in_year_one_is_refused(desk: Client) -> None:
    response = desk.post("/staff/intake/call/", {"body": SAMPLE_BODY, "call_started_at": "0001-01-01T00:00"})
    assert response.status_code == 400 and "日期应在 2000 年至 2099 年之间" in response.content.decode()
    assert not Report.objects.exists()


def test_a_call_form_names_every_problem_at_once(desk: Client) -> None:
    response = desk.post("/staff/intake/call/", {"body": SAMPLE_BODY, "caller_number": "abc",
                                                  "call_started_at": "2099-01-01T10:00", "call_duration_seconds": -5})
    text = response.content.decode()
    assert response.status_code == 400
    assert "来电号码格式不正确" in text and "来电时间不能晚于现在" in text and "通话时长不能为负数" in text
    assert not Report.objects.exists()


def test_the_desk_form_starts_with_the_channels_own_facts(desk: Client) -> None:
    text = desk.get("/staff/intake/call/").content.decode()
    assert text.index("来电信息") < text.index('name="caller_number"') < text.index('name="body"') < text.index(
        'name="name"')
    assert "以及反映人的诉求" in text and "以及您的诉求" not in text


def test_a_letters_slip_says_when_it_arrived_and_offers_the_next_one(desk: Client) -> None:
    from datetime import timedelta

    from django.utils import timezone

    received = timezone.localdate() - timedelta(days=3)
    response = desk.post("/staff/intake/letter/", {"body": SAMPLE_BODY, "received_on": received.isoformat()})
    text = response.content.decode()
    assert response.status_code == 201
    assert "收到时间" in text and "登记时间" not in text
    assert "交给或寄给来信人" in text and 'id="log-another" href="/staff/intake/letter/"' in text
