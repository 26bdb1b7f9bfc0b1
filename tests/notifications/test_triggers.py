"""Case events become notifications in their own transaction, for the right people."""

from __future__ import annotations

import pytest
from django.db import transaction

from notifications.models import Channel, Kind, Notification, NotificationPreference, Status
from tests.notifications.helpers import Office
from tests.triage.casework import bring_to, new_case
from triage import workflow
from triage.models import Department

pytestmark = pytest.mark.django_db


@pytest.fixture
def office(demo_org: None) -> Office:
    return Office()


def to(kind: str, channel: str = Channel.IN_APP) -> set[str]:
    """Who got a `kind` notice in the centre (in_app) or by `channel`."""
    rows = Notification.objects.filter(kind=kind)
    rows = rows.filter(in_app=True) if channel == Channel.IN_APP else rows.filter(channel=channel)
    return set(rows.values_list("recipient__username", flat=True))


def test_a_case_assigned_to_my_department_notifies_its_handlers_and_heads(office: Office) -> None:
    case = new_case()
    assert to(Kind.CASE_ASSIGNED) == {"zj-handler", "zj-drafter", "zj-head"}
    assert to(Kind.CASE_ASSIGNED, Channel.EMAIL) == {"zj-handler", "zj-drafter", "zj-head"}
    rows = Notification.objects.filter(kind=Kind.CASE_ASSIGNED)
    assert rows.count() == 3  # one row per person, whatever the channels
    assert all(row.case_id == case.pk and row.in_app and row.status == Status.PENDING for row in rows)


def test_a_user_who_turned_e_mail_off_gets_in_app_only(office: Office) -> None:
    NotificationPreference.objects.create(user=office.team.drafter, email=False)
    new_case()
    assert "zj-drafter" not in to(Kind.CASE_ASSIGNED, Channel.EMAIL)
    assert "zj-drafter" in to(Kind.CASE_ASSIGNED)
    row = Notification.objects.get(kind=Kind.CASE_ASSIGNED, recipient=office.team.drafter)
    assert (row.channel, row.status, row.sent_at is not None) == (Channel.IN_APP, Status.SENT, True)


def test_a_user_who_turned_in_app_off_gets_e_mail_only(office: Office) -> None:
    NotificationPreference.objects.create(user=office.team.drafter, in_app=False)
    new_case()
    assert "zj-drafter" not in to(Kind.CASE_ASSIGNED)
    assert "zj-drafter" in to(Kind.CASE_ASSIGNED, Channel.EMAIL)


def test_a_user_who_turned_everything_off_gets_nothing(office: Office) -> None:
    NotificationPreference.objects.create(user=office.team.drafter, in_app=False, email=False)
    new_case()
    assert not Notification.objects.filter(recipient=office.team.drafter).exists()


def test_the_citizen_answering_my_question_notifies_me(office: Office) -> None:
    from intake.services import reporter_message_post

    case = bring_to(new_case(), "in_progress", office.team)
    workflow.case_ask_question(case=case, user=office.team.drafter, text="请问具体是哪一栋楼？")
    reporter_message_post(report=case.report, text="是3号楼二单元。")
    assert to(Kind.CITIZEN_ANSWERED) == {"zj-drafter"}


def test_an_extension_request_and_a_reply_for_review_wait_for_the_head(office: Office) -> None:
    case = bring_to(new_case(), "in_progress", office.team)
    workflow.case_extension_request(case=case, user=office.team.handler, amount=5, reason="需要补充调查")
    assert to(Kind.APPROVAL_WAITING) == {"zj-head"}
    bring_to(case, "in_review", office.team)
    assert Notification.objects.filter(kind=Kind.APPROVAL_WAITING, in_app=True).count() == 2


def test_the_heads_notice_says_what_waits_for_approval(office: Office) -> None:
    from notifications.render import render

    case = bring_to(new_case(), "in_progress", office.team)
    workflow.case_extension_request(case=case, user=office.team.handler, amount=5, reason="需要补充调查")
    bring_to(case, "in_review", office.team)
    bodies = {render(n).body.splitlines()[0] for n in Notification.objects.filter(kind=Kind.APPROVAL_WAITING)}
    assert bodies == {"有延期申请待您审批。", "有答复待您审核。"}


def test_a_decided_request_no_longer_waits_in_any_heads_centre(office: Office) -> None:
    case = bring_to(new_case(), "in_progress", office.team)
    workflow.case_extension_request(case=case, user=office.team.handler, amount=5, reason="需要补充调查")
    waiting = Notification.objects.filter(kind=Kind.APPROVAL_WAITING, in_app=True)
    assert waiting.filter(read_at__isnull=True).count() == 1
    workflow.case_extension_approve(case=case, user=office.team.head, reason="需现场核查，告知反映人")
    assert not waiting.filter(read_at__isnull=True).exists()
    case = bring_to(case, "in_review", office.team)
    assert {n.data["event"] for n in waiting.filter(read_at__isnull=True)} == {"submit_review"}
    workflow.case_send_back(case=case, user=office.team.head, reason="请补充整改时限")
    assert not waiting.filter(read_at__isnull=True).exists()


