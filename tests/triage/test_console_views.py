"""The handler console: scope, read-only roles, the content grant, every transition through
the console's POST, bad input, notes, templates, attachments and the queue's query count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from intake.models import AccessRecord, Message, MessageKind
from intake.selectors import report_thread
from intake.services import reporter_message_post
from intake.staff_auth import otp_required
from tests.auth import otp_login
from tests.factories import png_bytes
from tests.triage.casework import Team, bring_to, new_case, staff
from triage.deadlines import compute_due
from triage.models import Case, CaseEvent, CaseStatus, Deadline, DeadlineKind, Department, ReplyTemplate

pytestmark = pytest.mark.django_db
S = CaseStatus
OWN, OTHER = "379901-zj", "379902-zj"


@pytest.fixture
def team(demo_org: None) -> Team:
    return Team(OWN, "own")


def client_for(user: User) -> Client:
    """Signed in; past the TOTP step for roles that need it (heads may reveal identities)."""
    if otp_required(user):
        return otp_login(Client(), user)
    client = Client()
    client.force_login(user)
    return client


def act(client: Client, case: Case, action: str, **fields: object) -> int:
    data = {"action": action, **{f"{action}-{k}": v for k, v in fields.items()}}
    return client.post(f"/staff/cases/{case.pk}/act/", data).status_code


def status_of(case: Case) -> str:
    return Case.objects.get(pk=case.pk).status


# --- scope ----------------------------------------------------------------------------------


def test_a_handler_sees_only_their_department(team: Team) -> None:
    own, other = new_case(department=OWN), new_case(department=OTHER)
    client = client_for(team.handler)
    page = client.get("/staff/cases/").content.decode()
    assert own.number in page and other.number not in page
    assert client.get(f"/staff/cases/{own.pk}/").status_code == 200
    assert client.get(f"/staff/cases/{other.pk}/").status_code == 404
    assert act(client, other, "accept") == 404


def test_a_head_also_sees_sub_departments(team: Team) -> None:
    below = new_case(department=OWN)
    district_head = staff("district-head", "department_head", "379901-gov")
    district_handler = staff("district-handler", "handler", "379901-gov")
    assert below.number in client_for(district_head).get("/staff/cases/").content.decode()
    assert client_for(district_handler).get(f"/staff/cases/{below.pk}/").status_code == 404


def test_a_transfer_offered_to_a_department_is_visible_there(team: Team) -> None:
    case = new_case(department=OTHER)
    Case.objects.filter(pk=case.pk).update(transfer_to=Department.objects.get(code=OWN))
    page = client_for(team.handler).get(f"/staff/cases/{case.pk}/").content.decode()
    assert "接收转办" in page


def test_staff_without_a_console_role_are_refused(demo_org: None) -> None:
    clerk = staff("clerk-x", "intake_clerk", "379900-xf")
    assert client_for(clerk).get("/staff/cases/").status_code == 403


def test_it_requires_login(demo_org: None) -> None:
    assert Client().get("/staff/cases/").status_code == 302


# --- auditors and leadership ----------------------------------------------------------------


def test_an_auditor_sees_but_cannot_act(team: Team) -> None:
    case = new_case(department=OWN)
    auditor = client_for(staff("aud", "auditor", "379900-jw"))
    assert case.number in auditor.get("/staff/cases/").content.decode()
    page = auditor.get(f"/staff/cases/{case.pk}/").content.decode()
    assert 'id="no-content"' in page and 'id="actions"' not in page
    assert act(auditor, case, "accept") == 403
    assert auditor.post(f"/staff/cases/{case.pk}/note/", {"text": "审计意见"}).status_code == 403
    assert auditor.post(f"/staff/cases/{case.pk}/content/", {"reason": "抽查案件"}).status_code == 403
    assert status_of(case) == S.ASSIGNED and AccessRecord.objects.count() == 0


def test_leadership_sees_content_only_after_a_logged_grant(team: Team) -> None:
    case = new_case(department=OWN, body="文化路小区楼道堆放杂物多年，存在消防隐患，请督促整改。")
    leader = client_for(staff("leader-x", "leadership", "379900-gov"))
    page = leader.get(f"/staff/cases/{case.pk}/").content.decode()
    assert "消防隐患" not in page and "查看理由" in page
    assert AccessRecord.objects.count() == 0
    response = leader.post(f"/staff/cases/{case.pk}/content/", {"reason": ""})
    assert response.status_code == 400 and "查看内容须说明理由" in response.content.decode()
    assert AccessRecord.objects.count() == 0
    for bad, message in (("督办前了解\x0b案情", "控制字符"), ("督办前\x00了解", "含有无效字符")):
        refused = leader.post(f"/staff/cases/{case.pk}/content/", {"reason": bad})
        assert refused.status_code == 400 and message in refused.content.decode()
    response = leader.post(f"/staff/cases/{case.pk}/content/", {"reason": "督办前了解案情"})
    assert response.status_code == 200 and "消防隐患" in response.content.decode()
    record = AccessRecord.objects.get()
    assert (record.kind, record.reason, record.user.username) == ("view_content", "督办前了解案情", "leader-x")


def test_a_handler_reads_content_and_each_view_is_recorded(team: Team) -> None:
    case = new_case(department=OWN, body="文化路小区楼道堆放杂物多年，存在消防隐患，请督促整改。")
    client = client_for(team.handler)
    assert "消防隐患" in client.get(f"/staff/cases/{case.pk}/").content.decode()
    client.get(f"/staff/cases/{case.pk}/")
    assert AccessRecord.objects.filter(report=case.report, kind="view_content", user=team.handler).count() == 2


# --- every transition through the console ---------------------------------------------------


def test_the_main_path_through_the_console(team: Team) -> None:
    case = new_case(department=OWN)
    handler, drafter, head = client_for(team.handler), client_for(team.drafter), client_for(team.head)
    assert act(handler, case, "accept") == 302 and status_of(case) == S.ACCEPTED
    assert act(handler, case, "ask_question", text="请问具体是几号楼？") == 302
    assert Case.objects.get(pk=case.pk).suspended_at is not None
    assert act(handler, case, "start") == 400  # waiting for the citizen
    reporter_message_post(report=case.report, text="是3号楼。")
    assert Case.objects.get(pk=case.pk).suspended_at is None
    assert act(handler, case, "start") == 302 and status_of(case) == S.IN_PROGRESS
    assert act(drafter, case, "draft_reply", text="经核查，已督促物业清理楼道杂物。") == 302
    assert act(drafter, case, "submit_review") == 302 and status_of(case) == S.IN_REVIEW
    assert act(handler, case, "approve") == 403  # heads approve
    assert act(head, case, "send_back", reason="请写明整改完成时间。") == 302 and status_of(case) == S.IN_PROGRESS
    act(drafter, case, "draft_reply", text="经核查，物业已于本周清理楼道杂物。")
    act(drafter, case, "submit_review")
    assert act(head, case, "approve") == 400 and status_of(case) == S.IN_REVIEW  # not ticked: nothing sent
    assert not Message.objects.filter(kind=MessageKind.REPLY, visible_to_reporter=True).exists()
    assert act(head, case, "approve", confirm="on") == 302 and status_of(case) == S.CLOSED
    reply = Message.objects.get(kind=MessageKind.REPLY, visible_to_reporter=True)
    assert reply.author == team.drafter
    Case.objects.filter(pk=case.pk).update(closed_at=timezone.now() - timedelta(days=40))
    assert act(head, case, "archive") == 302 and status_of(case) == S.ARCHIVED


def test_decline_and_return_to_triage(team: Team) -> None:
    declined, returned = new_case(department=OWN), new_case(department=OWN)
    client = client_for(team.handler)
    assert act(client, declined, "decline", reason="该事项已通过诉讼程序处理。") == 302
    assert status_of(declined) == S.NOT_ACCEPTED
    response = client.post(f"/staff/cases/{returned.pk}/act/",
                           {"action": "return_to_triage", "return_to_triage-reason": "不属住建局职责。"}, follow=True)
    assert status_of(returned) == S.AWAITING_TRIAGE
    # Out of the handler's reach now: the list, with the outcome, instead of a 404 on the case.
    assert response.status_code == 200 and response.redirect_chain[-1][0] == "/staff/cases/"
    page = response.content.decode()
    assert "已退回分流" in page and f"案件{returned.number}已不在您的办理范围内" in page


def test_transfer_accept_and_return(team: Team) -> None:
    other_team = Team(OTHER, "oth")
    to = Department.objects.get(code=OTHER)
    case = new_case(department=OWN)
    client = client_for(team.handler)
    assert act(client, case, "transfer", to=to.pk, reason="事发地在西城区。") == 302
    assert Case.objects.get(pk=case.pk).transfer_to == to
    assert act(client_for(other_team.handler), case, "transfer_return", reason="不在本区。") == 302
    assert Case.objects.get(pk=case.pk).transfer_to is None
    # The departments to transfer to are grouped by area, in tree order.
    form = client.get(f"/staff/cases/{case.pk}/").content.decode()
    assert form.index('<optgroup label="清河市">') < form.index('<optgroup label="东城区">')
    # A mistaken transfer is taken back before the other side acts on it.
    act(client, case, "transfer", to=to.pk, reason="事发地在西城区。")
    assert 'id="action-transfer_withdraw"' in client.get(f"/staff/cases/{case.pk}/").content.decode()
    assert act(client, case, "transfer_withdraw", reason="选错了部门。") == 302
    assert Case.objects.get(pk=case.pk).transfer_to is None
    assert Case.objects.get(pk=case.pk).department.code == OWN  # type: ignore[union-attr]
    act(client, case, "transfer", to=to.pk, reason="事发地确在西城区。")
    assert act(client_for(other_team.handler), case, "transfer_withdraw", reason="不是我们的。") == 403
    assert act(client_for(other_team.handler), case, "transfer_accept") == 302
    assert Case.objects.get(pk=case.pk).department == to


def test_extension_suspend_and_supervision(team: Team) -> None:
    case = bring_to(new_case(department=OWN), S.IN_PROGRESS, team)
    handler, head = client_for(team.handler), client_for(team.head)
    assert act(handler, case, "extension_request", amount=10, reason="需现场复测。") == 302
    assert act(head, case, "extension_reject", reason="可按期完成。") == 302
    act(handler, case, "extension_request", amount=10, reason="需现场复测。")
    assert act(head, case, "extension_approve") == 400  # the reason for the reporter is required
    assert act(head, case, "extension_approve", reason="需现场复测，延期后答复。") == 302
    assert Deadline.objects.get(case=case, kind=DeadlineKind.HANDLE, met_at__isnull=True).extended_amount == 10
    assert act(handler, case, "suspend", reason="等待反映人提供材料。") == 302
    assert act(handler, case, "resume") == 302
    leader = client_for(staff("leader-y", "leadership", "379900-gov"))
    assert act(leader, case, "supervise") == 302 and Case.objects.get(pk=case.pk).supervised
    assert "督办" in client_for(team.handler).get("/staff/cases/").content.decode()
    assert act(leader, case, "unsupervise") == 302 and not Case.objects.get(pk=case.pk).supervised


# --- bad input ------------------------------------------------------------------------------


def test_bad_input_is_a_400_in_chinese_and_stores_nothing(team: Team) -> None:
    case = new_case(department=OWN)
    client = client_for(team.handler)
    events, messages = CaseEvent.objects.count(), Message.objects.count()
    response = client.post(f"/staff/cases/{case.pk}/act/", {"action": "decline", "decline-reason": ""})
    assert response.status_code == 400
    page = response.content.decode()
    assert "请按提示填写后再提交。" in page and "请填写此项。" in page
    response = client.post(f"/staff/cases/{case.pk}/act/", {"action": "decline", "decline-reason": " 。"})
    assert response.status_code == 400 and "不予受理须写明理由" in response.content.decode()
    assert status_of(case) == S.ASSIGNED
    assert (CaseEvent.objects.count(), Message.objects.count()) == (events, messages)


def test_an_extension_beyond_the_policy_is_refused(team: Team) -> None:
    case = bring_to(new_case(department=OWN), S.IN_PROGRESS, team)
    client = client_for(team.handler)
    events = CaseEvent.objects.count()
    response = client.post(f"/staff/cases/{case.pk}/act/", {
        "action": "extension_request", "extension_request-amount": "90", "extension_request-reason": "需要更久。"})
    assert response.status_code == 400 and "延期时限须在 1 至 30" in response.content.decode()
    response = client.post(f"/staff/cases/{case.pk}/act/", {
        "action": "extension_request", "extension_request-amount": "abc", "extension_request-reason": "需要更久。"})
    assert response.status_code == 400 and "延期时长须为整数。" in response.content.decode()
    assert CaseEvent.objects.count() == events
    assert Deadline.objects.get(case=case, kind=DeadlineKind.HANDLE, met_at__isnull=True).requested_extension is None


def test_an_unknown_action_is_a_400(team: Team) -> None:
    case = new_case(department=OWN)
    assert act(client_for(team.handler), case, "explode") == 400
    assert act(client_for(team.handler), case, "rate") == 400  # the citizen's, not staff's


def test_an_action_at_the_wrong_moment_is_a_400(team: Team) -> None:
    case = new_case(department=OWN)
    response = client_for(team.handler).post(f"/staff/cases/{case.pk}/act/", {"action": "start"})
    assert response.status_code == 400 and "不能开始办理" in response.content.decode()


def test_it_rejects_get_on_actions(team: Team) -> None:
    case = new_case(department=OWN)
    assert client_for(team.handler).get(f"/staff/cases/{case.pk}/act/").status_code == 405


# --- notes, templates, attachments ----------------------------------------------------------


def test_internal_notes_are_encrypted_and_hidden_from_the_citizen(team: Team) -> None:
    case = new_case(department=OWN)
    client = client_for(team.handler)
    assert client.post(f"/staff/cases/{case.pk}/note/", {"text": ""}).status_code == 400
    assert client.post(f"/staff/cases/{case.pk}/note/", {"text": "已电话联系物业经理。"}).status_code == 302
    note = Message.objects.get(kind=MessageKind.INTERNAL)
    assert "物业经理".encode() not in bytes(note.body_ct) and not note.visible_to_reporter
    assert report_thread(case.report, for_reporter=True) == []
    assert "已电话联系物业经理。" in client.get(f"/staff/cases/{case.pk}/").content.decode()
    assert CaseEvent.objects.filter(case=case, kind="note").count() == 1


def test_a_reply_template_is_added_to_the_text_typed_and_nothing_is_stored(team: Team) -> None:
    case = bring_to(new_case(department=OWN), S.IN_PROGRESS, team)
    template = ReplyTemplate.objects.create(title="测试模板", body="您好！经核查，情况属实。", position=99)
    client = client_for(team.handler)
    page = client.get(f"/staff/cases/{case.pk}/").content.decode()
    assert f'name="template" value="{template.pk}"' in page  # a button of the draft's own form
    url = f"/staff/cases/{case.pk}/act/"
    response = client.post(url, {"action": "draft_reply", "template": template.pk, "draft_reply-text": ""})
    assert response.status_code == 200 and "您好！经核查，情况属实。</textarea>" in response.content.decode()
    response = client.post(url, {"action": "draft_reply", "template": template.pk, "draft_reply-text": "已到现场。"})
    assert "已到现场。\n\n您好！经核查，情况属实。</textarea>" in response.content.decode()
    assert status_of(case) == S.IN_PROGRESS and not Message.objects.filter(report=case.report, kind=MessageKind.REPLY).exists()
    assert not CaseEvent.objects.filter(case=case, kind="draft_reply").exists()
    template.is_active = False
    template.save()
    for bad in (template.pk, "x", "9" * 30):
        response = client.post(url, {"action": "draft_reply", "template": bad, "draft_reply-text": "已到现场。"})
        assert response.status_code == 400 and "已停用或不存在" in response.content.decode()


def test_attachment_download_is_recorded(team: Team) -> None:
    case = new_case(department=OWN, attachments=[("现场.png", png_bytes())])
    attachment = case.report.attachments.get()
    response = client_for(team.handler).post(f"/staff/cases/{case.pk}/attachment/", {"attachment": str(attachment.pk)})
    assert response.status_code == 200 and response.content.startswith(b"\x89PNG")
    assert AccessRecord.objects.filter(kind="download_attachment", user=team.handler).count() == 1
    other = client_for(staff("oth-h", "handler", OTHER))
    assert other.post(f"/staff/cases/{case.pk}/attachment/", {"attachment": str(attachment.pk)}).status_code == 404


# --- the queue --------------------------------------------------------------------------------


def test_the_queue_orders_urgent_then_supervised_then_due(team: Team) -> None:
    plain, supervised, urgent = (new_case(department=OWN) for _ in range(3))
    Case.objects.filter(pk=supervised.pk).update(supervised=True)
    Case.objects.filter(pk=urgent.pk).update(urgent=True)
    page = client_for(team.handler).get("/staff/cases/").content.decode()
    assert page.index(urgent.number) < page.index(supervised.number) < page.index(plain.number)


def test_an_open_case_without_a_running_clock_shows_how_long_it_has_waited(team: Team) -> None:
    # An anonymous 检举控告 before 受理 owes no acceptance notice: no clock runs for it.
    case = new_case(department=OWN, matter_type="accusation")
    assert case.due_at is None and case.status == S.ASSIGNED
    Case.objects.filter(pk=case.pk).update(created_at=timezone.now() - timedelta(days=21))
    client = client_for(team.handler)
    row = client.get("/staff/cases/").content.decode().split(case.number, 1)[1].split("</tr>", 1)[0]
    assert "无计时期限" in row and "已等待" in row and "个工作日" in row
    page = client.get(f"/staff/cases/{case.pk}/").content.decode()
    assert 'id="no-clock"' in page and "没有期限。" not in page
    clocked = new_case(department=OWN)
    assert clocked.due_at is not None
    assert 'id="no-clock"' not in client.get(f"/staff/cases/{clocked.pk}/").content.decode()


def test_filters_and_counts(team: Team) -> None:
    late, fine = new_case(department=OWN), new_case(department=OWN)
    past = timezone.now() - timedelta(days=1)
    Deadline.objects.filter(case=late).update(due_at=past, started_at=past - timedelta(days=20))
    Case.objects.filter(pk=late.pk).update(due_at=past)
    client = client_for(team.handler)
    overdue = client.get("/staff/cases/?deadline_state=overdue").content.decode()
    assert late.number in overdue and fine.number not in overdue
    normal = client.get("/staff/cases/?deadline_state=normal").content.decode()
    assert fine.number in normal and late.number not in normal
    assert "超期" in client.get("/staff/cases/").content.decode()
    accepted = client.get("/staff/cases/?status=accepted").content.decode()
    assert late.number not in accepted
    assert client.get("/staff/cases/?status=bogus&deadline_state=x").status_code == 200


def _queue_queries(client: Client) -> int:
    """Queries of one queue page, not counting the cache's own table (the embedded default
    caches in the database, Redis does not show here)."""
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/staff/cases/?status=all").status_code == 200
    return sum("qingfeng_cache" not in q["sql"] for q in ctx.captured_queries)


def test_the_queue_query_count_does_not_grow_with_cases(team: Team) -> None:
    client = client_for(team.head)
    for _ in range(5):
        new_case(department=OWN)
    _queue_queries(client)  # the first page fills the cached calendar check (a year's holidays entered?)
    few = _queue_queries(client)
    for _ in range(45):
        new_case(department=OWN)
    many = _queue_queries(client)
    assert many == few, (few, many)
    # 7 of them are the session, the user, its TOTP device, groups, permissions and the
    # unread-notification count in the header; 2 read the head's sub-tree of departments
    # (once for the page, once for the tab counts)
    assert few <= 17


def test_the_case_page_query_count_does_not_grow_with_the_thread(team: Team) -> None:
    case = bring_to(new_case(department=OWN), S.IN_PROGRESS, team)
    client = client_for(team.handler)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/staff/cases/{case.pk}/").status_code == 200
        return len(ctx.captured_queries)

    client.post(f"/staff/cases/{case.pk}/note/", {"text": "第一条备注"})
    client.get("/staff/cases/")
    before = count()
    for i in range(10):
        client.post(f"/staff/cases/{case.pk}/note/", {"text": f"第{i}条备注"})
    client.get("/staff/cases/")  # shows (and clears) the saved-note messages
    assert count() == before, before


def test_suspend_the_action_and_suspended_the_state_are_two_words_in_english(team: Team) -> None:
    case = bring_to(new_case(department=OWN), S.IN_PROGRESS, team)
    handler = client_for(team.handler)
    handler.cookies["django_language"] = "en"
    assert ">Suspend</button>" in handler.get(f"/staff/cases/{case.pk}/").content.decode()
    act(handler, case, "suspend", reason="等待反映人提供材料。")
    assert " · Suspended</td>" in handler.get("/staff/cases/").content.decode()


def test_accept_is_accept_in_english_not_the_apps_name(team: Team) -> None:
    case = new_case(department=OWN)
    handler = client_for(team.handler)
    handler.cookies["django_language"] = "en"
    assert ">Accept</button>" in handler.get(f"/staff/cases/{case.pk}/").content.decode()


def test_a_pending_extension_shows_its_length_and_the_new_due_time(team: Team) -> None:
    case = bring_to(new_case(department=OWN), S.IN_PROGRESS, team)
    handler, head = client_for(team.handler), client_for(team.head)
    form = handler.get(f"/staff/cases/{case.pk}/").content.decode()
    assert "可延长 1 至 30 工作日" in form  # the policy's bound, before anyone submits a number
    act(handler, case, "extension_request", amount=10, reason="需现场复测。")
    clock = Deadline.objects.get(case=case, kind=DeadlineKind.HANDLE, met_at__isnull=True)
    page = head.get(f"/staff/cases/{case.pk}/").content.decode()
    assert "延期申请待审批：延长 10 工作日" in page and "个工作日）" in page  # time left, in working days too
    due = compute_due(started_at=clock.started_at, amount=clock.amount + 10, unit=clock.unit,
                      paused_seconds=clock.paused_seconds)
    assert timezone.localtime(due).strftime("%Y-%m-%d %H:%M") in page
    assert "延期待审批" in head.get("/staff/cases/").content.decode()
    act(head, case, "extension_approve", reason="需现场复测，延期后答复。")
    assert Deadline.objects.get(pk=clock.pk).due_at == due
    assert "延期待审批" not in head.get("/staff/cases/").content.decode()


def test_a_draft_sent_back_is_revised_not_retyped(team: Team) -> None:
    case = bring_to(new_case(department=OWN), S.IN_REVIEW, team)
    assert act(client_for(team.head), case, "send_back", reason="请补充整改时限。") == 302
    drafter = client_for(team.drafter)
    page = drafter.get(f"/staff/cases/{case.pk}/").content.decode()
    assert "经核查，已督促物业清理楼道杂物。</textarea>" in page


def test_a_head_reveals_a_named_reporter_only_with_a_recorded_reason(team: Team) -> None:
    """DESIGN: a named reporter's identity is shown only on an explicit, logged reveal."""
    named = new_case(department=OWN, identity={"name": "王五", "mobile": "13800138000"})
    head, handler = client_for(team.head), client_for(team.handler)
    page = head.get(f"/staff/cases/{named.pk}/").content.decode()
    assert 'id="reveal"' in page and "王五" not in page
    url = f"/staff/cases/{named.pk}/identity/"
    refused = head.post(url, {"reason": ""})
    assert refused.status_code == 400 and "须说明理由" in refused.content.decode()
    assert not AccessRecord.objects.filter(kind="reveal_identity").exists()
    shown = head.post(url, {"reason": "核实举报线索，需联系反映人。"})
    text = shown.content.decode()
    assert shown.status_code == 200 and "王五" in text and "13800138000" in text
    assert shown["Cache-Control"] == "no-store"
    record = AccessRecord.objects.get(kind="reveal_identity")
    assert (record.user_id, record.reason) == (team.head.pk, "核实举报线索，需联系反映人。")
    assert "王五" not in head.get(f"/staff/cases/{named.pk}/").content.decode()  # never kept
    # A handler sees that the reporter is named, and cannot reveal.
    assert 'id="reveal"' not in handler.get(f"/staff/cases/{named.pk}/").content.decode()
    assert handler.post(url, {"reason": "想看看是谁反映的。"}).status_code == 403
    # A head of another department does not reach the case; an anonymous report has no one to reveal.
    assert client_for(Team(OTHER, "oth").head).post(url, {"reason": "核实举报线索。"}).status_code == 404
    anonymous = new_case(department=OWN)
    assert "匿名" in head.get(f"/staff/cases/{anonymous.pk}/").content.decode()
    assert head.post(f"/staff/cases/{anonymous.pk}/identity/", {"reason": "核实举报线索。"}).status_code == 403
    assert AccessRecord.objects.filter(kind="reveal_identity").count() == 1


