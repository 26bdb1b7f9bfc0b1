"""Deadlines: Chinese working days (2026 National Day, make-up Saturdays), overrides,
policies, pausing, extensions and the 正常 / 临期 / 超期 state."""

from __future__ import annotations

import logging
from datetime import date, timedelta

import pytest
from django.utils import timezone

from intake.models import Channel
from tests.triage.casework import Team, at, bring_to, frozen, new_case
from triage import deadlines, workflow
from triage.deadlines import DeadlineState, compute_due, deadline_state, policy_for
from triage.models import CalendarOverride, Case, CaseStatus, Deadline, DeadlineKind, DeadlinePolicy
from triage.workdays import WorkCalendar, _warned_years
from triage.workflow import WorkflowError

pytestmark = pytest.mark.django_db
WD, CD, H = "working_days", "calendar_days", "hours"


@pytest.fixture
def team(demo_org: None) -> Team:
    return Team("379901-zj", "zj")


def test_the_package_knows_2026_national_day_and_its_make_up_days() -> None:
    calendar = WorkCalendar()
    assert not any(calendar.is_workday(date(2026, 10, d)) for d in range(1, 8))
    assert calendar.is_workday(date(2026, 10, 10))  # Saturday, worked
    assert calendar.is_workday(date(2026, 9, 20))  # Sunday, worked
    assert not calendar.is_workday(date(2026, 9, 25))  # 中秋节 (Friday)


def test_working_days_skip_the_national_day_holiday_and_count_the_make_up_saturday() -> None:
    # Oct 8 (1), Oct 9 (2), Sat Oct 10 (3, make-up day), Mon Oct 12 (4), Tue Oct 13 (5).
    assert compute_due(started_at=at(2026, 9, 30, 10), amount=5, unit=WD) == at(2026, 10, 13, 23, 59, 59)
    assert compute_due(started_at=at(2026, 9, 30, 10), amount=15, unit=WD) == at(2026, 10, 27, 23, 59, 59)


def test_a_make_up_sunday_is_the_next_working_day() -> None:
    assert compute_due(started_at=at(2026, 9, 19, 9), amount=1, unit=WD) == at(2026, 9, 20, 23, 59, 59)


def test_calendar_days_ending_in_the_holiday_run_to_the_next_working_day() -> None:
    assert compute_due(started_at=at(2026, 9, 24, 9), amount=7, unit=CD) == at(2026, 10, 8, 23, 59, 59)
    assert compute_due(started_at=at(2026, 9, 1, 9), amount=15, unit=CD) == at(2026, 9, 16, 23, 59, 59)


def test_hours_are_wall_clock_hours_even_on_holidays() -> None:
    assert compute_due(started_at=at(2026, 9, 30, 22), amount=24, unit=H) == at(2026, 10, 1, 22)
    assert compute_due(started_at=at(2026, 10, 2, 9), amount=2, unit=H) == at(2026, 10, 2, 11)


def test_working_days_left_skip_the_holiday() -> None:
    """From noon on 30 Sep to the end of 13 Oct: 13.5 wall days, but only half of 30 Sep,
    8 and 9 Oct, Saturday 10 Oct (make-up) and 12-13 Oct are working time: 5.5 days."""
    calendar = WorkCalendar()
    due = compute_due(started_at=at(2026, 9, 30, 10), amount=5, unit=WD)
    left = deadlines.workdays_left(due, at(2026, 9, 30, 12), calendar)
    assert left is not None and abs(left - 5.5) < 1e-3
    assert deadlines.workdays_left(due, due, calendar) is None  # due now: nothing left
    assert deadlines.workdays_left(None, at(2026, 9, 30, 12), calendar) is None
    from triage.templatetags.console import workdays

    assert (workdays(left), workdays(0.4), workdays(None)) == ("合 5 个工作日", "不足 1 个工作日", "")


def test_an_override_comes_before_the_package() -> None:
    CalendarOverride.objects.create(date=date(2026, 10, 12), is_workday=False, note="本地节日")
    CalendarOverride.objects.create(date=date(2026, 10, 11), is_workday=True, note="调休上班")
    assert compute_due(started_at=at(2026, 10, 9, 9), amount=2, unit=WD) == at(2026, 10, 11, 23, 59, 59)
    assert compute_due(started_at=at(2026, 10, 9, 9), amount=3, unit=WD) == at(2026, 10, 13, 23, 59, 59)


