"""The case state machine: every transition, its guards, its events and its effects."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User

from intake.models import Message, MessageKind
from intake.selectors import report_thread
from intake.services import SubmissionError, feedback_give, reporter_message_post, review_request
from tests.triage.casework import Team, bring_to, fresh, new_case, staff
from triage import workflow
from triage.models import Case, CaseEvent, CaseStatus, Deadline, DeadlineKind, Department
from triage.receivers import case_summary_for_report
from triage.services import triage_accept
from triage.workflow import WorkflowError

pytestmark = pytest.mark.django_db
S = CaseStatus


@pytest.fixture
def team(demo_org: None) -> Team:
    return Team("379901-zj", "zj")


@pytest.fixture
def leader(demo_org: None) -> User:
    return staff("leader", "leadership", "379900-gov")


def kinds(case: Case) -> list[str]:
    return list(CaseEvent.objects.filter(case=case).order_by("seq").values_list("kind", flat=True))


def open_kinds(case: Case) -> set[str]:
    return set(Deadline.objects.filter(case=case, met_at__isnull=True, cancelled_at__isnull=True)
               .values_list("kind", flat=True))


def test_a_new_case_is_registered_with_an_event_and_a_transfer_clock(demo_org: None) -> None:
    case = new_case(route=False)
    assert kinds(case) == ["register", "route"]
    assert open_kinds(case) == {DeadlineKind.TRANSFER}
    first = CaseEvent.objects.get(case=case, seq=1)
    assert (first.from_status, first.to_status, first.actor_kind) == ("", S.RECEIVED, "system")


def test_routing_meets_the_transfer_clock_and_starts_the_acceptance_notice(demo_org: None) -> None:
    case = new_case()
    assert case.status == S.ASSIGNED
    assert open_kinds(case) == {DeadlineKind.ACCEPTANCE_NOTICE}
    assert Deadline.objects.get(case=case, kind=DeadlineKind.TRANSFER).met_at is not None
    assert case.due_at == Deadline.objects.get(case=case, kind=DeadlineKind.ACCEPTANCE_NOTICE).due_at


def test_the_whole_journey_to_archive(team: Team, leader: User) -> None:
    case = new_case()
    case = workflow.case_accept(case=case, user=team.handler)
    assert case.status == S.ACCEPTED and case.time_to_acknowledge is not None
    assert open_kinds(case) == {DeadlineKind.HANDLE}
    case = workflow.case_start(case=case, user=team.handler)
    case = workflow.case_draft_reply(case=case, user=team.drafter, text="已督促物业清理。")
    case = workflow.case_submit_for_review(case=case, user=team.drafter)
    assert [m.kind for m in report_thread(case.report, for_reporter=True)] == []
    case = workflow.case_approve(case=case, user=team.head)
    assert case.status == S.CLOSED and case.closed_at and case.time_to_close and case.time_to_first_reply
    assert open_kinds(case) == set()
    assert [m.kind for m in report_thread(case.report, for_reporter=True)] == [MessageKind.REPLY]
    feedback_give(report=case.report, rating="satisfied")
    case = Case.objects.get(pk=case.pk)
    assert case.status == S.RATED
    assert case.closed_at is not None
    Case.objects.filter(pk=case.pk).update(closed_at=case.closed_at - timedelta(days=31))
    case = workflow.case_archive(case=case, user=leader)
    assert case.status == S.ARCHIVED
    assert kinds(case) == ["register", "route", "accept", "start", "draft_reply", "submit_review", "approve", "rate",
                           "archive"]


def test_the_citizen_sees_the_reply_only_after_approval(team: Team) -> None:
    case = bring_to(new_case(), S.IN_REVIEW, team)
    assert report_thread(case.report, for_reporter=True) == []
    workflow.case_approve(case=case, user=team.head)
    assert len(report_thread(case.report, for_reporter=True)) == 1


def test_a_head_may_not_approve_their_own_draft(team: Team) -> None:
    case = bring_to(new_case(), S.IN_PROGRESS, team)
    case = workflow.case_draft_reply(case=case, user=team.head, text="本人拟写的答复。")
    case = workflow.case_submit_for_review(case=case, user=team.head)
    with pytest.raises(WorkflowError, match="自己拟写"):
        workflow.case_approve(case=case, user=team.head)
    # The button is not offered either, while sending back still is.
    offered = {a.name for a in workflow.actions_for(user=team.head, case=case)}
    assert "approve" not in offered and "send_back" in offered


def test_send_back_returns_the_draft_to_handling(team: Team) -> None:
    case = bring_to(new_case(), S.IN_REVIEW, team)
    with pytest.raises(WorkflowError, match="说明原因"):
        workflow.case_send_back(case=case, user=team.head, reason=" ")
    case = workflow.case_send_back(case=case, user=team.head, reason="答复依据不充分，请补充。")
    assert case.status == S.IN_PROGRESS
    note = Message.objects.get(pk=CaseEvent.objects.get(case=case, kind="send_back").payload["note"])
    assert note.visible_to_reporter is False


def test_submit_for_review_needs_a_draft(team: Team) -> None:
    case = bring_to(new_case(), S.DRAFTED, team)
    Message.objects.filter(kind=MessageKind.REPLY).delete()
    with pytest.raises(WorkflowError, match="拟写答复"):
        workflow.case_submit_for_review(case=case, user=team.handler)


def test_decline_needs_a_reason_tells_the_citizen_and_closes(team: Team) -> None:
    case = new_case()
    with pytest.raises(WorkflowError, match="理由"):
        workflow.case_decline(case=case, user=team.handler, reason="")
    case = workflow.case_decline(case=case, user=team.handler, reason="该事项已通过诉讼程序处理，不属于信访受理范围。")
    assert case.status == S.NOT_ACCEPTED and case.closed_at is not None
    assert [m.kind for m in report_thread(case.report, for_reporter=True)] == [MessageKind.NOTICE]
    assert open_kinds(case) == set()


def test_wrong_state_is_refused_with_a_chinese_message(team: Team) -> None:
    case = new_case()
    with pytest.raises(WorkflowError, match="当前状态（已交办）不能开始办理"):
        workflow.case_start(case=case, user=team.handler)
    with pytest.raises(WorkflowError):
        workflow.case_approve(case=case, user=team.head)
    with pytest.raises(WorkflowError):
        workflow.case_archive(case=case, user=team.head)


def test_return_to_triage_counts_against_routing(team: Team, demo_org: None) -> None:
    case = new_case()
    with pytest.raises(WorkflowError, match="原因"):
        workflow.case_return_to_triage(case=case, user=team.handler, reason="")
    case = workflow.case_return_to_triage(case=case, user=team.handler, reason="不属于住建职责。")
    assert (case.status, case.department, case.misroute_count, case.queue_reason) == (S.AWAITING_TRIAGE, None, 1,
                                                                                       "returned")
    assert open_kinds(case) == {DeadlineKind.TRANSFER}
    event = CaseEvent.objects.get(case=case, kind="return_to_triage")
    assert event.payload["from_department"] == Department.objects.get(code="379901-zj").pk
    with pytest.raises(WorkflowError):
        workflow.case_return_to_triage(case=case, user=team.handler, reason="再退一次。")


def test_triage_queue_actions_write_events_and_start_clocks(demo_org: None) -> None:
    officer = staff("officer", "triage_officer", "379900-xf")
    case = new_case(route=False)
    Case.objects.filter(pk=case.pk).update(department=Department.objects.get(code="379901-zj"))
    case = triage_accept(case=case, user=officer)
    assert case.status == S.ASSIGNED and kinds(case)[-1] == "triage_accept"
    assert open_kinds(case) == {DeadlineKind.ACCEPTANCE_NOTICE}


def test_triage_actions_require_the_triage_role(team: Team) -> None:
    case = new_case(route=False)
    Case.objects.filter(pk=case.pk).update(department=Department.objects.get(code="379901-zj"))
    with pytest.raises(WorkflowError, match="无权"):
        triage_accept(case=case, user=team.handler)


def test_transfer_is_accepted_by_the_receiving_department(team: Team) -> None:
    other = Team("379901-jy", "jy")
    case = workflow.case_accept(case=new_case(), user=team.handler)
    jy = Department.objects.get(code="379901-jy")
    with pytest.raises(WorkflowError, match="原因"):
        workflow.case_transfer(case=case, user=team.handler, to=jy, reason="")
    with pytest.raises(WorkflowError, match="本部门"):
        workflow.case_transfer(case=case, user=team.handler, to=case.department, reason="误转。")  # type: ignore[arg-type]
    case = workflow.case_transfer(case=case, user=team.handler, to=jy, reason="涉及学校管理，属教育局职责。")
    assert case.status == S.ACCEPTED and case.transfer_to == jy
    with pytest.raises(WorkflowError, match="转办待对方接收"):
        workflow.case_start(case=case, user=team.handler)
    with pytest.raises(WorkflowError, match="无权"):
        workflow.case_transfer_accept(case=case, user=team.handler)
    case = workflow.case_transfer_accept(case=case, user=other.handler)
    assert (case.status, case.department, case.transfer_to) == (S.ASSIGNED, jy, None)
    assert open_kinds(case) == {DeadlineKind.ACCEPTANCE_NOTICE}


def test_transfer_may_be_returned_with_a_reason(team: Team) -> None:
    other = Team("379901-jy", "jy")
    jy = Department.objects.get(code="379901-jy")
    case = workflow.case_transfer(case=new_case(), user=team.handler, to=jy, reason="属教育局职责。")
    with pytest.raises(WorkflowError, match="原因"):
        workflow.case_transfer_return(case=case, user=other.head, reason="")
    case = workflow.case_transfer_return(case=case, user=other.head, reason="不属于教育局职责。")
    assert case.transfer_to is None and case.department.code == "379901-zj"  # type: ignore[union-attr]
    with pytest.raises(WorkflowError, match="没有待接收"):
        workflow.case_transfer_accept(case=case, user=other.head)


def test_suspend_and_resume_stop_and_restart_the_clocks(team: Team) -> None:
    case = bring_to(new_case(), S.IN_PROGRESS, team)
    with pytest.raises(WorkflowError, match="未挂起"):
        workflow.case_resume(case=case, user=team.handler)
    case = workflow.case_suspend(case=case, user=team.handler, reason="等待反映人补充材料。")
    assert case.suspended_at is not None
    assert Deadline.objects.get(case=case, kind=DeadlineKind.HANDLE).paused_at is not None
    with pytest.raises(WorkflowError, match="已挂起"):
        workflow.case_draft_reply(case=case, user=team.handler, text="答复。")
    case = workflow.case_resume(case=case, user=team.handler)
    assert case.suspended_at is None
    assert Deadline.objects.get(case=case, kind=DeadlineKind.HANDLE).paused_at is None


def test_the_citizens_answer_resumes_a_case_waiting_for_it(team: Team) -> None:
    case = bring_to(new_case(), S.IN_PROGRESS, team)
    case = workflow.case_ask_question(case=case, user=team.handler, text="请问具体是哪一栋楼？")
    assert case.suspend_reason == "question" and case.first_reply_at is not None
    assert [m.kind for m in report_thread(case.report, for_reporter=True)] == [MessageKind.QUESTION]
    reporter_message_post(report=case.report, text="是3号楼2单元。")
    case = Case.objects.get(pk=case.pk)
    assert case.suspended_at is None
    event = CaseEvent.objects.filter(case=case).order_by("-seq").first()
    assert event is not None and (event.kind, event.actor_kind, event.actor) == ("citizen_answer", "citizen", None)


def test_a_note_from_the_citizen_does_not_resume_a_suspension(team: Team) -> None:
    case = bring_to(new_case(), S.IN_PROGRESS, team)
    workflow.case_suspend(case=case, user=team.handler, reason="等待现场勘查预约。")
    reporter_message_post(report=case.report, text="补充一句。")
    assert Case.objects.get(pk=case.pk).suspended_at is not None


def test_supervision_is_set_and_cleared_by_leadership(team: Team, leader: User) -> None:
    case = new_case()
    case = workflow.case_supervise(case=case, user=leader)
    assert case.supervised and case.supervised_at
    with pytest.raises(WorkflowError, match="已在督办"):
        workflow.case_supervise(case=case, user=leader)
    case = workflow.case_unsupervise(case=case, user=leader)
    assert not case.supervised
    with pytest.raises(WorkflowError, match="未在督办"):
        workflow.case_unsupervise(case=case, user=leader)


def test_extension_request_approve_and_reject(team: Team) -> None:
    case = bring_to(new_case(), S.IN_PROGRESS, team)
    with pytest.raises(WorkflowError, match="没有待审批"):
        workflow.case_extension_approve(case=case, user=team.head, reason="需现场核查，告知反映人")
    case = workflow.case_extension_request(case=case, user=team.handler, amount=10, reason="需要现场核查。")
    with pytest.raises(WorkflowError, match="已有延期申请"):
        workflow.case_extension_request(case=case, user=team.handler, amount=5, reason="再申请。")
    case = workflow.case_extension_reject(case=case, user=team.head, reason="理由不充分。")
    clock = Deadline.objects.get(case=case, kind=DeadlineKind.HANDLE)
    assert clock.requested_extension is None and clock.extensions == 0


def test_archive_waits_for_the_review_window(team: Team) -> None:
    case = bring_to(new_case(), S.CLOSED, team)
    with pytest.raises(WorkflowError, match="复查申请期限未满"):
        workflow.case_archive(case=case, user=team.head)


def test_review_request_reopens_under_the_review_deadline(team: Team) -> None:
    case = bring_to(new_case(), S.CLOSED, team)
    review_request(report=case.report, reason="答复与事实不符，楼道仍未清理。")
    case = Case.objects.get(pk=case.pk)
    assert (case.status, case.review_round) == (S.IN_PROGRESS, 1)
    assert open_kinds(case) == {DeadlineKind.REVIEW}
    # The citizen's summary: reopened is not closed (the earlier closing stays on the case only
    # for the review window).
    assert case.closed_at is not None and case_summary_for_report(case.report_id).closed_at is None  # type: ignore[union-attr]
    case = bring_to(fresh_case(case), S.CLOSED, team)
    assert case_summary_for_report(case.report_id).closed_at == case.closed_at  # type: ignore[union-attr]
    review_request(report=case.report, reason="复核：仍未解决，申请复核。")
    case = bring_to(Case.objects.get(pk=case.pk), S.CLOSED, team)
    assert case.review_round == 2
    with pytest.raises(SubmissionError):
        review_request(report=case.report, reason="第三次申请复查。")


def fresh_case(case: Case) -> Case:
    return Case.objects.get(pk=case.pk)


def test_a_declined_case_under_review_goes_back_to_acceptance(team: Team) -> None:
    case = workflow.case_decline(case=new_case(), user=team.handler, reason="不属于受理范围。")
    review_request(report=case.report, reason="我认为属于受理范围，请复查。")
    case = Case.objects.get(pk=case.pk)
    assert case.status == S.ASSIGNED
    case = workflow.case_accept(case=case, user=team.handler)
    assert open_kinds(case) == {DeadlineKind.REVIEW}


def test_staff_may_not_start_citizen_or_system_transitions(team: Team) -> None:
    case = bring_to(new_case(), S.CLOSED, team)
    with pytest.raises(WorkflowError):
        workflow._authorize("rate", user=team.head, case=case)


def test_actions_for_lists_what_the_user_may_do_now(team: Team, leader: User) -> None:
    case = new_case()
    names = {a.name for a in workflow.actions_for(user=team.handler, case=case)}
    assert names == {"accept", "decline", "return_to_triage", "transfer", "suspend", "ask_question"}
    assert {a.name for a in workflow.actions_for(user=leader, case=case)} == {"supervise"}
    auditor = staff("auditor", "auditor", "379900-jw")
    assert workflow.actions_for(user=auditor, case=case) == []
    labels = {a.label for a in workflow.actions_for(user=team.head, case=case)}
    assert "受理" in labels and "不予受理" in labels


def test_inactive_users_have_no_roles(team: Team) -> None:
    case = new_case()
    User.objects.filter(pk=team.handler.pk).update(is_active=False)
    assert workflow.actions_for(user=fresh(team.handler), case=case) == []


def test_event_payloads_refuse_free_text(team: Team) -> None:
    from triage.audit import event_append

    case = new_case()
    with pytest.raises(ValueError, match="too long"):
        event_append(case=case, kind="x", from_status="", to_status="", payload={"reason": "x" * 65})
    bad: dict[str, Any] = {"score": 0.5}
    with pytest.raises(ValueError, match="ids, codes or numbers"):
        event_append(case=case, kind="x", from_status="", to_status="", payload=bad)


def test_an_overlong_reply_is_refused_with_the_forms_message(team: Team) -> None:
    case = bring_to(new_case(), S.IN_PROGRESS, team)
    with pytest.raises(WorkflowError, match="不能超过"):
        workflow.case_draft_reply(case=case, user=team.handler, text="很长" * 20000)
    assert Case.objects.get(pk=case.pk).status == S.IN_PROGRESS
