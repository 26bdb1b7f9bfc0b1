"""The escalation ladder: overdue → the department's heads; three working days later →
the heads one level up and leadership, with 督办; each step a case event, once."""

from __future__ import annotations

from datetime import datetime

import pytest

from notifications.models import Channel, Escalation, Kind, Notification
from notifications.services import escalation_boundary
from tests.notifications.helpers import Office, clock, scan_at
from tests.triage.casework import at, new_case
from triage.audit import audit_verify
from triage.models import Case, CaseEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def office(demo_org: None) -> Office:
    return Office()


def recipients(kind: str, level: int | None = None) -> set[str]:
    qs = Notification.objects.filter(kind=kind, channel=Channel.EMAIL)
    if level is not None:
        qs = qs.filter(level=level)
    return set(qs.values_list("recipient__username", flat=True))


def test_the_second_step_waits_three_whole_working_days_after_the_due_day() -> None:
    due_day_end = at(2026, 10, 23, 23, 59, 59)  # a Friday
    assert escalation_boundary(at(2026, 10, 28, 9), 3) < due_day_end  # Mon, Tue, Wed not all over
    assert escalation_boundary(at(2026, 10, 29, 0, 1), 3) >= due_day_end


def test_overdue_goes_to_the_head_then_up_a_level_and_to_leadership_with_supervision(office: Office) -> None:
    with clock(at(2026, 9, 28, 10)):
        case = new_case()
    scan_at(at(2026, 10, 24, 9))  # overdue: step 1
    assert recipients(Kind.ESCALATED, 1) == {"zj-head"}
    assert recipients(Kind.OVERDUE) == {"zj-handler", "zj-drafter", "zj-head"}
    events = list(CaseEvent.objects.filter(case=case, kind="escalate").values_list("payload", flat=True))
    assert events == [{"level": 1, "deadline": "acceptance_notice", "to_department": case.department_id}]
    assert not Case.objects.get(pk=case.pk).supervised

    scan_at(at(2026, 10, 28, 18))  # Mon–Wed not all over yet
    assert not Escalation.objects.filter(level=2).exists()

    scan_at(at(2026, 10, 29, 9))
    assert recipients(Kind.ESCALATED, 2) == {"city-zj-head", "city-leader"}
    case = Case.objects.get(pk=case.pk)
    assert case.supervised
    supervise = CaseEvent.objects.get(case=case, kind="supervise")
    assert supervise.actor is None and supervise.actor_kind == "system" and supervise.payload == {"auto": "overdue"}
    assert [e["level"] for e in CaseEvent.objects.filter(case=case, kind="escalate").values_list("payload", flat=True)] == [1, 2]
    # 督办 tells the people handling the case.
    assert recipients(Kind.SUPERVISED) == {"zj-handler", "zj-drafter", "zj-head"}

    before = (Notification.objects.count(), CaseEvent.objects.count())
    scan_at(at(2026, 10, 30, 9))
    scan_at(at(2026, 11, 5, 9))
    assert (Notification.objects.count(), CaseEvent.objects.count()) == before
    assert audit_verify().ok


def test_an_extension_moves_the_clock_so_its_reminders_start_again(office: Office) -> None:
    from triage import workflow

    with clock(at(2026, 9, 28, 10)):
        case = new_case()
        case = workflow.case_accept(case=case, user=office.team.handler)
    handle = case.deadlines.get(kind="handle")
    moment: datetime = handle.due_at.replace(hour=12)
    assert scan_at(moment).due_soon == 3
    with clock(moment):
        workflow.case_extension_request(case=case, user=office.team.handler, amount=10, reason="需现场核查")
        assert recipients(Kind.APPROVAL_WAITING) == {"zj-head"}
        workflow.case_extension_approve(case=case, user=office.team.head, reason="需现场核查，告知反映人")
    assert scan_at(moment).due_soon == 3  # a new due time: a new reminder
    assert scan_at(moment.replace(hour=13)).due_soon == 0
    later = scan_at(handle.due_at.replace(hour=23, minute=59, second=59) + (moment - moment.replace(hour=0)))
    assert later.overdue == 0 and later.escalated_1 == 0


