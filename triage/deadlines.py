"""Case deadlines: which policy applies, when a clock is due, pausing it while the case
waits for the citizen, extensions, and the 正常 / 临期 / 超期 state.

Units. The regulation (信访工作条例) says "日" without saying which. DESIGN.md counts
Chinese working days, and so do the default policies; an office whose province counts
calendar days sets the policy's unit to calendar_days, and then a period that ends on a
rest day runs to the end of the next working day (民法典 第二百零三条). In both, the day
the clock starts does not count (民法典 第二百零一条) and a period ends at the end of its
last day. Hours (12345 emergencies) are wall-clock hours.

Paused time is measured in the unit's own clock (working seconds for working days, wall
seconds otherwise) and the due time moves on by that much when the clock resumes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from triage.workdays import DAY_SECONDS, WorkCalendar, end_of_day, local_midnight
from triage.workflow_models import Deadline, DeadlinePolicy, DeadlineUnit, Priority

if TYPE_CHECKING:
    from triage.models import Case

logger = logging.getLogger(__name__)


class DeadlineState(models.TextChoices):
    NORMAL = "normal", _("正常")
    DUE_SOON = "due_soon", _("临期")
    OVERDUE = "overdue", _("超期")


def effective_priority(case: Case) -> str:
    """The case's priority; triage's urgency flag lifts an ordinary case to urgent."""
    if case.priority == Priority.ORDINARY and case.urgent:
        return str(Priority.URGENT)
    return case.priority


def policy_for(*, case: Case, kind: str) -> DeadlinePolicy | None:
    """The most specific active policy for this case and kind: the one that names most of
    channel, matter type and priority; on a tie priority beats matter type beats channel.
    None when no policy applies (e.g. an acceptance notice to an anonymous reporter)."""
    return _policy_chooser(kind)(case)


def _policy_chooser(kind: str) -> Callable[[Case], DeadlinePolicy | None]:
    """policy_for(case=…, kind=kind) for any number of cases with one query: the active
    policies of the kind (a handful) are read once and matched in Python."""
    active = list(DeadlinePolicy.objects.filter(kind=kind, is_active=True))

    def specificity(p: DeadlinePolicy) -> tuple[int, bool, bool, bool, int]:
        named = (bool(p.priority), bool(p.matter_type), bool(p.channel))
        return (sum(named), *named, -p.pk)

    def choose(case: Case) -> DeadlinePolicy | None:
        report = case.report
        matter, priority = case.matter_type or report.matter_type, effective_priority(case)
        rows = [p for p in active if p.channel in ("", report.channel) and p.matter_type in ("", matter)
                and p.priority in ("", priority)]
        best = max(rows, key=specificity, default=None)
        if best is None or (best.named_reporter_only and not report.is_named):
            return None
        return best

    return choose


def compute_due(*, started_at: datetime, amount: int, unit: str, paused_seconds: int = 0,
                calendar: WorkCalendar | None = None) -> datetime:
    calendar = calendar or WorkCalendar()
    if unit == DeadlineUnit.HOURS:
        return started_at + timedelta(hours=amount, seconds=paused_seconds)
    if unit == DeadlineUnit.CALENDAR_DAYS:
        last_day = timezone.localdate(started_at + timedelta(seconds=paused_seconds)) + timedelta(days=amount)
        return end_of_day(calendar.next_workday(last_day))
    base = end_of_day(calendar.add_workdays(timezone.localdate(started_at), amount))
    return calendar.add_working_seconds(base, paused_seconds)


def review_request_until(closed_at: datetime, calendar: WorkCalendar | None = None) -> datetime:
    """The end of the reporter's time to ask for 复查: REVIEW_REQUEST_WINDOW_DAYS days (信访工作条例:
    30 日) counted as calendar days from the day after the reply, to the end of the last day,
    a last day off moving to the next working day (the rule of every calendar-day period)."""
    return compute_due(started_at=closed_at, amount=settings.REVIEW_REQUEST_WINDOW_DAYS,
                       unit=DeadlineUnit.CALENDAR_DAYS, calendar=calendar)


def _due(deadline: Deadline, *, extra: int = 0, calendar: WorkCalendar | None = None) -> datetime:
    """The clock's due time with its extensions (and `extra` more units, not yet granted)."""
    return compute_due(
        started_at=deadline.started_at, amount=deadline.amount + deadline.extended_amount + extra, unit=deadline.unit,
        paused_seconds=deadline.paused_seconds, calendar=calendar,
    )