def test_an_uncovered_year_falls_back_to_weekdays_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    _warned_years.discard(2031)
    calendar = WorkCalendar()
    with caplog.at_level(logging.WARNING, logger="triage.workdays"):
        assert calendar.is_workday(date(2031, 1, 1))  # a Wednesday; the package stops at 2026
        assert not calendar.is_workday(date(2031, 1, 4))  # Saturday
        assert WorkCalendar().is_workday(date(2031, 1, 2))
    assert [r.getMessage() for r in caplog.records].count(caplog.records[0].getMessage()) == 1
    assert "2031" in caplog.records[0].getMessage()


def test_an_override_covers_an_uncovered_year() -> None:
    CalendarOverride.objects.create(date=date(2031, 1, 1), is_workday=False, note="元旦")
    assert not WorkCalendar().is_workday(date(2031, 1, 1))


def test_the_statutory_defaults_are_loaded_by_migration() -> None:
    handle = DeadlinePolicy.objects.get(kind="handle", channel="", matter_type="", priority="")
    assert (handle.amount, handle.unit, handle.max_extensions, handle.max_extension_amount) == (60, WD, 1, 30)
    assert DeadlinePolicy.objects.get(kind="transfer", matter_type="accusation").amount == 5
    assert DeadlinePolicy.objects.get(kind="handle", channel="call", priority="emergency").unit == H


def test_the_most_specific_policy_wins(demo_org: None) -> None:
    petition = new_case()
    assert policy_for(case=petition, kind=DeadlineKind.HANDLE).amount == 60  # type: ignore[union-attr]
    call = new_case(channel=Channel.CALL, source="staff_form")
    Case.objects.filter(pk=call.pk).update(priority="emergency")
    call.refresh_from_db()
    assert (policy_for(case=call, kind=DeadlineKind.HANDLE).amount, policy_for(  # type: ignore[union-attr]
        case=call, kind=DeadlineKind.HANDLE).unit) == (2, H)  # type: ignore[union-attr]
    Case.objects.filter(pk=call.pk).update(priority="ordinary", urgent=True)
    call.refresh_from_db()
    assert policy_for(case=call, kind=DeadlineKind.HANDLE).amount == 24  # type: ignore[union-attr]


def test_an_accusation_gets_5_working_days_to_transfer_and_no_notice_when_anonymous(demo_org: None) -> None:
    case = new_case(matter_type="accusation")
    assert policy_for(case=case, kind=DeadlineKind.TRANSFER).amount == 5  # type: ignore[union-attr]
    assert policy_for(case=case, kind=DeadlineKind.ACCEPTANCE_NOTICE) is None
    assert not Deadline.objects.filter(case=case, kind=DeadlineKind.ACCEPTANCE_NOTICE).exists()


def test_a_named_accuser_gets_an_acceptance_notice_within_15_working_days(demo_org: None) -> None:
    case = new_case(matter_type="accusation", identity={"name": "张三", "mobile": "13800000000"})
    assert case.report.is_named
    policy = policy_for(case=case, kind=DeadlineKind.ACCEPTANCE_NOTICE)
    assert policy is not None and (policy.amount, policy.named_reporter_only) == (15, True)


def test_a_policy_edit_does_not_move_a_running_clock(team: Team) -> None:
    case = new_case()
    clock = Deadline.objects.get(case=case, kind=DeadlineKind.ACCEPTANCE_NOTICE)
    DeadlinePolicy.objects.filter(kind="acceptance_notice").update(amount=1)
    clock.refresh_from_db()
    assert clock.amount == 15


def _handle_clock(team: Team, started: tuple[int, ...]) -> Case:
    with frozen(at(*started)):
        case = bring_to(new_case(), CaseStatus.ACCEPTED, team)
    return case