def test_ladder_notices_follow_preferences_and_webhook_subscriptions(office: Office) -> None:
    """The set-based notices of the ladder and its 督办: each recipient on the channels they
    chose, and a webhook subscribed to those kinds (another one is not)."""
    from notifications.models import NotificationPreference, WebhookEndpoint

    hook = WebhookEndpoint.objects.create(name="督查", url="https://example.gov.cn/hook", kinds="escalated, supervised")
    other = WebhookEndpoint.objects.create(name="其他", url="https://example.gov.cn/other", kinds="overdue")
    NotificationPreference.objects.create(user=office.team.head, in_app=False)
    NotificationPreference.objects.create(user=office.leader, email=False)
    with clock(at(2026, 9, 28, 10)):
        case = new_case()
    scan_at(at(2026, 10, 24, 9))
    scan_at(at(2026, 10, 29, 9))
    step1, step2 = Escalation.objects.filter(case=case).order_by("level")
    supervise = CaseEvent.objects.get(case=case, kind="supervise")
    t = office.team
    # key: (in the centre, outgoing channel); the head turned in-app off, the leader e-mail.
    expected = {
        f"escalated:x{step1.pk}:user:{t.head.pk}": (False, "email"),
        f"escalated:x{step1.pk}:webhook:{hook.pk}": (False, "webhook"),
        f"escalated:x{step2.pk}:user:{office.city_head.pk}": (True, "email"),
        f"escalated:x{step2.pk}:user:{office.leader.pk}": (True, "in_app"),
        f"escalated:x{step2.pk}:webhook:{hook.pk}": (False, "webhook"),
        f"supervised:e{supervise.pk}:user:{t.head.pk}": (False, "email"),
        f"supervised:e{supervise.pk}:webhook:{hook.pk}": (False, "webhook"),
        **{f"supervised:e{supervise.pk}:user:{u.pk}": (True, "email") for u in (t.handler, t.drafter)},
    }
    rows = Notification.objects.filter(kind__in=[Kind.ESCALATED, Kind.SUPERVISED])
    assert {n.key: (n.in_app, n.channel) for n in rows} == expected
    # The 超期 notice of the scan goes to the endpoint subscribed to it, not to the other.
    assert list(Notification.objects.filter(kind=Kind.OVERDUE, channel=Channel.WEBHOOK).values_list(
        "endpoint", flat=True)) == [other.pk]
    for n in rows:
        assert n.case_id == case.pk and n.department_id == case.department_id
        assert (n.status, n.sent_at is not None) == (("sent", True) if n.channel == Channel.IN_APP else ("pending", False))
        if n.kind == Kind.ESCALATED:
            assert (n.deadline_kind, n.due_at) == ("acceptance_notice", step1.due_at)
            assert n.level == (1 if n.key.startswith(f"escalated:x{step1.pk}:") else 2)
        else:
            assert (n.deadline_kind, n.due_at, n.level) == ("", None, 0)
    assert audit_verify().ok