def _recompute(deadline: Deadline, calendar: WorkCalendar | None = None) -> None:
    deadline.due_at = _due(deadline, calendar=calendar)


def open_deadline(*, case: Case, kind: str) -> Deadline | None:
    return Deadline.objects.filter(case=case, kind=kind, met_at__isnull=True, cancelled_at__isnull=True).first()


def deadline_start(*, case: Case, kind: str, at: datetime | None = None) -> Deadline | None:
    """Start the clock of `kind` under the case's policy (an open one is left running)."""
    at = at or timezone.now()
    existing = open_deadline(case=case, kind=kind)
    if existing is not None:
        return existing
    policy = policy_for(case=case, kind=kind)
    if policy is None:
        return None
    deadline = Deadline(case=case, kind=kind, policy=policy, amount=policy.amount, unit=policy.unit, started_at=at,
                        paused_at=at if case.suspended_at else None)
    _recompute(deadline)
    deadline.save()
    return deadline


def deadline_meet(*, case: Case, kind: str, at: datetime | None = None) -> Deadline | None:
    deadline = open_deadline(case=case, kind=kind)
    if deadline is not None:
        deadline.met_at = at or timezone.now()
        if deadline.paused_at is not None:
            _resume_one(deadline, deadline.met_at, WorkCalendar())
        deadline.save()
    return deadline


def deadlines_routed(cases: list[Case], *, assigned: list[Case], at: datetime) -> None:
    """For a batch of cases triage has just decided: meet the 登记交办 clocks of the
    `assigned` ones among them and start their 受理告知 clocks, as case_routed does for one
    case, and set every case's `due_at` to its earliest running clock (case_due_refresh).
    A fixed number of queries: the batch's running clocks are read once, for the choice of
    clocks and for the due dates (the cases are locked: no clock starts or stops meanwhile);
    the active policies are read once and chosen once per distinct channel / type /
    priority / named, and a policy's due time is computed once (every clock of the batch
    starts at `at`: ~20 calendar look-ups a clock were most of the deadlines' time)."""
    from triage.workflow_models import DeadlineKind

    if not cases:
        return
    calendar = WorkCalendar()
    running = Deadline.objects.filter(case_id__in=[case.pk for case in cases], met_at__isnull=True,
                                      cancelled_at__isnull=True)
    clocks = list(running.values_list("pk", "case_id", "kind", "due_at", "paused_at"))
    open_kinds = {(case_id, kind) for _pk, case_id, kind, _due, _paused in clocks}
    assigned_ids = {case.pk for case in assigned}
    transfers = [(pk, paused_at is not None) for pk, case_id, kind, _due, paused_at in clocks
                 if kind == DeadlineKind.TRANSFER and case_id in assigned_ids]
    if any(paused for _pk, paused in transfers):  # rare: a paused clock is resumed, then met
        for paused_clock in Deadline.objects.filter(pk__in=[pk for pk, paused in transfers if paused]):
            paused_clock.met_at = at
            _resume_one(paused_clock, at, calendar)
            paused_clock.save(update_fields=["met_at", "paused_at", "paused_seconds", "due_at"])
    if any(not paused for _pk, paused in transfers):
        Deadline.objects.filter(pk__in=[pk for pk, paused in transfers if not paused]).update(met_at=at)
    open_clocks = [(case_id, kind, due) for _pk, case_id, kind, due, _paused in clocks
                   if not (kind == DeadlineKind.TRANSFER and case_id in assigned_ids)]

    policies: dict[tuple[str, str, str, bool], tuple[DeadlinePolicy, datetime] | None] = {}
    choose = None
    new = []
    for case in assigned:
        if (case.pk, DeadlineKind.ACCEPTANCE_NOTICE) in open_kinds:
            continue
        report = case.report
        key = (report.channel, case.matter_type or report.matter_type, effective_priority(case), report.is_named)
        if key not in policies:
            choose = choose or _policy_chooser(DeadlineKind.ACCEPTANCE_NOTICE)
            policy = choose(case)
            policies[key] = None if policy is None else (
                policy, compute_due(started_at=at, amount=policy.amount, unit=policy.unit, calendar=calendar))
        chosen = policies[key]
        if chosen is None:
            continue
        policy, due_at = chosen
        new.append(Deadline(case=case, kind=DeadlineKind.ACCEPTANCE_NOTICE, policy=policy, amount=policy.amount,
                            unit=policy.unit, started_at=at, paused_at=at if case.suspended_at else None,
                            due_at=due_at))
    Deadline.objects.bulk_create(new)
    earliest: dict[int, datetime] = {}
    for case_id, _kind, due_at in [*open_clocks, *((d.case_id, d.kind, d.due_at) for d in new)]:
        if case_id not in earliest or due_at < earliest[case_id]:
            earliest[case_id] = due_at
    for case in cases:
        case.due_at = earliest.get(case.pk)