def test_pausing_across_the_holiday_moves_the_due_date_by_the_working_time_paused(team: Team) -> None:
    DeadlinePolicy.objects.filter(kind="handle", channel="", priority="").update(amount=5)
    case = _handle_clock(team, (2026, 9, 28, 9))
    clock = Deadline.objects.get(case=case, kind=DeadlineKind.HANDLE)
    assert clock.due_at == at(2026, 10, 10, 23, 59, 59)  # Sep 29, 30, Oct 8, 9, Sat 10
    with frozen(at(2026, 9, 29, 12)):
        case = workflow.case_suspend(case=case, user=team.handler, reason="等待反映人补充材料。")
    with frozen(at(2026, 10, 9, 12)):
        case = workflow.case_resume(case=case, user=team.handler)
    clock.refresh_from_db()
    # Paused: half of Sep 29, Sep 30, Oct 8, half of Oct 9 = 3 working days.
    assert clock.paused_seconds == 3 * 86400
    assert clock.due_at == at(2026, 10, 14, 23, 59, 59)
    assert case.due_at == clock.due_at


def test_a_pause_inside_the_holiday_costs_nothing(team: Team) -> None:
    case = _handle_clock(team, (2026, 9, 28, 9))
    before = Deadline.objects.get(case=case, kind=DeadlineKind.HANDLE).due_at
    with frozen(at(2026, 10, 2, 10)):
        workflow.case_suspend(case=case, user=team.handler, reason="等待反映人补充材料。")
    with frozen(at(2026, 10, 6, 10)):
        workflow.case_resume(case=case, user=team.handler)
    assert Deadline.objects.get(case=case, kind=DeadlineKind.HANDLE).due_at == before


def test_a_paused_clock_is_judged_when_it_stopped(team: Team) -> None:
    DeadlinePolicy.objects.filter(kind="handle", channel="", priority="").update(amount=5)
    case = _handle_clock(team, (2026, 9, 28, 9))
    with frozen(at(2026, 9, 29, 12)):
        workflow.case_suspend(case=case, user=team.handler, reason="等待反映人补充材料。")
    clock = Deadline.objects.get(case=case, kind=DeadlineKind.HANDLE)
    assert deadline_state(clock, now=at(2026, 12, 1)) == DeadlineState.NORMAL
    assert deadlines.time_left(clock, now=at(2026, 12, 1)) == clock.due_at - at(2026, 9, 29, 12)


def test_state_is_normal_then_due_soon_then_overdue(team: Team) -> None:
    DeadlinePolicy.objects.filter(kind="handle", channel="", priority="").update(amount=10)
    case = _handle_clock(team, (2026, 11, 2, 9))  # a Monday; due Mon Nov 16 end of day
    clock = Deadline.objects.get(case=case, kind=DeadlineKind.HANDLE)
    assert clock.due_at == at(2026, 11, 16, 23, 59, 59)
    assert deadline_state(clock, now=at(2026, 11, 5, 9)) == DeadlineState.NORMAL
    assert deadline_state(clock, now=at(2026, 11, 14, 9)) == DeadlineState.DUE_SOON
    assert deadline_state(clock, now=at(2026, 11, 17, 0, 0, 1)) == DeadlineState.OVERDUE


def test_a_deadline_met_late_stays_overdue(team: Team) -> None:
    DeadlinePolicy.objects.filter(kind="handle", channel="", priority="").update(amount=1)
    case = _handle_clock(team, (2026, 11, 2, 9))
    with frozen(at(2026, 11, 20, 9)):
        bring_to(case, CaseStatus.CLOSED, team)
    clock = Deadline.objects.get(case=case, kind=DeadlineKind.HANDLE)
    assert clock.met_at == at(2026, 11, 20, 9)
    assert deadline_state(clock) == DeadlineState.OVERDUE


def test_the_due_soon_threshold_is_configurable(team: Team, settings: object) -> None:
    DeadlinePolicy.objects.filter(kind="handle", channel="", priority="").update(amount=10)
    case = _handle_clock(team, (2026, 11, 2, 9))
    clock = Deadline.objects.get(case=case, kind=DeadlineKind.HANDLE)
    settings.DEADLINE_DUE_SOON_FRACTION = 0.5  # type: ignore[attr-defined]
    assert deadline_state(clock, now=at(2026, 11, 10, 9)) == DeadlineState.DUE_SOON