def test_a_transfer_only_offered_does_not_open_the_identity(team: Team) -> None:
    """The receiving head sees the offered case but may send it back: no reveal before it
    is theirs."""
    other = Team(OTHER, "oth")
    named = new_case(department=OTHER, identity={"name": "王五", "mobile": "13800138000"})
    act(client_for(other.handler), named, "transfer", to=Department.objects.get(code=OWN).pk, reason="事发地在东城区。")
    head = client_for(team.head)
    assert head.get(f"/staff/cases/{named.pk}/").status_code == 200
    assert 'id="reveal"' not in head.get(f"/staff/cases/{named.pk}/").content.decode()
    assert head.post(f"/staff/cases/{named.pk}/identity/", {"reason": "核实举报线索。"}).status_code == 403
    assert not AccessRecord.objects.filter(kind="reveal_identity").exists()


def test_head_requests_on_the_case_page_record_no_view(team: Team) -> None:
    """HEAD is refused where a GET decrypts content and records the view (link checkers)."""
    case = new_case(department=OWN)
    before = AccessRecord.objects.count()
    assert client_for(team.handler).head(f"/staff/cases/{case.pk}/").status_code == 405
    assert AccessRecord.objects.count() == before


def test_a_reply_with_a_templates_blank_left_in_is_refused(team: Team) -> None:
    ReplyTemplate.objects.create(title="测试模板", body="您好！经核查：\n（核实情况）\n特此答复。", position=99)
    case = bring_to(new_case(department=OWN), S.IN_PROGRESS, team)
    client = client_for(team.handler)
    drafts = Message.objects.filter(kind=MessageKind.REPLY).count()
    response = client.post(f"/staff/cases/{case.pk}/act/",
                           {"action": "draft_reply", "draft_reply-text": "您好！经核查：\n（核实情况）\n特此答复。"})
    text = response.content.decode()
    assert response.status_code == 400 and "未填写的模板内容：（核实情况）" in text
    assert "（核实情况）\n特此答复。</textarea>" in text  # kept for editing
    assert Message.objects.filter(kind=MessageKind.REPLY).count() == drafts and status_of(case) == S.IN_PROGRESS
    filled = "您好！经核查：楼道杂物已于本周清理（见现场照片）。\n特此答复。"
    assert act(client, case, "draft_reply", text=filled) == 302 and status_of(case) == S.DRAFTED