def deadlines_recalendar(days: list[date], *, chunk: int = 2000) -> int:
    """After the working-day calendar changed on `days` (a holiday added, a make-up working
    day, an override removed): move the due time of every running day-counted clock whose
    period contains one of those days, and keep `Case.due_at` in step. Hour clocks do not
    depend on the calendar. Idempotent; returns how many clocks moved.

    A clock is affected when it started before the end of a changed day and is due on or
    after that day (a new working day can only pull a due date forward to a day at or after
    it; a new rest day can only push it later)."""
    from triage.models import Case

    if not days:
        return 0
    first, last = min(days), max(days)
    calendar = WorkCalendar()
    affected = (
        Deadline.objects.filter(met_at__isnull=True, cancelled_at__isnull=True,
                                unit__in=[DeadlineUnit.WORKING_DAYS, DeadlineUnit.CALENDAR_DAYS],
                                started_at__lt=local_midnight(last + timedelta(days=1)),
                                due_at__gte=local_midnight(first))
        .order_by("pk")
        .only("pk", "case_id", "started_at", "amount", "extended_amount", "unit", "paused_seconds", "due_at")
    )
    moved = 0
    batch: list[Deadline] = []

    def flush() -> None:
        with transaction.atomic():
            Deadline.objects.bulk_update(batch, ["due_at"])
            case_ids = sorted({d.case_id for d in batch})
            earliest = (Deadline.objects.filter(case_id=models.OuterRef("pk"), met_at__isnull=True,
                                                cancelled_at__isnull=True)
                        .order_by("due_at").values("due_at")[:1])
            Case.objects.filter(pk__in=case_ids).update(due_at=models.Subquery(earliest))
        batch.clear()

    for deadline in affected.iterator(chunk_size=chunk):
        before = deadline.due_at
        _recompute(deadline, calendar)
        if deadline.due_at != before:
            batch.append(deadline)
            moved += 1
            if len(batch) >= chunk:
                flush()
    if batch:
        flush()
    logger.info("Calendar change on %s..%s moved %d running deadlines.", first, last, moved)
    return moved


def deadline_cancel(*, case: Case, kind: str, at: datetime | None = None) -> None:
    Deadline.objects.filter(case=case, kind=kind, met_at__isnull=True, cancelled_at__isnull=True).update(
        cancelled_at=at or timezone.now()
    )


