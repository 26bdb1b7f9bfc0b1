"""Input a citizen, a clerk or a script may send that is valid enough to parse and wrong
enough to break something further on: digits of other scripts, lone surrogates, bodies
that are not objects, forms sent to the JSON API, control characters in staff reasons,
malformed receipts. Each is a clear 4xx (or taken as meant), never a 500, and a malformed
receipt does not use up everyone's look-ups."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from intake.models import Report, ReporterIdentity
from intake.services import reporter_sms_number
from intake.validators import normalize_digits
from tests.factories import SAMPLE_BODY

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clear_throttle")]
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def _raw(api: APIClient, path: str, body: str, **headers: Any) -> Any:
    data: Any = body.encode("utf-8", "surrogatepass")  # the test client sends bytes as they are
    return api.generic("POST", path, data, content_type="application/json", **headers)


def test_digits_of_any_script_are_read_as_ascii_digits(demo_org: None) -> None:
    api = APIClient()
    assert normalize_digits("١٣٨ ００１3-8000") == "13800138000"
    made = api.post("/api/v1/reports/", {"body": SAMPLE_BODY, "identity": {
        "name": "测试", "mobile": "13800138000".translate(ARABIC_INDIC), "sms_opt_in": True}}, format="json")
    assert made.status_code == 201, made.content
    report = Report.objects.get()
    assert reporter_sms_number(report=report) == "13800138000"
    assert ReporterIdentity.objects.filter(report=report, sms_opt_in=True).exists()
    receipt = made.data["receipt"]
    found = api.post("/api/v1/status/", {"receipt": receipt.translate(ARABIC_INDIC)}, format="json")
    assert found.status_code == 200
    unknown = api.post("/api/v1/status/", {"receipt": "7718550603003584".translate(ARABIC_INDIC)}, format="json")
    assert unknown.status_code == 404
    # Digits that are not decimal digits (superscripts) are not digits of a receipt.
    assert api.post("/api/v1/status/", {"receipt": "¹" * 16}, format="json").status_code == 400


@pytest.mark.parametrize(("path", "body", "headers"), [
    ("/api/v1/reports/", {"body": SAMPLE_BODY, "matter_type": "\ud800"}, {}),
    ("/api/v1/reports/", {"body": SAMPLE_BODY, "x": "\udfff"}, {"HTTP_IDEMPOTENCY_KEY": "abcdefgh-anon"}),
    ("/api/v1/reports/", {"body": SAMPLE_BODY, "\ud83d": 1}, {}),
    ("/api/v1/status/", {"receipt": "\ud800" * 16}, {}),
])
def test_a_lone_surrogate_is_a_400(demo_org: None, path: str, body: dict[str, Any], headers: dict[str, str]) -> None:
    response = _raw(APIClient(), path, json.dumps(body), **headers)
    assert response.status_code == 400 and "代理项" in response.json()["detail"]
    assert not Report.objects.exists()
    # A character outside the BMP written as a proper surrogate pair is text like any other.
    paired = _raw(APIClient(), "/api/v1/reports/", json.dumps({"body": SAMPLE_BODY + "😀"}))
    assert paired.status_code == 201


@pytest.mark.parametrize("body", ["null", "[]", '"text"', "3"])
def test_a_body_that_is_not_an_object_is_a_400_in_chinese(demo_org: None, body: str) -> None:
    response = _raw(APIClient(), "/api/v1/reports/", body)
    assert response.status_code == 400 and response.json()["detail"] == "请求体应为一个 JSON 对象。"


def test_the_api_takes_json_only(demo_org: None) -> None:
    api = APIClient()
    form = api.post("/api/v1/reports/", {"body": SAMPLE_BODY})  # multipart, the test client's default
    assert form.status_code == 415
    encoded = api.generic("POST", "/api/v1/reports/", f"body={SAMPLE_BODY}",
                          content_type="application/x-www-form-urlencoded")
    assert encoded.status_code == 415
    assert not Report.objects.exists()


def test_malformed_receipts_do_not_use_up_the_look_ups(demo_org: None, settings: Any) -> None:
    settings.RECEIPT_LOOKUPS_PER_MINUTE = 3
    api = APIClient()
    receipt = api.post("/api/v1/reports/", {"body": SAMPLE_BODY}, format="json").data["receipt"]
    for _ in range(10):
        refused = api.post("/api/v1/status/", {"receipt": "1"}, format="json")
        assert refused.status_code == 400 and "16位" in refused.json()["receipt"][0]
    assert api.post("/api/v1/status/", {"receipt": receipt}, format="json").status_code == 200
    # The citizen page: a malformed code is a form error, not a look-up.
    client = Client()
    page = client.get("/status/")
    token = page.content.decode().split('name="form_token" value="')[1].split('"')[0]
    wrong = client.post("/status/", {"form_token": token, "receipt": "12345"})
    assert wrong.status_code == 400 and "请输入16位查询码" in wrong.content.decode()


def test_a_month_past_any_calendar_is_the_default_month(demo_org: None) -> None:
    assert Client().get("/public/", {"month": "9999999999999999999999-01"}).status_code == 200


def test_the_public_pages_refuse_writes_with_a_405() -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.post("/public/").status_code == 405
    assert client.delete("/public/cases/1/").status_code == 405


def test_framework_messages_read_as_the_products_own() -> None:
    """locale/zh_Hans overrides the stock Chinese of Django's length and NUL messages."""
    from django import forms
    from django.utils import translation

    field = forms.CharField(max_length=5, min_length=2)
    with translation.override("zh-hans"):
        for value, message in (("1234567", "不能超过 5 个字（现在 7 个字）。"), ("1", "至少要 2 个字（现在 1 个字）。"),
                               ("a\x00b", "含有无效字符（空字符），请删除后重新提交。")):
            with pytest.raises(forms.ValidationError) as caught:
                field.clean(value)
            assert caught.value.messages == [message]


def test_a_body_over_the_limit_is_a_json_400_for_api_clients(demo_org: None, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = _raw(APIClient(), "/api/v1/reports/", json.dumps({"body": SAMPLE_BODY * 50}))
    assert response.status_code == 400 and "请求体过大" in response.json()["detail"]
    assert not Report.objects.exists()
    # The default fits the attachments' total, base64-encoded, and the text.
    from config import settings as configured

    assert configured.ATTACHMENT_MAX_TOTAL_BYTES * 4 // 3 + 2**20 < configured.DATA_UPLOAD_MAX_MEMORY_SIZE
