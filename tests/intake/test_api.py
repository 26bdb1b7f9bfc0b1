"""Tests for API v1: anonymous submission, status by receipt, staff channels."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from intake.models import Message, Report
from tests.auth import api_token
from tests.factories import SAMPLE_BODY, png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def hotline(demo_org: None, django_user_model: Any) -> APIClient:
    user = django_user_model.objects.create_user("hotline-system", password="x-password-123")
    user.groups.add(Group.objects.get(name="hotline_operator"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(user)}")
    return client


def test_it_accepts_an_anonymous_report(api: APIClient, demo_org: None) -> None:
    attachment = {"name": "photo.png", "content_base64": base64.b64encode(png_bytes("张三")).decode()}
    response = api.post("/api/v1/reports/", {"body": SAMPLE_BODY, "area_code": "379921101202", "attachments": [attachment]},
                        format="json")
    assert response.status_code == 201, response.content
    assert len(response.data["receipt"]) == 16 and response.data["case_number"].startswith("QF")
    assert Report.objects.get().attachments.count() == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "body"),
        ({"body": "短"}, "body"),
        ({"body": SAMPLE_BODY, "matter_type": "x"}, "matter_type"),
        ({"body": SAMPLE_BODY, "identity": {"id_number": "123"}}, "identity.id_number"),
        ({"body": SAMPLE_BODY, "identity": {"sms_opt_in": True}}, "identity.sms_opt_in"),
        ({"body": SAMPLE_BODY, "attachments": [{"name": "a", "content_base64": "!!!"}]}, "attachments"),
        ({"body": SAMPLE_BODY, "attachments": [{"name": "a.pdf", "content_base64": base64.b64encode(b"<html>").decode()}]},
         "attachments"),
        ({"body": SAMPLE_BODY, "area_code": "000000"}, "area_code"),  # the API's field names, not the form's
    ],
)
def test_it_answers_bad_input_with_400_and_field_messages(api: APIClient, demo_org: None, payload: dict[str, Any],
                                                          field: str) -> None:
    response = api.post("/api/v1/reports/", payload, format="json")
    assert response.status_code == 400
    errors = response.json()
    for part in field.split("."):
        assert part in errors, (field, errors)
        errors = errors[part]
    assert not Report.objects.exists()


def test_it_answers_malformed_json_with_400(api: APIClient, demo_org: None) -> None:
    response = api.generic("POST", "/api/v1/reports/", "{not json", content_type="application/json")
    assert response.status_code == 400


def test_a_retry_with_the_same_idempotency_key_creates_one_report(api: APIClient, demo_org: None) -> None:
    payload = {"body": SAMPLE_BODY}
    first = api.post("/api/v1/reports/", payload, format="json", HTTP_IDEMPOTENCY_KEY="client-retry-123")
    second = api.post("/api/v1/reports/", payload, format="json", HTTP_IDEMPOTENCY_KEY="client-retry-123")
    assert first.status_code == second.status_code == 201
    assert first.data["receipt"] == second.data["receipt"] and second["Idempotent-Replayed"] == "true"
    assert Report.objects.count() == 1
    other = api.post("/api/v1/reports/", {"body": SAMPLE_BODY + "补充"}, format="json", HTTP_IDEMPOTENCY_KEY="client-retry-123")
    assert other.status_code == 409 and Report.objects.count() == 1


def test_status_and_messages_take_the_receipt_in_the_body(api: APIClient, demo_org: None) -> None:
    receipt = api.post("/api/v1/reports/", {"body": SAMPLE_BODY}, format="json").data["receipt"]
    status = api.post("/api/v1/status/", {"receipt": receipt}, format="json")
    assert status.status_code == 200 and status.data["status"] == "received"
    posted = api.post("/api/v1/messages/", {"receipt": receipt, "body": "补充：时间是周末晚上。"}, format="json")
    assert posted.status_code == 201 and Message.objects.count() == 1
    assert api.post("/api/v1/status/", {"receipt": "1" * 16}, format="json").status_code == 404
    assert api.post("/api/v1/messages/", {"receipt": receipt, "body": ""}, format="json").status_code == 400


def test_status_by_get_is_not_allowed(api: APIClient) -> None:
    assert api.get("/api/v1/status/").status_code == 405


def test_the_hotline_pushes_a_call(hotline: APIClient) -> None:
    payload = {"channel": "call", "body": SAMPLE_BODY, "caller_number": "0531-88886666", "call_duration_seconds": 300,
               "call_started_at": "2026-11-20T10:00:00+08:00"}
    response = hotline.post("/api/v1/staff/reports/", payload, format="json", HTTP_IDEMPOTENCY_KEY="call-20261120-0001")
    assert response.status_code == 201, response.content
    report = Report.objects.get()
    assert report.channel == "call" and report.call_duration_seconds == 300 and report.source == "api"
    assert report.identity is not None  # the caller number is kept, encrypted, as identity


def test_the_hotline_may_not_log_letters(hotline: APIClient) -> None:
    response = hotline.post("/api/v1/staff/reports/", {"channel": "letter", "body": SAMPLE_BODY}, format="json")
    assert response.status_code == 403 and not Report.objects.exists()


def test_staff_intake_requires_a_token(api: APIClient, demo_org: None) -> None:
    response = api.post("/api/v1/staff/reports/", {"channel": "call", "body": SAMPLE_BODY}, format="json")
    assert response.status_code in (401, 403) and not Report.objects.exists()


def test_a_token_never_stands_in_for_an_account_that_needs_a_second_factor(demo_org: None,
                                                                           django_user_model: Any) -> None:
    head = django_user_model.objects.create_user("head-with-token", password="x-password-123")
    head.groups.add(Group.objects.get(name="hotline_operator"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(head)}")
    head.groups.add(Group.objects.get(name="department_head"))  # promoted after the token was made
    response = client.post("/api/v1/staff/reports/", {"channel": "call", "body": SAMPLE_BODY}, format="json")
    assert response.status_code == 401 and "两步验证" in response.json()["detail"]
    assert not Report.objects.exists()


def test_the_schema_and_docs_are_served_without_remote_assets(api: APIClient) -> None:
    schema = api.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/v1/reports/" in schema.content
    docs = api.get("/api/docs/")
    assert docs.status_code == 200
    assert b"https://" not in docs.content and b"http://cdn" not in docs.content


def test_json_nested_deeper_than_the_decoder_recurses_is_a_400(api: APIClient, demo_org: None) -> None:
    body = '{"body": ' + "[" * 100_000 + "]" * 100_000 + "}"
    for path in ("/api/v1/reports/", "/api/v1/status/", "/api/v1/messages/"):
        response = api.generic("POST", path, body, content_type="application/json")
        assert response.status_code == 400, path
    assert not Report.objects.exists()


def test_json_is_read_as_utf8_whatever_charset_it_claims(api: APIClient, demo_org: None) -> None:
    """RFC 8259: JSON between systems is UTF-8. A latin-1 label must not turn Chinese text
    into mojibake in the stored report; bytes that are not UTF-8 are a 400."""
    import json

    from intake.selectors import report_content

    # Raw bytes: the test client sends them as they are (its stub types only say str).
    utf8: Any = json.dumps({"body": SAMPLE_BODY}, ensure_ascii=False).encode()
    ok = api.generic("POST", "/api/v1/reports/", utf8, content_type="application/json; charset=latin-1")
    assert ok.status_code == 201, ok.content
    assert report_content(Report.objects.get()).body == SAMPLE_BODY
    latin1: Any = '{"body": "caf\u00e9 caf\u00e9 caf\u00e9 caf\u00e9 caf\u00e9"}'.encode("latin-1")
    assert api.generic("POST", "/api/v1/reports/", latin1,
                       content_type="application/json; charset=latin-1").status_code == 400
    assert Report.objects.count() == 1


@pytest.mark.parametrize(("path", "payload", "field"), [
    ("/api/v1/reports/", {"body": 12345678901234567890}, "body"),
    ("/api/v1/reports/", {"body": SAMPLE_BODY, "identity": {"mobile": 13800138000}}, "identity"),
    ("/api/v1/status/", {"receipt": 1234567890123456}, "receipt"),
    ("/api/v1/messages/", {"receipt": "1" * 16, "body": True}, "body"),
])
def test_text_fields_refuse_numbers_and_booleans(api: APIClient, demo_org: None, path: str,
                                                 payload: dict[str, Any], field: str) -> None:
    """A 16-digit receipt sent as a JSON number has lost digits before it arrives."""
    response = api.post(path, payload, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not Report.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"channel": "letter", "received_at": "0001-01-01T00:00:00"}, "received_at"),
        ({"channel": "letter", "received_at": "0001-01-01T00:00:00Z"}, "received_at"),
        ({"channel": "letter", "received_at": "9999-12-31T23:59:59"}, "received_at"),
        ({"channel": "letter", "received_at": "2099-01-01T00:00:00+08:00"}, "received_at"),
        ({"channel": "letter", "postmarked_on": "1999-12-31"}, "postmarked_on"),
        ({"channel": "letter", "received_at": "2026-01-05T09:00:00+08:00", "postmarked_on": "2026-01-06"}, "postmarked_on"),
        ({"channel": "call", "call_started_at": "0001-01-01T00:00:00"}, "call_started_at"),
    ],
)
def test_staff_intake_refuses_dates_nobody_can_mean(demo_org: None, django_user_model: Any, payload: dict[str, Any],
                                                     field: str) -> None:
    user = django_user_model.objects.create_user("clerk-api", password="x-password-123")
    user.groups.add(Group.objects.get(name="intake_clerk"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(user)}")
    response = client.post("/api/v1/staff/reports/", {"body": SAMPLE_BODY, **payload}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Report.objects.exists()