def deadlines_pause(*, case: Case, at: datetime | None = None) -> int:
    """Stop every running clock of the case (it waits for the citizen)."""
    return Deadline.objects.filter(case=case, met_at__isnull=True, cancelled_at__isnull=True,
                                   paused_at__isnull=True).update(paused_at=at or timezone.now())


def _resume_one(deadline: Deadline, at: datetime, calendar: WorkCalendar) -> None:
    assert deadline.paused_at is not None
    if deadline.unit == DeadlineUnit.WORKING_DAYS:
        stopped = calendar.working_seconds_between(deadline.paused_at, at)
    else:
        stopped = max(0, int((at - deadline.paused_at).total_seconds()))
    deadline.paused_seconds += stopped
    deadline.paused_at = None
    _recompute(deadline, calendar)


def deadlines_resume(*, case: Case, at: datetime | None = None) -> list[Deadline]:
    """Restart the clocks; each due time moves on by the time it stood still."""
    at = at or timezone.now()
    calendar = WorkCalendar()
    resumed = []
    for deadline in Deadline.objects.filter(case=case, met_at__isnull=True, cancelled_at__isnull=True,
                                            paused_at__isnull=False):
        _resume_one(deadline, at, calendar)
        deadline.save(update_fields=["paused_at", "paused_seconds", "due_at"])
        resumed.append(deadline)
    return resumed


def deadline_extend(*, deadline: Deadline, amount: int) -> Deadline:
    """Add an approved extension (the caller checked the policy's bounds)."""
    deadline.extensions += 1
    deadline.extended_amount += amount
    deadline.requested_extension = None
    _recompute(deadline)
    deadline.save(update_fields=["extensions", "extended_amount", "requested_extension", "due_at"])
    return deadline


def extension_limits(deadline: Deadline) -> tuple[int, int]:
    """(extensions still allowed, most units one extension may add) under the deadline's policy."""
    policy = deadline.policy
    if policy is None:
        return 0, 0
    return max(0, policy.max_extensions - deadline.extensions), policy.max_extension_amount


def deadline_state(deadline: Deadline, *, now: datetime | None = None) -> DeadlineState:
    """正常, 临期 (less than DEADLINE_DUE_SOON_FRACTION of the period left) or 超期.
    A paused clock is judged at the moment it stopped; a finished one by when it finished."""
    at = deadline.met_at or deadline.cancelled_at or deadline.paused_at or now or timezone.now()
    if at > deadline.due_at:
        return DeadlineState.OVERDUE
    if not deadline.is_open:
        return DeadlineState.NORMAL
    period = (deadline.due_at - deadline.started_at).total_seconds()
    left = (deadline.due_at - at).total_seconds()
    if left <= period * settings.DEADLINE_DUE_SOON_FRACTION:
        return DeadlineState.DUE_SOON
    return DeadlineState.NORMAL


def time_left(deadline: Deadline, *, now: datetime | None = None) -> timedelta:
    """Wall time until due (negative when overdue); frozen while paused."""
    at = deadline.paused_at or now or timezone.now()
    return deadline.due_at - at


def workdays_left(due_at: datetime | None, at: datetime, calendar: WorkCalendar) -> float | None:
    """Working days from `at` until due (a working day counts 24 h, as the clocks count),
    None when there is no due time or it has passed. The statutory limits are in working
    days: "13天" of wall time before a holiday may be 8 of them."""
    if due_at is None or due_at <= at:
        return None
    return calendar.working_seconds_between(at, due_at) / DAY_SECONDS


def workdays_waited(since: datetime, at: datetime, calendar: WorkCalendar) -> float:
    """Working days from `since` to `at`: how long an open case with no running clock has
    waited (an anonymous 检举控告 before 受理 owes no acceptance notice, so nothing counts
    down for it, and "—" would let it sink out of sight)."""
    return calendar.working_seconds_between(since, at) / DAY_SECONDS if at > since else 0.0