def test_a_decision_goes_back_to_whoever_asked(office: Office) -> None:
    """Sent back, extension approved or refused, transfer returned: the handler who asked
    hears it (nobody else in the department, and not the head who decided)."""
    from notifications.render import render
    from tests.triage.casework import staff

    team = office.team

    def decided() -> list[tuple[str, str]]:
        rows = Notification.objects.filter(kind=Kind.DECIDED, in_app=True).order_by("pk")
        return [(n.recipient.username if n.recipient else "", render(n).body.splitlines()[0]) for n in rows]

    case = bring_to(new_case(), "in_review", team)
    workflow.case_send_back(case=case, user=team.head, reason="请补充整改时限")
    assert decided() == [("zj-drafter", "您提交审核的答复被退回修改。")]
    workflow.case_extension_request(case=case, user=team.handler, amount=5, reason="需要补充调查")
    workflow.case_extension_reject(case=case, user=team.head, reason="可按期完成")
    workflow.case_extension_request(case=case, user=team.handler, amount=5, reason="需现场复测")
    workflow.case_extension_approve(case=case, user=team.head, reason="需现场核查，告知反映人")
    assert decided()[1:] == [("zj-handler", "您的延期申请未获批准。"), ("zj-handler", "您的延期申请已获批准。")]
    staff("rs-handler", "handler", "379901-rs")
    other = new_case()
    workflow.case_transfer(case=other, user=team.drafter, to=Department.objects.get(code="379901-rs"), reason="属人社局职责")
    receiver = staff("rs-handler2", "handler", "379901-rs")
    workflow.case_transfer_return(case=other, user=receiver, reason="不属人社局职责")
    assert decided()[3:] == [("zj-drafter", "您转办的案件被对方退回，请继续办理或另行转办。")]
    assert not Notification.objects.filter(kind=Kind.DECIDED, channel=Channel.WEBHOOK).exists()


def test_a_decision_does_not_reach_someone_who_moved_away(office: Office) -> None:
    from triage.models import StaffProfile

    team = office.team
    case = bring_to(new_case(), "in_review", team)
    StaffProfile.objects.filter(user=team.drafter).update(department=Department.objects.get(code="379901-rs"))
    workflow.case_send_back(case=case, user=team.head, reason="请补充整改时限")
    assert not Notification.objects.filter(kind=Kind.DECIDED).exists()


def test_supervision_tells_the_handlers(office: Office) -> None:
    from tests.triage.casework import staff

    case = new_case()
    leader = staff("leader2", "leadership", "379900-gov")
    workflow.case_supervise(case=case, user=leader)
    assert to(Kind.SUPERVISED) == {"zj-handler", "zj-drafter", "zj-head"}


def test_a_transfer_offer_tells_the_receiving_department(office: Office) -> None:
    from tests.triage.casework import staff

    other = staff("rs-handler", "handler", "379901-rs")
    case = new_case()
    workflow.case_transfer(case=case, user=office.team.handler, to=Department.objects.get(code="379901-rs"),
                           reason="属人社局职责")
    assert to(Kind.TRANSFER_OFFERED) == {other.username}
    # Withdrawn by the sender: the offer no longer waits in the receiver's centre.
    workflow.case_transfer_withdraw(case=case, user=office.team.handler, reason="选错了部门")
    assert not Notification.objects.filter(kind=Kind.TRANSFER_OFFERED, read_at__isnull=True).exists()


def test_nothing_is_notified_when_the_transition_rolls_back(office: Office) -> None:
    case = new_case()
    before = Notification.objects.count()
    def accept_then_fail() -> None:
        with transaction.atomic():
            workflow.case_accept(case=case, user=office.team.handler)
            workflow.case_extension_request(case=case, user=office.team.handler, amount=5, reason="需要补充调查")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        accept_then_fail()
    assert Notification.objects.count() == before


def test_sends_are_queued_after_commit_with_ids_only(office: Office, django_capture_on_commit_callbacks: object) -> None:
    from unittest import mock

    with (mock.patch("notifications.tasks.send_batch.apply_async") as publish,
          django_capture_on_commit_callbacks(execute=True)):  # type: ignore[operator]
        new_case()
    ids = [i for call in publish.call_args_list for i in call.kwargs["args"][0]]
    emails = set(Notification.objects.filter(kind=Kind.CASE_ASSIGNED, channel=Channel.EMAIL).values_list("pk", flat=True))
    assert set(ids) >= emails and all(isinstance(i, int) for i in ids)


def test_a_directory_of_some_departments_answers_for_them_as_the_whole_one(office: Office) -> None:
    """Case events read the staff of their cases' departments only: the same people, roles
    and preferences for those departments; nobody else's, and no leadership."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from notifications.services import HANDLING_ROLES, Directory

    NotificationPreference.objects.create(user=office.team.drafter, email=False)
    NotificationPreference.objects.create(user=office.city_head, in_app=False)
    department = office.team.handler.staff_profile.department_id
    whole, some = Directory(), Directory(departments=[department])
    assert some.staff(department, HANDLING_ROLES) == whole.staff(department, HANDLING_ROLES) != set()
    for person in whole.staff(department, HANDLING_ROLES):
        assert some.channels(person) == whole.channels(person)
    assert set(some.prefs) == {office.team.drafter.pk} and not some.leaders
    asked = Directory(departments=[department], users=[office.city_head.pk])
    assert set(asked.prefs) == {office.team.drafter.pk, office.city_head.pk}
    empty = Department.objects.exclude(pk=department).filter(staff__isnull=True).first()
    assert empty is not None
    with CaptureQueriesContext(connection) as queries:
        nobody = Directory(departments=[empty.pk])
    assert not nobody.by_role and not nobody.prefs
    assert len(queries) == 2  # staff and webhook endpoints; no preferences to read