def test_one_extension_of_at_most_30_days_under_the_regulation(team: Team) -> None:
    case = _handle_clock(team, (2026, 9, 28, 9))
    clock = Deadline.objects.get(case=case, kind=DeadlineKind.HANDLE)
    with frozen(at(2026, 11, 2, 9)):  # within the 60 working days
        with pytest.raises(WorkflowError, match="1 至 30"):
            workflow.case_extension_request(case=case, user=team.handler, amount=31, reason="需要调查取证。")
        with pytest.raises(WorkflowError, match="1 至 30"):
            workflow.case_extension_request(case=case, user=team.handler, amount=0, reason="需要调查取证。")
        workflow.case_extension_request(case=case, user=team.handler, amount=30, reason="需要调查取证。")
        with pytest.raises(WorkflowError, match="无权"):
            workflow.case_extension_approve(case=case, user=team.handler, reason="需现场核查，告知反映人")
        workflow.case_extension_approve(case=case, user=team.head, reason="需现场核查，告知反映人")
        extended = Deadline.objects.get(pk=clock.pk)
        assert (extended.extensions, extended.extended_amount) == (1, 30)
        assert extended.due_at == compute_due(started_at=clock.started_at, amount=90, unit=WD)
        with pytest.raises(WorkflowError, match="次数已用完"):
            workflow.case_extension_request(case=case, user=team.handler, amount=5, reason="再次延期。")


def test_the_reporter_is_told_the_new_due_date_and_why(team: Team) -> None:
    from intake.models import Message, MessageKind
    from intake.selectors import report_thread

    case = _handle_clock(team, (2026, 9, 28, 9))
    with frozen(at(2026, 11, 2, 9)):
        workflow.case_extension_request(case=case, user=team.handler, amount=10, reason="内部：需与住建局会商。")
        assert not Message.objects.filter(report=case.report, visible_to_reporter=True, kind=MessageKind.NOTICE).exists()
        with pytest.raises(WorkflowError, match="告知反映人的延期理由"):
            workflow.case_extension_approve(case=case, user=team.head, reason=" ")
        workflow.case_extension_approve(case=case, user=team.head, reason="需现场测量噪声，待检测报告出具后答复。")
    due = timezone.localtime(Deadline.objects.get(case=case, kind=DeadlineKind.HANDLE).due_at)
    bodies = [m.body for m in report_thread(case.report, for_reporter=True)]
    assert bodies == [f"您反映的事项经批准延期办理，办理期限延长至{due.year}年{due.month}月{due.day}日。"
                      "延期理由：需现场测量噪声，待检测报告出具后答复。"]
    assert not any("会商" in body for body in bodies)  # the handler's own reason stays internal


def test_no_extension_once_the_period_has_lapsed(team: Team) -> None:
    """信访工作条例: the period is extended within it; a lapsed clock stays lapsed (and late)."""
    DeadlinePolicy.objects.filter(kind="handle", channel="", priority="").update(amount=2)
    case = _handle_clock(team, (2026, 11, 2, 9))  # due at the end of Wed 4 November
    clock = Deadline.objects.get(case=case, kind=DeadlineKind.HANDLE)
    with frozen(at(2026, 11, 4, 20)):
        workflow.case_extension_request(case=case, user=team.handler, amount=5, reason="需要调查取证。")
    with frozen(at(2026, 11, 5, 9)):
        assert not workflow.can(user=team.head, case=case, action="extension_approve")
        with pytest.raises(WorkflowError, match="办理期限已过"):
            workflow.case_extension_approve(case=case, user=team.head, reason="需现场核查。")
        workflow.case_extension_reject(case=case, user=team.head, reason="已超期，不予延期。")
        with pytest.raises(WorkflowError, match="办理期限已过"):
            workflow.case_extension_request(case=case, user=team.handler, amount=5, reason="再次申请。")
    assert Deadline.objects.get(pk=clock.pk).extended_amount == 0


def test_no_extension_where_the_policy_allows_none(team: Team) -> None:
    case = new_case(channel=Channel.CALL, source="staff_form")
    Case.objects.filter(pk=case.pk).update(urgent=True)
    case = bring_to(Case.objects.get(pk=case.pk), CaseStatus.ACCEPTED, team)
    clock = Deadline.objects.get(case=case, kind=DeadlineKind.HANDLE)
    assert (clock.amount, clock.unit) == (24, H)
    with pytest.raises(WorkflowError, match="次数已用完"):
        workflow.case_extension_request(case=case, user=team.handler, amount=1, reason="需要时间。")


