"""No notification carries report content, identity or a receipt: every notice of a
case's whole life, rendered for e-mail, in-app, webhook and SMS, and what the SMS
sender wrote, is checked for the report's canary text and the reporter's details."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail

from intake.models import Rating
from intake.services import feedback_give, reporter_message_post
from notifications import render
from notifications.models import Channel, Kind, Notification, Status, WebhookEndpoint
from notifications.services import digests_send, notification_send
from tests.notifications.helpers import Office, clock, routed_case, scan_at
from tests.triage.casework import at, bring_to
from triage import workflow

pytestmark = pytest.mark.django_db
CANARY = "金丝雀7731号举报内容"
SECRETS = (CANARY, "张三丰", "13912345678", "110101199003077774")


def test_no_notice_contains_the_report_or_the_reporter(demo_org: None, settings: object, tmp_path: Path) -> None:
    settings.SMS_BACKEND = "notifications.sms.FileSMSBackend"  # type: ignore[attr-defined]
    settings.SMS_FILE_PATH = str(tmp_path)  # type: ignore[attr-defined]
    office = Office()
    WebhookEndpoint.objects.create(name="hook", url="http://127.0.0.1:9/")
    with clock(at(2026, 9, 28, 10)):
        case = routed_case(body=f"小区楼道堆放杂物。{CANARY}，请督促整改。", title=f"标题{CANARY}",
                           identity={"name": "张三丰", "mobile": "13912345678", "id_number": "110101199003077774",
                                     "sms_opt_in": True})
        receipt = case.receipt_for_test  # type: ignore[attr-defined]
        case = bring_to(case, "in_progress", office.team)
        workflow.case_ask_question(case=case, user=office.team.handler, text=f"问题{CANARY}")
        reporter_message_post(report=case.report, text=f"回答{CANARY}")
    due = case.deadlines.get(kind="handle").due_at
    scan_at(due - timedelta(days=2))
    scan_at(due + timedelta(days=10))
    with clock(due + timedelta(days=11)):
        case = bring_to(case, "closed", office.team)
        feedback_give(report=case.report, rating=Rating.UNSATISFIED, comment=CANARY)
        digests_send(period="daily")

    kinds = set(Notification.objects.values_list("kind", flat=True))
    assert {Kind.CASE_ASSIGNED, Kind.CITIZEN_ANSWERED, Kind.DUE_SOON, Kind.OVERDUE, Kind.ESCALATED,
            Kind.APPROVAL_WAITING, Kind.SUPERVISED, Kind.DIGEST_DAILY, Kind.CITIZEN_NEWS} <= kinds
    texts = []
    for n in Notification.objects.all():
        rendered = render.render(n)
        texts += [rendered.subject, rendered.body, json.dumps(render.webhook_payload(n), ensure_ascii=False),
                  json.dumps(n.data, ensure_ascii=False), n.key]
        if n.channel in (Channel.EMAIL, Channel.SMS):
            notification_send(n.pk)
    texts += [f"{m.subject}\n{m.body}" for m in mail.outbox]
    sms = [json.loads(p.read_text()) for p in tmp_path.glob("*.json")]
    assert len(sms) == Notification.objects.filter(channel=Channel.SMS, status=Status.SENT).count() >= 2
    assert {s["to"] for s in sms} == {"13912345678"}
    texts += [s["text"] for s in sms]
    assert case.number in "\n".join(texts)
    assert receipt and len(receipt) >= 16
    for secret in (*SECRETS, receipt):
        assert not any(secret in text for text in texts), secret
    assert all(case.number not in s["text"] for s in sms)  # the SMS says only that there is news


def test_a_reporter_who_did_not_opt_in_gets_no_sms(demo_org: None) -> None:
    office = Office()
    case = routed_case(identity={"name": "李四", "mobile": "13900000000", "sms_opt_in": False})
    case = bring_to(case, "in_progress", office.team)
    workflow.case_ask_question(case=case, user=office.team.handler, text="请补充材料。")
    assert not Notification.objects.filter(channel=Channel.SMS).exists()
