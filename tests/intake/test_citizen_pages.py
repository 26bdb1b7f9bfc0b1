"""Tests for the citizen pages: submit, receipt, status, messages, rating, review."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from intake import abuse
from intake.models import Feedback, Message, MessageDirection, MessageKind, Report, ReviewRequest
from intake.services import UploadInput
from tests.factories import SAMPLE_BODY, submit
from triage.deadlines import review_request_until
from triage.models import Case, CaseStatus

pytestmark = pytest.mark.django_db


def _form(**fields: Any) -> dict[str, Any]:
    data = {"form_token": abuse.issue_form_token("submit"), "body": SAMPLE_BODY, "matter_type": "complaint"}
    data.update(fields)
    return data


def _lookup(client: Client, receipt: str) -> Any:
    return client.post("/status/", {"form_token": abuse.issue_form_token("lookup"), "receipt": receipt})


def _access(response: Any) -> str:
    match = re.search(r'name="access" value="([^"]+)"', response.content.decode())
    assert match
    return match.group(1)


def test_it_shows_the_form_in_chinese(client: Client, demo_org: None) -> None:
    response = client.get("/report/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "我要反映" in text and "居民身份证号" in text and "文化路社区" in text
    assert "<script" not in text


def test_it_offers_english(client: Client, demo_org: None) -> None:
    response = client.get("/report/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "Submit a report" in response.content.decode()


def test_it_files_a_report_and_shows_the_receipt_once(client: Client, demo_org: None) -> None:
    response = client.post("/report/", _form(area="379901001002"))
    assert response.status_code == 201
    receipt = re.search(r'id="receipt">([\d ]{19})<', response.content.decode())
    assert receipt
    assert Report.objects.count() == 1
    assert response["Cache-Control"] == "no-store"
    assert "Content-Security-Policy" in response and "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["X-Frame-Options"] == "DENY"


def test_it_answers_bad_input_with_a_chinese_form_error_and_stores_nothing(client: Client, demo_org: None) -> None:
    response = client.post("/report/", _form(body="短", mobile="123", id_number="110101199003077652"))
    assert response.status_code == 400
    text = response.content.decode()
    assert "至少 10 个字" in text and "手机号码" in text and "校验位" in text
    assert not Report.objects.exists()


def test_it_refuses_a_reused_form_token(client: Client, demo_org: None) -> None:
    data = _form()
    assert client.post("/report/", data).status_code == 201
    response = client.post("/report/", data)
    assert response.status_code == 400 and "已经提交过" in response.content.decode()
    assert Report.objects.count() == 1


def test_it_refuses_a_missing_form_token(client: Client, demo_org: None) -> None:
    data = _form()
    data["form_token"] = "forged"
    assert client.post("/report/", data).status_code == 400
    assert not Report.objects.exists()


def test_a_wrong_receipt_gets_the_same_answer_as_an_unknown_one(client: Client, demo_org: None) -> None:
    submit()
    wrong = _lookup(client, "0000 0000 0000 0000")
    assert wrong.status_code == 404 and "未找到与该查询码对应的记录" in wrong.content.decode()
    assert "Cache-Control" in wrong
    # A code that cannot be one (it says nothing about any report) is a form error, not a look-up.
    malformed = _lookup(client, "12ab")
    assert malformed.status_code == 400 and "请输入16位查询码" in malformed.content.decode()


def test_status_lookup_is_limited_without_client_identifiers(client: Client, demo_org: None, settings: Any) -> None:
    settings.RECEIPT_LOOKUPS_PER_MINUTE = 2
    codes = [_lookup(client, f"1111 2222 3333 444{i}").status_code for i in range(4)]
    assert 429 in codes


def test_the_receipt_is_never_in_a_url(client: Client, demo_org: None) -> None:
    result = submit()
    response = _lookup(client, result.receipt or "")
    assert response.status_code == 200
    assert (result.receipt or "") not in response.content.decode()


def test_status_shows_case_thread_and_accepts_a_message(client: Client, demo_org: None) -> None:
    from intake.services import message_post

    result = submit()
    message_post(report=result.report, direction=MessageDirection.TO_REPORTER, kind=MessageKind.QUESTION,
                 text="请补充具体楼栋号。")
    page = _lookup(client, result.receipt or "")
    assert "已登记" in page.content.decode() and "请补充具体楼栋号" in page.content.decode()
    response = client.post("/status/message/", {"access": _access(page), "body": "3号楼2单元。"})
    assert response.status_code == 200 and "留言已发送" in response.content.decode()
    answer = Message.objects.get(direction=MessageDirection.FROM_REPORTER)
    assert answer.kind == MessageKind.ANSWER


def test_an_empty_message_is_refused(client: Client, demo_org: None) -> None:
    result = submit()
    page = _lookup(client, result.receipt or "")
    response = client.post("/status/message/", {"access": _access(page), "body": ""})
    assert response.status_code == 400 and "请填写内容" in response.content.decode()
    assert not Message.objects.exists()


def test_a_forged_access_token_is_refused(client: Client, demo_org: None) -> None:
    submit()
    response = client.post("/status/message/", {"access": "forged", "body": "你好你好你好"})
    assert response.status_code == 403
    assert not Message.objects.exists()


def test_rating_and_review_only_after_closing(client: Client, demo_org: None) -> None:
    result = submit()
    page = _lookup(client, result.receipt or "")
    access = _access(page)
    assert client.post("/status/feedback/", {"access": access, "rating": "satisfied"}).status_code == 400
    closed = timezone.now()
    Case.objects.filter(report=result.report).update(status=CaseStatus.CLOSED, closed_at=closed)
    page = _lookup(client, result.receipt or "")
    assert "评价办理结果" in page.content.decode() and "申请复查" in page.content.decode()
    last_day = timezone.localdate(review_request_until(closed)).isoformat()
    assert f"最迟可在 {last_day} 当天申请复查" in page.content.decode()
    response = client.post("/status/feedback/", {"access": _access(page), "rating": "unsatisfied", "comment": "没有解决"})
    assert response.status_code == 200 and Feedback.objects.get().rating == "unsatisfied"
    response = client.post("/status/review/", {"access": _access(page), "reason": "问题依旧存在，申请复查。"})
    assert response.status_code == 200 and ReviewRequest.objects.count() == 1


def test_review_is_refused_after_the_window(client: Client, demo_org: None, settings: Any) -> None:
    result = submit()
    # Past the window on any day of the year (a last day off moves the end to the next working day).
    closed = timezone.now() - timedelta(days=settings.REVIEW_REQUEST_WINDOW_DAYS + 15)
    Case.objects.filter(report=result.report).update(status=CaseStatus.CLOSED, closed_at=closed)
    page = _lookup(client, result.receipt or "")
    response = client.post("/status/review/", {"access": _access(page), "reason": "问题依旧存在，申请复查。"})
    assert response.status_code == 400 and not ReviewRequest.objects.exists()


def test_no_client_identifier_reaches_the_application(client: Client, demo_org: None, caplog: Any) -> None:
    caplog.set_level("DEBUG")
    response = client.post("/report/", _form(), REMOTE_ADDR="203.0.113.77", HTTP_USER_AGENT="CanaryAgent/1.0",
                           HTTP_X_FORWARDED_FOR="198.51.100.9")
    assert response.status_code == 201
    assert "203.0.113.77" not in caplog.text and "CanaryAgent" not in caplog.text and "198.51.100.9" not in caplog.text


def test_citizen_forms_work_from_a_browser_that_sends_no_referrer(demo_org: None) -> None:
    # Browsers send "Origin: null" under Referrer-Policy: no-referrer; the signed form
    # token, not Django's CSRF check, protects these anonymous forms.
    browser = Client(enforce_csrf_checks=True)
    response = browser.post("/report/", _form(), HTTP_ORIGIN="null")
    assert response.status_code == 201
    assert browser.cookies.get("csrftoken") is None


def test_staff_pages_keep_csrf_and_a_same_origin_referrer(demo_org: None) -> None:
    browser = Client(enforce_csrf_checks=True)
    assert browser.get("/staff/login/")["Referrer-Policy"] == "same-origin"
    response = browser.post("/staff/login/", {"username": "x", "password": "y"}, HTTP_ORIGIN="null")
    assert response.status_code == 403


def test_the_cached_form_shows_a_renamed_place(client: Client, demo_org: None,
                                               django_capture_on_commit_callbacks: Any) -> None:
    from intake.models import Area

    assert "望江社区" in client.get("/report/").content.decode()
    area = Area.objects.get(code="379902001002")
    area.name = "望江新村社区"
    with django_capture_on_commit_callbacks(execute=True):
        area.save()
    assert "望江新村社区" in client.get("/report/").content.decode()


def test_each_language_is_named_in_itself(client: Client, demo_org: None) -> None:
    text = client.get("/").content.decode()
    assert 'lang="en">English</option>' in text and ">简体中文</option>" in text


def test_the_receipt_page_offers_no_language_switch_that_would_lose_the_code(client: Client, demo_org: None) -> None:
    response = client.post("/report/", _form())
    assert response.status_code == 201
    assert "set_language" not in response.content.decode() and "/i18n/setlang/" not in response.content.decode()


def test_switching_language_after_a_post_lands_on_the_pages_entry_point(client: Client, demo_org: None) -> None:
    result = submit()
    page = _lookup(client, result.receipt or "").content.decode()
    assert 'name="next" value="/status/"' in page
    sent = client.post("/status/message/", {"access": _access(client.post("/status/", {
        "form_token": abuse.issue_form_token("lookup"), "receipt": result.receipt})), "body": "补充一点情况，请核实。"})
    assert 'name="next" value="/status/"' in sent.content.decode()
    assert 'name="next" value="/report/"' in client.get("/report/").content.decode()  # a GET page keeps its own


def test_a_closed_case_shows_when_it_was_closed_instead_of_a_deadline(client: Client, demo_org: None) -> None:
    result = submit()
    closed = timezone.now() - timedelta(days=3)
    Case.objects.filter(report=result.report).update(status=CaseStatus.CLOSED, closed_at=closed)
    text = _lookup(client, result.receipt or "").content.decode()
    assert f"已于 {timezone.localtime(closed):%Y-%m-%d} 办结" in text and "受理后确定" not in text


def test_an_unknown_page_is_answered_in_chinese_with_the_sites_own_page(client: Client) -> None:
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    text = response.content.decode()
    assert "页面不存在" in text and "返回首页" in text and "清风" in text


def test_an_action_the_page_no_longer_offers_says_why_it_was_refused(client: Client, demo_org: None) -> None:
    result = submit()
    access = _access(_lookup(client, result.receipt or ""))
    response = client.post("/status/feedback/", {"access": access, "rating": "satisfied"})
    assert response.status_code == 400 and "办结后才能评价" in response.content.decode()
    response = client.post("/status/review/", {"access": access, "reason": "问题依旧存在，申请复查。"})
    assert response.status_code == 400 and "当前不能申请复查" in response.content.decode()
    assert not Feedback.objects.exists() and not ReviewRequest.objects.exists()


def test_a_form_with_errors_asks_for_the_files_again(client: Client, demo_org: None) -> None:
    response = client.post("/report/", _form(body="短"))
    assert response.status_code == 400 and "如有附件，请重新选择后再提交" in response.content.decode()


def test_a_refused_lookup_keeps_the_code_typed(client: Client, demo_org: None, settings: Any) -> None:
    """Sent too soon after the page loaded, or mistyped: the code stays in the field, so
    the citizen sends it again or fixes one digit instead of typing sixteen."""
    receipt = submit().receipt
    assert receipt is not None
    settings.FORM_TOKEN_MIN_AGE_SECONDS = 60
    early = _lookup(client, receipt)
    assert early.status_code == 400 and "提交过快" in early.content.decode()
    assert f'value="{receipt}"' in early.content.decode()
    settings.FORM_TOKEN_MIN_AGE_SECONDS = 0
    typo = _lookup(client, "1111 2222 3333 4444")
    assert typo.status_code == 404 and 'value="1111 2222 3333 4444"' in typo.content.decode()
    assert _lookup(client, receipt).status_code == 200


@pytest.mark.parametrize("path", ["/", "/report/", "/status/", "/healthz"])
def test_pages_answer_head_like_get(client: Client, demo_org: None, path: str) -> None:
    # /healthz may answer 503 here (no worker runs for this test): HEAD answers as GET does.
    assert client.head(path).status_code == client.get(path).status_code != 405


def test_sms_reminders_without_a_mobile_number_are_refused_not_dropped(client: Client, demo_org: None) -> None:
    response = client.post("/report/", _form(sms_opt_in="on"))
    assert response.status_code == 400 and "选择短信提醒需要填写手机号码" in response.content.decode()
    assert not Report.objects.exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"body": ""}, "请填写反映内容。"),
        ({"body": "字" * 20001}, "不能超过 20000 个字（现在 20001 个字）。"),
        ({"title": "字" * 501}, "不能超过 500 个字（现在 501 个字）。"),
        ({"accused": "某\x00单位"}, "含有无效字符。"),
        ({"area": "999999"}, "所选地点已不存在，请重新选择。"),
    ],
)
def test_form_errors_are_plain_chinese_not_djangos_own(client: Client, demo_org: None, fields: dict[str, str],
                                                       message: str) -> None:
    response = client.post("/report/", _form(**fields))
    text = response.content.decode()
    assert response.status_code == 400 and message in text
    assert "确保该变量" not in text and "不允许是用空字符串" not in text and "选择一个有效的选项" not in text
    assert not Report.objects.exists()


def test_one_submission_names_every_problem(client: Client, demo_org: None) -> None:
    response = client.post("/report/", _form(body="", mobile="123", id_number="123"))
    text = response.content.decode()
    assert response.status_code == 400
    assert "请填写反映内容" in text and "11位大陆手机号码" in text and "应为18位" in text


def test_form_token_refusals_are_translated(client: Client, demo_org: None) -> None:
    data = _form()
    assert client.post("/report/", data).status_code == 201
    response = client.post("/report/", data, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400 and "already been submitted" in response.content.decode()


def test_the_receipt_page_says_how_to_keep_the_code(client: Client, demo_org: None) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.factories import png_bytes

    text = client.post("/report/", _form()).content.decode()
    assert 'id="receipt-keeping"' in text and "抄在纸上" in text
    assert "删除附件中的拍摄地点" not in text  # nothing was attached
    photo = SimpleUploadedFile("a.png", png_bytes("作者"), content_type="image/png")
    text = client.post("/report/", {**_form(), "attachments": [photo]}).content.decode()
    assert "删除附件中的拍摄地点" in text


def test_an_open_question_is_pointed_out_until_it_is_answered(client: Client, demo_org: None) -> None:
    from intake.services import message_post

    result = submit()
    message_post(report=result.report, direction=MessageDirection.TO_REPORTER, kind=MessageKind.QUESTION,
                 text="请补充具体楼栋号。")
    text = _lookup(client, result.receipt or "").content.decode()
    assert 'id="open-question"' in text and "回答询问" in text
    english = client.post("/status/", {"form_token": abuse.issue_form_token("lookup"), "receipt": result.receipt},
                          HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "waiting for your answer" in english
    answered = client.post("/status/message/", {"access": _access(_lookup(client, result.receipt or "")),
                                                "body": "3号楼2单元。"}).content.decode()
    assert 'id="open-question"' not in answered and "回答询问" not in answered


def test_a_refused_form_far_down_the_page_is_pointed_to_from_the_top(client: Client, demo_org: None) -> None:
    result = submit()
    Case.objects.filter(report=result.report).update(status=CaseStatus.CLOSED, closed_at=timezone.now())
    response = client.post("/status/feedback/", {"access": _access(_lookup(client, result.receipt or ""))})
    text = response.content.decode()
    assert response.status_code == 400
    assert 'href="#feedback"' in text and 'id="feedback"' in text and "请选择满意、基本满意或不满意" in text


def test_a_case_reopened_for_review_shows_the_request_not_its_old_closing(client: Client, demo_org: None) -> None:
    result = submit()
    closed = timezone.now() - timedelta(days=2)
    Case.objects.filter(report=result.report).update(status=CaseStatus.CLOSED, closed_at=closed)
    page = _lookup(client, result.receipt or "")
    response = client.post("/status/review/", {"access": _access(page), "reason": "问题依旧存在，申请复查。"})
    text = response.content.decode()
    assert response.status_code == 200 and 'id="review-requested"' in text
    assert f"已于 {timezone.localtime(closed):%Y-%m-%d} 办结" not in text


@pytest.mark.parametrize("path", ["/status/message/", "/status/feedback/", "/status/review/", "/status/attachment/"])
def test_opening_a_status_forms_address_leads_to_the_lookup(client: Client, demo_org: None, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302 and response["Location"] == "/status/"


def test_an_attachment_link_is_one_translated_phrase(client: Client, demo_org: None) -> None:
    from intake.services import reporter_message_post
    from tests.factories import png_bytes

    result = submit()
    reporter_message_post(report=result.report, text="照片", uploads=[UploadInput(name="a.png", data=png_bytes())])
    text = client.post("/status/", {"form_token": abuse.issue_form_token("lookup"), "receipt": result.receipt},
                       HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Download attachment: a.png" in text


def test_a_checkbox_sits_inside_its_label(client: Client, demo_org: None) -> None:
    text = client.get("/report/").content.decode()
    assert re.search(r'<label for="id_sms_opt_in"><input type="checkbox" name="sms_opt_in"', text)