def test_a_pause_after_the_due_time_repeats_no_notice_and_no_step(office: Office) -> None:
    """A question to the reporter on an overdue case moves its due time by the pause; the
    lapse is the same one: no second 超期 notice, no second step 1, step 2 once."""
    from triage import workflow

    with clock(at(2026, 9, 28, 10)):
        case = new_case()
    scan_at(at(2026, 10, 24, 9))  # overdue: 超期 notices and step 1
    with clock(at(2026, 10, 26, 10)):
        workflow.case_ask_question(case=case, user=office.team.handler, text="请补充具体地址。")
    with clock(at(2026, 10, 26, 10, 30)):
        workflow.case_resume(case=case, user=office.team.handler)

    def counts() -> tuple[int, int, int]:
        return (Notification.objects.filter(kind__in=[Kind.OVERDUE, Kind.DUE_SOON, Kind.ESCALATED]).count(),
                Escalation.objects.count(), CaseEvent.objects.filter(kind="escalate").count())

    before = counts()
    scan_at(at(2026, 10, 26, 11))
    assert counts() == before
    # Half an hour of working time paused after Friday's end: due early on Monday 26th now,
    # so the three whole working days before step 2 are Mon–Wed (on SQLite as on PostgreSQL).
    scan_at(at(2026, 10, 29, 9))
    assert not Escalation.objects.filter(case=case, level=2).exists()
    scan_at(at(2026, 10, 30, 9))
    scan_at(at(2026, 11, 2, 9))
    assert Escalation.objects.filter(case=case, level=2).count() == 1
    assert Escalation.objects.filter(case=case, level=1).count() == 1


def test_a_pause_in_the_due_soon_window_repeats_no_reminder(office: Office) -> None:
    from triage import workflow

    with clock(at(2026, 9, 28, 10)):
        case = new_case()
    assert scan_at(at(2026, 10, 20, 9)).due_soon == 3
    with clock(at(2026, 10, 20, 10)):
        workflow.case_ask_question(case=case, user=office.team.handler, text="请补充具体地址。")
    with clock(at(2026, 10, 20, 11)):
        workflow.case_resume(case=case, user=office.team.handler)
    assert scan_at(at(2026, 10, 20, 12)).due_soon == 0
    # The hour paused moved the due time past the weekend; the lapse is announced, once.
    assert scan_at(at(2026, 10, 26, 9)).overdue == 3


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_gives_existing_steps_their_period_and_drops_repeats(demo_org: None) -> None:
    """notifications 0006: steps of one period that the old rule (one step per due time)
    repeated after a pause are reduced to the first; a step before an approved extension
    keeps the period before it, so the extended period can still escalate."""
    from datetime import timedelta

    from tests.conftest import migrate_to

    with clock(at(2026, 9, 28, 10)):
        paused, extended = new_case(), new_case()
    scan_at(at(2026, 10, 24, 9))  # step 1 for both acceptance clocks
    try:
        apps = migrate_to([("notifications", "0005_webhook_secret_sealed")])
        step, deadline, event = (apps.get_model(*name) for name in (
            ("notifications", "Escalation"), ("triage", "Deadline"), ("triage", "CaseEvent")))
        first = {x.case_id: x for x in step.objects.all()}
        clock_p = deadline.objects.get(pk=first[paused.pk].deadline_id)
        # As the old rule left them: step 1 again at a due time a pause moved ...
        step.objects.create(deadline_id=clock_p.pk, case_id=paused.pk, level=1,
                            due_at=clock_p.due_at + timedelta(minutes=30), at=at(2026, 10, 27, 9))
        # ... and an extension of 10 approved after step 1 (the old rule allowed it).
        clock_e = deadline.objects.get(pk=first[extended.pk].deadline_id)
        deadline.objects.filter(pk=clock_e.pk).update(extended_amount=10, extensions=1)
        event.objects.create(case_id=extended.pk, seq=99, kind="extension_approve", at=at(2026, 10, 26, 9),
                             payload={"deadline": clock_e.kind, "amount": 10}, prev_hash="0" * 64, hash="1" * 64)
        apps = migrate_to([("notifications", "0007_escalation_per_period_unique")])
        step = apps.get_model("notifications", "Escalation")
        assert list(step.objects.filter(case_id=paused.pk).values_list("pk", "extended_amount")) == [
            (first[paused.pk].pk, 0)]
        assert list(step.objects.filter(case_id=extended.pk).values_list("extended_amount", flat=True)) == [0]
    finally:
        migrate_to([])  # back to the latest schema for the tests after this one