def test_approval_checks_the_policy_again(team: Team) -> None:
    case = _handle_clock(team, (2026, 9, 28, 9))
    with frozen(at(2026, 11, 2, 9)):
        workflow.case_extension_request(case=case, user=team.handler, amount=20, reason="需要调查取证。")
        DeadlinePolicy.objects.filter(kind="handle", channel="", priority="").update(max_extension_amount=10)
        with pytest.raises(WorkflowError, match="超出"):
            workflow.case_extension_approve(case=case, user=team.head, reason="需现场核查，告知反映人")


def test_response_times_are_stored_when_they_happen(team: Team) -> None:
    with frozen(at(2026, 11, 2, 9)):
        case = new_case()
    Case.objects.filter(pk=case.pk).update(created_at=at(2026, 11, 2, 9))
    with frozen(at(2026, 11, 3, 9)):
        case = bring_to(Case.objects.get(pk=case.pk), CaseStatus.IN_PROGRESS, team)
    with frozen(at(2026, 11, 4, 9)):
        case = workflow.case_ask_question(case=case, user=team.handler, text="请问是哪一栋楼？")
    with frozen(at(2026, 11, 5, 9)):
        case = workflow.case_resume(case=case, user=team.handler)
        case = bring_to(case, CaseStatus.CLOSED, team)
    assert case.time_to_acknowledge == timedelta(days=1)
    assert case.time_to_first_reply == timedelta(days=2)
    assert case.time_to_close == timedelta(days=3)


def test_the_console_view_lists_running_clocks_first_with_state_and_time_left(team: Team) -> None:
    with frozen(at(2026, 11, 2, 9)):
        case = bring_to(new_case(), CaseStatus.ACCEPTED, team)
    views = deadlines.case_deadlines(case=case, now=at(2026, 11, 3, 9))
    assert (views[0].kind, views[0].label, views[0].finished) == (DeadlineKind.HANDLE, "办理", False)
    assert {v.kind for v in views if v.finished} == {DeadlineKind.TRANSFER, DeadlineKind.ACCEPTANCE_NOTICE}
    assert views[0].state == DeadlineState.NORMAL and views[0].time_left > timedelta(days=60)


def test_correcting_the_department_of_an_assigned_case_restarts_its_acceptance_clock(demo_org: None) -> None:
    from tests.triage.casework import staff
    from triage.models import Department
    from triage.services import triage_correct

    officer = staff("officer", "triage_officer", "379900-xf")
    with frozen(at(2026, 11, 2, 9)):
        case = new_case()
    with frozen(at(2026, 11, 9, 9)):
        triage_correct(case=case, user=officer, category=None, department=Department.objects.get(code="379901-jy"),
                       reason="属教育局职责。")
    clocks = Deadline.objects.filter(case=case, kind=DeadlineKind.ACCEPTANCE_NOTICE).order_by("pk")
    assert [(c.cancelled_at is not None, c.started_at) for c in clocks] == [
        (True, at(2026, 11, 2, 9)), (False, at(2026, 11, 9, 9))]


def test_the_review_request_window_counts_calendar_days_to_the_end_of_the_last_working_day() -> None:
    """信访工作条例 35: 30 日 from the reply. The day of the reply is not counted, the last day
    runs to its end, and a last day off (National Day) moves to the next working day."""
    assert deadlines.review_request_until(at(2026, 11, 2, 15)) == at(2026, 12, 2, 23, 59, 59)
    assert deadlines.review_request_until(at(2026, 9, 1, 15)) == at(2026, 10, 8, 23, 59, 59)


def test_the_reporter_may_ask_for_review_until_that_end(team: Team) -> None:
    from triage.receivers import case_summary_for_report

    case = bring_to(new_case(), CaseStatus.CLOSED, team)
    Case.objects.filter(pk=case.pk).update(closed_at=at(2026, 9, 1, 15))
    with frozen(at(2026, 10, 8, 20)):
        summary = case_summary_for_report(case.report_id)
        assert summary is not None and summary.can_request_review
        assert not workflow.can(user=team.head, case=Case.objects.get(pk=case.pk), action="archive")
    with frozen(at(2026, 10, 9, 0, 0, 1)):
        summary = case_summary_for_report(case.report_id)
        assert summary is not None and not summary.can_request_review
        assert workflow.can(user=team.head, case=Case.objects.get(pk=case.pk), action="archive")