@dataclass(frozen=True)
class DeadlineView:
    """One clock as the console shows it."""

    kind: str
    label: str
    due_at: datetime
    time_left: timedelta
    state: DeadlineState
    paused: bool
    finished: bool
    # A pending extension request: its length ("10 工作日") and the due time if approved.
    requested: str = ""
    due_if_approved: datetime | None = None
    workdays_left: float | None = None


def case_deadlines(*, case: Case, now: datetime | None = None) -> list[DeadlineView]:
    """The case's clocks, running ones first, each with its state and time left (one query)."""
    now = now or timezone.now()
    calendar = WorkCalendar()
    rows = sorted(Deadline.objects.filter(case=case), key=lambda d: (not d.is_open, d.due_at))
    return [DeadlineView(kind=d.kind, label=str(d.get_kind_display()), due_at=d.due_at, time_left=time_left(d, now=now),
                         state=deadline_state(d, now=now), paused=d.paused_at is not None, finished=not d.is_open,
                         workdays_left=workdays_left(d.due_at, d.paused_at or now, calendar) if d.is_open else None,
                         **_pending_extension(d))
            for d in rows]


def _pending_extension(deadline: Deadline) -> dict[str, Any]:
    amount = deadline.requested_extension
    if not amount or not deadline.is_open:
        return {}
    return {"requested": f"{amount} {deadline.get_unit_display()}", "due_if_approved": _due(deadline, extra=amount)}


def case_due_refresh(case: Case) -> None:
    """Keep `Case.due_at` (queue order, the citizen's page) at the earliest running deadline."""
    case.due_at = (
        Deadline.objects.filter(case=case, met_at__isnull=True, cancelled_at__isnull=True)
        .order_by("due_at").values_list("due_at", flat=True).first()
    )



# name, kind, channel, matter type, priority, amount, unit, named only, extensions, most per extension, note
DEFAULT_POLICIES: list[tuple[str, str, str, str, str, int, str, bool, int, int, str]] = [
    ("信访工作条例", "transfer", "", "", "", 15, "working_days", False, 0, 0, "登记并转送、交办"),
    ("信访工作条例", "acceptance_notice", "", "", "", 15, "working_days", False, 0, 0, "告知是否受理"),
    ("信访工作条例", "handle", "", "", "", 60, "working_days", False, 1, 30, "办理期限；经批准可延期一次，不超过30日"),
    ("信访工作条例", "review", "", "", "", 30, "working_days", False, 0, 0, "复查、复核意见"),
    ("检举控告工作规则", "transfer", "", "accusation", "", 5, "working_days", False, 0, 0, "5个工作日内转送"),
    ("检举控告工作规则", "acceptance_notice", "", "accusation", "", 15, "working_days", True, 0, 0,
     "15个工作日内告知实名检举控告人受理情况"),
    ("12345热线", "handle", "call", "", "emergency", 2, "hours", False, 0, 0, "紧急类2小时"),
    ("12345热线", "handle", "call", "", "urgent", 24, "hours", False, 0, 0, "加急类24小时"),
    ("12345热线", "handle", "call", "", "ordinary", 5, "working_days", False, 1, 5, "一般类5个工作日"),
    ("12345热线", "handle", "call", "", "complex", 15, "working_days", False, 1, 15, "疑难复杂类15个工作日"),
]


def seed_deadline_policies(model: Any = None) -> int:
    """Load the statutory defaults where no policy of that kind and scope exists (idempotent)."""
    model = model or DeadlinePolicy
    created = 0
    for name, kind, channel, matter, priority, amount, unit, named, extensions, most, note in DEFAULT_POLICIES:
        _row, was_created = model.objects.get_or_create(
            kind=kind, channel=channel, matter_type=matter, priority=priority,
            defaults={"name": name, "amount": amount, "unit": unit, "named_reporter_only": named,
                      "max_extensions": extensions, "max_extension_amount": most, "note": note},
        )
        created += was_created
    return created
