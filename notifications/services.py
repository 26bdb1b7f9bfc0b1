"""Creating notifications (from case events, the deadline scan, the escalation ladder and
the digests) and sending them.

Every notification is created in the transaction that causes it, with a deterministic
unique key and `ignore_conflicts`, so a rescan, a retried task or a second beat instance
adds nothing; sends are queued after commit with ids only.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from intake.models import Rating, ReporterIdentity
from intake.services import reporter_sms_number
from notifications import render, webhooks
from notifications.models import (
    Channel,
    DeadLetter,
    Delivery,
    Kind,
    Notification,
    NotificationPreference,
    Status,
    WebhookEndpoint,
)
from notifications.sms import sms_backend
from triage import workflow
from triage.models import Case, CaseEvent, Department, Priority, StaffProfile
from triage.selectors import cases_visible_to
from triage.workdays import WorkCalendar, end_of_day
from triage.workflow import Role

logger = logging.getLogger(__name__)

HANDLING_ROLES = (Role.HANDLER.value, Role.HEAD.value)
URGENT_PRIORITIES = (Priority.URGENT.value, Priority.EMERGENCY.value)
STAFF_CHANNELS = (Channel.IN_APP, Channel.EMAIL)
# Kinds a webhook endpoint may subscribe to (digests are for people; SMS for reporters).
WEBHOOK_KINDS = frozenset(Kind.values) - {Kind.DIGEST_DAILY, Kind.DIGEST_WEEKLY, Kind.CITIZEN_NEWS}


def is_urgent(case: Case) -> bool:
    return bool(case.urgent or case.priority in URGENT_PRIORITIES)


# --- recipients ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    user_id: int
    email: str


class Directory:
    """Staff by department and role, leadership, preferences and webhook endpoints,
    loaded with a fixed number of queries for one batch of notifications.

    With `departments`, only the staff of those departments (and no leadership) are read,
    and the preferences of those staff and of `users`: what notifications about cases of
    those departments can reach (a triage batch needs a handful of departments, not every
    staff member and preference of the organisation, and none when nobody works there)."""

    def __init__(self, *, departments: Iterable[int] | None = None, users: Iterable[int] = ()) -> None:
        self.by_role: dict[tuple[int, str], set[Person]] = defaultdict(set)
        self.leaders: list[tuple[Person, str]] = []
        profiles = StaffProfile.objects.filter(user__is_active=True)
        if departments is not None:
            profiles = profiles.filter(department_id__in=sorted(set(departments)))
        rows = profiles.values_list("department_id", "department__path", "user_id", "user__email", "user__groups__name")
        found: set[int] = set(users)
        for department_id, path, user_id, email, group in rows:
            if group == Role.LEADERSHIP:
                if departments is None:
                    self.leaders.append((Person(user_id, email or ""), path))
            elif group:
                self.by_role[(department_id, group)].add(Person(user_id, email or ""))
                found.add(user_id)
        preferences = NotificationPreference.objects.all()
        if departments is not None:
            preferences = preferences.filter(user_id__in=sorted(found)) if found else preferences.none()
        self.prefs = {p.user_id: p for p in preferences}
        self.endpoints = list(WebhookEndpoint.objects.filter(is_active=True))

    def staff(self, department_id: int | None, roles: Iterable[str]) -> set[Person]:
        if department_id is None:
            return set()
        return {p for role in roles for p in self.by_role.get((department_id, role), set())}

    def channels(self, person: Person) -> tuple[bool, bool]:
        """(in the notification centre, by e-mail) as the person chose."""
        pref = self.prefs.get(person.user_id)
        return pref is None or pref.in_app, bool((pref is None or pref.email) and person.email)


def upper_departments() -> dict[int, int]:
    """Each department's counterpart one level up (a county 住建局 → the city 住建局), else
    its parent unit: where the second step of the escalation ladder goes."""
    rows = list(Department.objects.values_list("pk", "code", "parent_id", "area__parent__code"))
    by_code = {code: pk for pk, code, _parent, _area in rows}
    out = {}
    for pk, code, parent_id, parent_area in rows:
        suffix = code.rsplit("-", 1)[-1]
        counterpart = by_code.get(f"{parent_area}-{suffix}") if parent_area else None
        target = counterpart or parent_id
        if target:
            out[pk] = target
    return out


def _rows_for(directory: Directory, people: Iterable[Person], *, kind: str, source: str, now: datetime,
              webhooks_too: bool = True, **fields: Any) -> list[Notification]:
    rows = []
    for person in sorted(people, key=lambda p: p.user_id):
        in_app, email = directory.channels(person)
        if in_app or email:
            # One row per person: shown in the centre and/or e-mailed (see _STAFF_DELIVERY).
            rows.append(Notification(
                key=f"{kind}:{source}:user:{person.user_id}", kind=kind, in_app=in_app,
                channel=Channel.EMAIL if email else Channel.IN_APP, recipient_id=person.user_id, created_at=now,
                status=Status.PENDING if email else Status.SENT, sent_at=None if email else now, **fields))
    if webhooks_too and kind in WEBHOOK_KINDS:
        for endpoint in directory.endpoints:
            if endpoint.wants(kind):
                rows.append(Notification(key=f"{kind}:{source}:webhook:{endpoint.pk}", kind=kind,
                                         channel=Channel.WEBHOOK, endpoint=endpoint, created_at=now, **fields))
    return rows


def notifications_create(rows: Sequence[Notification]) -> list[int]:
    """Insert, skipping keys that exist; queue the sends of the pending ones after commit.
    Returns the ids queued."""
    if not rows:
        return []
    # PostgreSQL takes any number of rows and keys in one statement (one INSERT … unnest,
    # one `= ANY`), so the statements do not grow with the batch; other backends cap the
    # number of parameters.
    postgres = connection.vendor == "postgresql"
    Notification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=None if postgres else 2000)
    keys = [row.key for row in rows if row.channel != Channel.IN_APP]
    step = max(len(keys), 1) if postgres else 5000
    ids: list[int] = []
    for start in range(0, len(keys), step):
        ids += Notification.objects.filter(key__in=keys[start:start + step], status=Status.PENDING,
                                           attempts=0).values_list("pk", flat=True)
    sends_enqueue(ids)
    return ids


# Ids per send_batch message. A full scan at 200,000 open cases queues some 170,000 sends:
# at 200 a message that was 850 publishes, seconds of the scan.
SEND_BATCH = 1000


def sends_enqueue(ids: Sequence[int]) -> None:
    """After commit, queue the sends in batches (ids only). A broker outage only delays
    them: the scan re-queues what stays pending."""
    if not ids:
        return
    ids = list(ids)

    def publish() -> None:
        from notifications.tasks import send_batch

        try:
            for start in range(0, len(ids), SEND_BATCH):
                send_batch.apply_async(args=[ids[start:start + SEND_BATCH]], retry=False)
        except Exception as exc:  # noqa: BLE001 - any broker failure: the sweeper re-queues
            logger.warning("Broker unavailable (%s); %d notification(s) wait for the sweeper.",
                           type(exc).__name__, len(ids))

    transaction.on_commit(publish)


# --- from case events ----------------------------------------------------------------------

ASSIGNING = {"route", "triage_accept", "triage_correct", "transfer_accept", "review_request"}
APPROVALS = {"extension_request", "submit_review"}
CITIZEN_NEWS = {"approve", "decline", "ask_question", "extension_approve"}
# A decision on what a handler asked for goes back to whoever asked: decision → request.
DECISIONS = {"send_back": "submit_review", "extension_approve": "extension_request",
             "extension_reject": "extension_request", "transfer_return": "transfer"}
FOLLOWED = ASSIGNING | APPROVALS | CITIZEN_NEWS | set(DECISIONS) | {"transfer", "citizen_answer", "supervise"}
# What answers an APPROVAL_WAITING notice: once decided it needs nobody's attention.
SETTLING = {"approve": "submit_review", "send_back": "submit_review",
            "extension_approve": "extension_request", "extension_reject": "extension_request"}
# What ends a TRANSFER_OFFERED notice: the offer is taken, refused or withdrawn.
OFFER_ENDED = {"transfer_accept", "transfer_return", "transfer_withdraw"}


def notify_case_events(events: Sequence[CaseEvent], *, cases: Mapping[int, Case] | None = None) -> list[int]:
    """Notifications for events just appended (inside their transaction). `cases`: case
    objects by id as they now are in the database (the triage batch's, just written);
    the cases of other events are read."""
    now = timezone.now()
    # 督办 comes by the thousand from the escalation ladder: one INSERT … SELECT.
    supervised = _supervised_notices([e.pk for e in events if e.kind == "supervise"], now)
    sends_enqueue(supervised)
    _settled([(e.case_id, Kind.APPROVAL_WAITING, SETTLING[e.kind]) for e in events if e.kind in SETTLING]
             + [(e.case_id, Kind.TRANSFER_OFFERED, None) for e in events if e.kind in OFFER_ENDED], now)
    events = [e for e in events if e.kind in FOLLOWED and e.kind != "supervise"]
    if not events:
        return supervised
    known = cases or {}
    missing = {e.case_id for e in events} - set(known)
    cases = {**known, **(Case.objects.select_related("department").in_bulk(missing) if missing else {})}
    askers = _last_actors([e.case_id for e in events if e.kind == "citizen_answer"], "ask_question")
    requesters = {kind: _last_actors([e.case_id for e in events if DECISIONS.get(e.kind) == kind], kind)
                  for kind in set(DECISIONS.values())}
    departments = {cases[e.case_id].department_id for e in events} | {
        cases[e.case_id].transfer_to_id for e in events if e.kind == "transfer"}
    directory = Directory(departments={d for d in departments if d is not None},
                          users=[user_id for found in (askers, *requesters.values()) for user_id, _email in found.values()])
    sms_reports = set(ReporterIdentity.objects.filter(
        sms_opt_in=True, report_id__in={cases[e.case_id].report_id for e in events if e.kind in CITIZEN_NEWS},
    ).values_list("report_id", flat=True))
    rows: list[Notification] = []
    for event in events:
        case = cases[event.case_id]
        source = f"e{event.pk}"
        fields: dict[str, Any] = {"case": case, "department_id": case.department_id, "urgent": is_urgent(case)}
        if (event.kind in ASSIGNING and case.status == "assigned") or event.kind == "review_request":
            people = directory.staff(case.department_id, HANDLING_ROLES)
            rows += _rows_for(directory, people, kind=Kind.CASE_ASSIGNED, source=source, now=now, **fields)
        if event.kind == "transfer" and case.transfer_to_id:
            people = directory.staff(case.transfer_to_id, HANDLING_ROLES)
            rows += _rows_for(directory, people, kind=Kind.TRANSFER_OFFERED, source=source, now=now,
                              **{**fields, "department_id": case.transfer_to_id})
        if event.kind in APPROVALS:
            people = directory.staff(case.department_id, [Role.HEAD.value])
            rows += _rows_for(directory, people, kind=Kind.APPROVAL_WAITING, source=source, now=now,
                              data={"event": event.kind}, **fields)
        requester = requesters[DECISIONS[event.kind]].get(case.pk) if event.kind in DECISIONS else None
        if requester is not None and requester[0] != event.actor_id:
            rows += _rows_for(directory, [Person(*requester)], kind=Kind.DECIDED, source=source, now=now,
                              webhooks_too=False, data={"event": event.kind}, **fields)
        if event.kind == "citizen_answer" and case.pk in askers:
            user_id, email = askers[case.pk]
            rows += _rows_for(directory, [Person(user_id, email)], kind=Kind.CITIZEN_ANSWERED, source=source,
                              now=now, **fields)
        if event.kind in CITIZEN_NEWS and case.report_id in sms_reports:
            rows.append(Notification(key=f"{Kind.CITIZEN_NEWS}:{source}:sms", kind=Kind.CITIZEN_NEWS,
                                     channel=Channel.SMS, case=case, created_at=now))
    return supervised + notifications_create(rows)


def _settled(ended: list[tuple[int, str, str | None]], now: datetime) -> None:
    """Notices that asked for something now done (case, notice kind, the event the notice
    was about or None for any): a decided approval, an offer taken, refused or withdrawn.
    They need nobody's attention any more, so they count as read for every recipient."""
    if not ended:
        return
    q = Q()
    for case_id, kind, asked in ended:
        q |= Q(case_id=case_id, kind=kind, **({"data__event": asked} if asked else {}))
    Notification.objects.filter(q, in_app=True, read_at__isnull=True).update(read_at=now)


def _supervised_notices(event_ids: list[int], now: datetime) -> list[int]:
    """督办 notices for the `supervise` events `event_ids` in one INSERT … SELECT: the
    handlers and heads of the case's department (one row each, with the channels they
    chose), and each subscribed webhook (as `_rows_for` would). Returns the ids of the new
    sends."""
    if not event_ids:
        return []
    kind = Kind.SUPERVISED
    in_events, event_params = _in_ids("ev.id", event_ids)
    # Only constant SQL fragments are interpolated; every value is a parameter.
    sql = f"""
    INSERT INTO notifications_notification ({_COLUMNS})
    SELECT %s || ':e' || ev.id || ':user:' || u.id, %s, u.id, NULL, c.id,
           c.department_id, '', CAST(NULL AS timestamp with time zone), 0, {_URGENT}, {_empty_json()}, 0, %s,
           {_STAFF_DELIVERY}
      FROM triage_caseevent ev JOIN triage_case c ON c.id = ev.case_id {_STAFF}
     WHERE {in_events} AND {_IS_HANDLER} AND {_STAFF_WANTS}
    UNION ALL
    SELECT %s || ':e' || ev.id || ':webhook:' || e.id, %s, NULL, e.id, c.id, c.department_id, '', NULL,
           0, {_URGENT}, {_empty_json()}, 0, %s, {_WEBHOOK_DELIVERY}
      FROM triage_caseevent ev JOIN triage_case c ON c.id = ev.case_id
      JOIN notifications_webhookendpoint e ON e.is_active
           AND (e.kinds = '' OR (',' || REPLACE(e.kinds, ' ', '') || ',') LIKE %s)
     WHERE {in_events}
    ON CONFLICT (key) DO NOTHING
    RETURNING id, channel
    """  # noqa: S608
    params: list[Any] = [kind, kind, *URGENT_PRIORITIES, now, now, *event_params, *HANDLING_ROLES,
                         kind, kind, *URGENT_PRIORITIES, now, f"%,{kind},%", *event_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall() if row[1] != Channel.IN_APP]


def _last_actors(case_ids: list[int], kind: str) -> dict[int, tuple[int, str]]:
    """Per case, the staff member (id, e-mail) who last took the action `kind` (asked the
    reporter a question, submitted the reply for review, asked for an extension …)."""
    out: dict[int, tuple[int, str]] = {}
    if not case_ids:
        return out
    rows = (CaseEvent.objects.filter(case_id__in=case_ids, kind=kind, actor__is_active=True)
            .order_by("case_id", "seq").values_list("case_id", "actor_id", "actor__email"))
    for case_id, actor_id, email in rows:
        out[case_id] = (actor_id, email or "")
    # Only someone who can still open the case hears about it (not a handler who has moved
    # to another department since). A few human actions per batch: a query or two each.
    users = User.objects.in_bulk({actor_id for actor_id, _email in out.values()})
    return {case_id: person for case_id, person in out.items()
            if (user := users.get(person[0])) is not None and cases_visible_to(user).filter(pk=case_id).exists()}


# --- the deadline scan ---------------------------------------------------------------------


def _empty_json() -> str:
    return "CAST('{}' AS jsonb)" if connection.vendor == "postgresql" else "'{}'"


def _epoch(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM {column})"
    return f"((julianday({column}) - 2440587.5) * 86400.0)"


_OPEN = "d.met_at IS NULL AND d.cancelled_at IS NULL AND d.paused_at IS NULL AND c.department_id IS NOT NULL"
_URGENT = "(c.urgent OR c.priority IN (%s, %s))"
_STAFF = """
  JOIN triage_staffprofile sp ON sp.department_id = c.department_id
  JOIN auth_user u ON u.id = sp.user_id AND u.is_active
  LEFT JOIN notifications_notificationpreference p ON p.user_id = u.id
"""
# A staff notice is one row (as `_rows_for` writes it): in the centre if the person `u`
# wants in-app notices (preference `p`), e-mailed if they want e-mail and have an address.
_WANTS_IN_APP = "COALESCE(p.in_app, TRUE)"
_WANTS_EMAIL = "(COALESCE(p.email, TRUE) AND COALESCE(u.email, '') <> '')"
_STAFF_WANTS = f"({_WANTS_IN_APP} OR {_WANTS_EMAIL})"
# The last columns of _COLUMNS: channel, in_app, status, sent_at (one parameter: now).
_STAFF_DELIVERY = (f"CASE WHEN {_WANTS_EMAIL} THEN 'email' ELSE 'in_app' END, {_WANTS_IN_APP}, "
                   f"CASE WHEN {_WANTS_EMAIL} THEN 'pending' ELSE 'sent' END, "
                   f"CASE WHEN {_WANTS_EMAIL} THEN NULL ELSE %s END")
_WEBHOOK_DELIVERY = "'webhook', FALSE, 'pending', NULL"
# Evaluated once (PostgreSQL: a one-time filter): without an active endpoint the webhook
# half of a statement does not join every running clock to nothing.
_ANY_ENDPOINT = "EXISTS (SELECT 1 FROM notifications_webhookendpoint WHERE is_active)"
_IS_HANDLER = """EXISTS (SELECT 1 FROM auth_user_groups ug JOIN auth_group g ON g.id = ug.group_id
                         WHERE ug.user_id = u.id AND g.name IN (%s, %s))"""
_COLUMNS = ("key, kind, recipient_id, endpoint_id, case_id, department_id, deadline_kind, due_at, level, "
            "urgent, data, attempts, created_at, channel, in_app, status, sent_at")
# One 临期 and one 超期 notice per clock and extension: an approved extension is a new
# period, while a pause (a question to the reporter) or a calendar change that moves the due
# time is the same one, already announced. The trailing ".0" is where keys written before
# 2026-11 held the paused seconds: a clock never paused keeps its key across the upgrade.
_CLOCK = "d.id || '.' || d.extended_amount || '.0'"


def _state_sql(kind: str) -> str:
    if kind == Kind.OVERDUE:
        return "d.due_at < %s"
    # 临期 as the console shows it (triage.deadlines.deadline_state): at most the fraction
    # DEADLINE_DUE_SOON_FRACTION of the period left, and not yet overdue.
    return (f"d.due_at >= %s AND {_epoch('d.due_at')} - %s * ({_epoch('d.due_at')} - {_epoch('d.started_at')})"
            " <= %s")


def _state_params(kind: str, now: datetime) -> list[Any]:
    if kind == Kind.OVERDUE:
        return [now]
    return [now, settings.DEADLINE_DUE_SOON_FRACTION, now.timestamp()]


def _deadline_notices(kind: str, now: datetime) -> list[int]:
    """One INSERT … SELECT for every recipient (handlers and heads of the case's department,
    one row each with the channels they chose, and each subscribed webhook) of every
    running clock in state `kind`; existing keys are skipped. Returns the ids of the new
    sends."""
    state = _state_sql(kind)
    # Only constant SQL fragments are interpolated; every value is a parameter.
    sql = f"""
    INSERT INTO notifications_notification ({_COLUMNS})
    SELECT %s || ':d' || {_CLOCK} || ':user:' || u.id, %s, u.id, NULL, c.id,
           c.department_id, d.kind, d.due_at, 0, {_URGENT}, {_empty_json()}, 0, %s, {_STAFF_DELIVERY}
      FROM triage_deadline d JOIN triage_case c ON c.id = d.case_id {_STAFF}
     WHERE {_OPEN} AND {state} AND {_IS_HANDLER} AND {_STAFF_WANTS}
    UNION ALL
    SELECT %s || ':d' || {_CLOCK} || ':webhook:' || e.id, %s, NULL, e.id, c.id, c.department_id, d.kind,
           d.due_at, 0, {_URGENT}, {_empty_json()}, 0, %s, {_WEBHOOK_DELIVERY}
      FROM triage_deadline d JOIN triage_case c ON c.id = d.case_id
      JOIN notifications_webhookendpoint e ON e.is_active
           AND (e.kinds = '' OR (',' || REPLACE(e.kinds, ' ', '') || ',') LIKE %s)
     WHERE {_ANY_ENDPOINT} AND {_OPEN} AND {state}
    ON CONFLICT (key) DO NOTHING
    RETURNING id, channel
    """  # noqa: S608
    params: list[Any] = [kind, kind, *URGENT_PRIORITIES, now, now, *_state_params(kind, now), *HANDLING_ROLES,
                         kind, kind, *URGENT_PRIORITIES, now, f"%,{kind},%", *_state_params(kind, now)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall() if row[1] != Channel.IN_APP]


def escalation_boundary(now: datetime, workdays: int, calendar: WorkCalendar | None = None) -> datetime:
    """Clocks due at or before this instant have been overdue for `workdays` whole working
    days (the due day's end, then that many working days, have passed)."""
    calendar = calendar or WorkCalendar()
    today = timezone.localdate(now)
    day = today - timedelta(days=1)
    while calendar.add_workdays(day, workdays) >= today:
        day -= timedelta(days=1)
    return end_of_day(day)


def _escalations_insert(level: int, boundary: datetime, now: datetime) -> list[int]:
    sql = f"""
    INSERT INTO notifications_escalation (deadline_id, case_id, level, due_at, extended_amount, at)
    SELECT d.id, d.case_id, %s, d.due_at, d.extended_amount, %s
      FROM triage_deadline d JOIN triage_case c ON c.id = d.case_id
     WHERE {_OPEN} AND d.due_at {'<' if level == 1 else '<='} %s
    ON CONFLICT (deadline_id, extended_amount, level) DO NOTHING
    RETURNING id
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [level, now, boundary])
        return [row[0] for row in cursor.fetchall()]


def _in_ids(column: str, ids: list[int]) -> tuple[str, list[Any]]:
    """`column` among `ids` with one parameter, however many ids."""
    if connection.vendor == "postgresql":
        # An array literal as text: psycopg adapts a list of 20,000 ints element by element.
        return f"{column} = ANY(CAST(%s AS bigint[]))", ["{" + ",".join(map(str, ids)) + "}"]
    return f"{column} IN (SELECT value FROM json_each(%s))", [json.dumps(ids)]  # noqa: S608


def _escalation_notices(new: list[int], upper: dict[int, int], now: datetime) -> list[int]:
    """One INSERT … SELECT for the notices of the new escalation steps `new`: step 1 to the
    heads of the case's department, step 2 to the heads of the department one level up
    (`upper`) and leadership over the case's department, one row each with the channels
    they chose; and each subscribed webhook. Returns the ids of the new sends."""
    kind = Kind.ESCALATED
    # Department → the one above, as VALUES (grows with the organisation, not the cases);
    # the first row is typed and matches nothing.
    pairs = [(0, 0), *upper.items()]
    upper_rows = "(CAST(%s AS bigint), CAST(%s AS bigint))" + ", (%s, %s)" * (len(pairs) - 1)
    upper_params = [v for pair in pairs for v in pair]
    in_new, new_params = _in_ids("x.id", new)
    # Only constant SQL fragments are interpolated; every value is a parameter.
    sql = f"""
    WITH up (department_id, upper_id) AS (VALUES {upper_rows}), x AS (
      SELECT x.id, x.level, x.due_at, x.case_id, c.department_id, d.kind AS deadline_kind, {_URGENT} AS urgent,
             dep.path, up.upper_id
        FROM notifications_escalation x
        JOIN triage_deadline d ON d.id = x.deadline_id
        JOIN triage_case c ON c.id = x.case_id
        JOIN triage_department dep ON dep.id = c.department_id
        LEFT JOIN up ON up.department_id = c.department_id
       WHERE {in_new}
    ), staff AS (
      SELECT u.id AS user_id, u.email, sp.department_id, home.path, g.name AS role
        FROM triage_staffprofile sp
        JOIN auth_user u ON u.id = sp.user_id AND u.is_active
        JOIN triage_department home ON home.id = sp.department_id
        JOIN auth_user_groups ug ON ug.user_id = u.id
        JOIN auth_group g ON g.id = ug.group_id AND g.name IN (%s, %s)
    ), people AS (
      SELECT x.id AS step, s.user_id, s.email FROM x JOIN staff s
          ON s.role = %s AND s.department_id = CASE WHEN x.level = 1 THEN x.department_id ELSE x.upper_id END
      UNION
      SELECT x.id, s.user_id, s.email FROM x JOIN staff s
          ON x.level <> 1 AND s.role = %s AND substr(x.path, 1, length(s.path)) = s.path
    )
    INSERT INTO notifications_notification ({_COLUMNS})
    SELECT %s || ':x' || x.id || ':user:' || u.user_id, %s, u.user_id, NULL, x.case_id,
           x.department_id, x.deadline_kind, x.due_at, x.level, x.urgent, {_empty_json()}, 0, %s, {_STAFF_DELIVERY}
      FROM x JOIN people u ON u.step = x.id
      LEFT JOIN notifications_notificationpreference p ON p.user_id = u.user_id
     WHERE {_STAFF_WANTS}
    UNION ALL
    SELECT %s || ':x' || x.id || ':webhook:' || e.id, %s, NULL, e.id, x.case_id, x.department_id,
           x.deadline_kind, x.due_at, x.level, x.urgent, {_empty_json()}, 0, %s, {_WEBHOOK_DELIVERY}
      FROM x JOIN notifications_webhookendpoint e ON e.is_active
           AND (e.kinds = '' OR (',' || REPLACE(e.kinds, ' ', '') || ',') LIKE %s)
     WHERE TRUE
    ON CONFLICT (key) DO NOTHING
    RETURNING id, channel
    """  # noqa: S608
    params: list[Any] = [
        *upper_params, *URGENT_PRIORITIES, *new_params,
        Role.HEAD.value, Role.LEADERSHIP.value, Role.HEAD.value, Role.LEADERSHIP.value,
        kind, kind, now, now,
        kind, kind, now, f"%,{kind},%",
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall() if row[1] != Channel.IN_APP]


def _escalate(now: datetime) -> tuple[int, int, list[int]]:
    """The ladder: overdue → the department's heads (step 1); overdue for
    NOTIFY_ESCALATE_AFTER_WORKDAYS more working days → the heads one level up and
    leadership, and the case is put under 督办 (step 2). Each step is a case event.
    A fixed number of statements, whatever the number of steps."""
    new = _escalations_insert(1, now, now)
    new += _escalations_insert(2, escalation_boundary(now, settings.NOTIFY_ESCALATE_AFTER_WORKDAYS), now)
    if not new:
        return 0, 0, []
    upper = upper_departments()
    with connection.cursor() as cursor:
        in_new, new_params = _in_ids("x.id", new)
        cursor.execute(
            "SELECT x.case_id, x.level, d.kind, c.department_id FROM notifications_escalation x "  # noqa: S608
            "JOIN triage_deadline d ON d.id = x.deadline_id JOIN triage_case c ON c.id = x.case_id "
            f"WHERE {in_new} ORDER BY x.case_id, x.level, x.id", new_params)
        steps = cursor.fetchall()
    events: dict[int, list[dict[str, Any]]] = defaultdict(list)
    supervise: set[int] = set()
    for case_id, level, deadline_kind, department_id in steps:
        if level == 1:
            events[case_id].append({"level": 1, "deadline": deadline_kind, "to_department": department_id})
        else:
            events[case_id].append({"level": 2, "deadline": deadline_kind, "to_department": upper.get(department_id)})
            supervise.add(case_id)
    workflow.cases_escalated(steps=events, supervise=supervise, at=now)
    ids = _escalation_notices(new, upper, now)
    sends_enqueue(ids)
    return sum(1 for s in steps if s[1] == 1), sum(1 for s in steps if s[1] != 1), ids


@dataclass
class ScanResult:
    due_soon: int = 0
    overdue: int = 0
    escalated_1: int = 0
    escalated_2: int = 0
    queued: int = 0
    requeued: int = 0
    seconds: float = 0.0


def deadline_scan(*, now: datetime | None = None) -> ScanResult:
    """The periodic scan (beat, and `manage.py scan_deadlines`): 临期 and 超期 notices,
    the escalation ladder, and sends a lost message left behind. Set-based: a fixed
    number of statements, whatever the number of cases."""
    started = time.perf_counter()
    now = now or timezone.now()
    result = ScanResult()
    with transaction.atomic():
        due_soon = _deadline_notices(Kind.DUE_SOON, now)
        overdue = _deadline_notices(Kind.OVERDUE, now)
        sends_enqueue(due_soon + overdue)
        result.escalated_1, result.escalated_2, escalated = _escalate(now)
        result.due_soon, result.overdue = len(due_soon), len(overdue)
        result.queued = len(due_soon) + len(overdue) + len(escalated)
        result.requeued = sends_resweep(now=now)
    result.seconds = time.perf_counter() - started
    return result


def sends_resweep(*, now: datetime, limit: int = 5000) -> int:
    """Re-queue sends whose message was lost: pending well past their time, or held
    past the end of the quiet hours."""
    grace = now - timedelta(seconds=settings.NOTIFY_RESEND_AFTER_SECONDS)
    ids = list(Notification.objects.filter(
        Q(status=Status.PENDING, next_attempt_at__isnull=True, created_at__lte=grace)
        | Q(status=Status.PENDING, next_attempt_at__lte=grace)
        | Q(status=Status.HELD, next_attempt_at__lte=now)
    ).exclude(channel=Channel.IN_APP).order_by("pk").values_list("pk", flat=True)[:limit])
    sends_enqueue(ids)
    return len(ids)


# --- digests ------------------------------------------------------------------------------


def _period(period: str, now: datetime) -> tuple[date, date]:
    today = timezone.localdate(now)
    if period == "weekly":
        end = today - timedelta(days=today.weekday())  # this Monday; the week before it
        return end - timedelta(days=7), end
    return today - timedelta(days=1), today


def department_counts(*, start: datetime, end: datetime, now: datetime) -> dict[int, list[int]]:
    """Per department: new, closed, 临期, 超期, 不满意 (counts only)."""
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for dept, n in (Case.objects.filter(created_at__gte=start, created_at__lt=end, department__isnull=False)
                    .values_list("department_id").annotate(n=Count("pk"))):
        counts[dept][0] = n
    for dept, n in (Case.objects.filter(closed_at__gte=start, closed_at__lt=end, department__isnull=False)
                    .values_list("department_id").annotate(n=Count("pk"))):
        counts[dept][1] = n
    for index, kind in ((2, Kind.DUE_SOON), (3, Kind.OVERDUE)):
        sql = (f"SELECT c.department_id, COUNT(DISTINCT c.id) FROM triage_deadline d "  # noqa: S608
               f"JOIN triage_case c ON c.id = d.case_id WHERE {_OPEN} AND {_state_sql(kind)} GROUP BY c.department_id")
        with connection.cursor() as cursor:
            cursor.execute(sql, _state_params(kind, now))
            for dept, n in cursor.fetchall():
                counts[dept][index] = n
    for dept, n in (Case.objects.filter(report__feedback__rating=Rating.UNSATISFIED, department__isnull=False,
                                        report__feedback__created_at__gte=start, report__feedback__created_at__lt=end)
                    .values_list("department_id").annotate(n=Count("pk", distinct=True))):
        counts[dept][4] = n
    return dict(counts)


def digests_send(*, period: str, now: datetime | None = None) -> list[int]:
    """One digest per leadership user over the departments under them."""
    now = now or timezone.now()
    first, last = _period(period, now)
    start = timezone.make_aware(datetime.combine(first, datetime.min.time()))
    end = timezone.make_aware(datetime.combine(last, datetime.min.time()))
    kind = Kind.DIGEST_WEEKLY if period == "weekly" else Kind.DIGEST_DAILY
    with transaction.atomic():
        counts = department_counts(start=start, end=end, now=now)
        paths = dict(Department.objects.values_list("pk", "path"))
        directory = Directory()
        rows: list[Notification] = []
        for person, home in directory.leaders:
            mine = {str(d): c for d, c in counts.items() if paths.get(d, "").startswith(home) and any(c)}
            data = {"from": first.isoformat(), "to": (last - timedelta(days=1)).isoformat(), "rows": mine}
            rows += _rows_for(directory, [person], kind=kind, source=first.isoformat(), now=now,
                              webhooks_too=False, data=data)
        return notifications_create(rows)


# --- sending ------------------------------------------------------------------------------


def quiet_release(pref: NotificationPreference | None, now: datetime) -> datetime | None:
    """When the user's quiet hours end, if `now` is inside them; else None."""
    if pref is None or pref.quiet_start is None or pref.quiet_end is None or pref.quiet_start == pref.quiet_end:
        return None
    local = timezone.localtime(now)
    t, start, end = local.time(), pref.quiet_start, pref.quiet_end
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return None
    release = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if release <= local:
        release += timedelta(days=1)
    return release


@dataclass(frozen=True)
class SendOutcome:
    status: str
    retry_in: float | None = None


def backoff(attempts: int) -> float:
    return float(min(settings.NOTIFY_RETRY_BACKOFF_MAX_SECONDS, settings.NOTIFY_RETRY_BACKOFF_SECONDS * 2 ** (attempts - 1)))


def notification_send(notification_id: int) -> SendOutcome:
    """Send one notification if it is still due; safe to run twice (row lock, status)."""
    now = timezone.now()
    with transaction.atomic():
        n = (Notification.objects.select_for_update(of=("self",))
             .select_related("recipient", "endpoint", "case__department", "case__category", "department")
             .filter(pk=notification_id).first())
        if n is None or n.status in (Status.SENT, Status.DEAD, Status.SKIPPED):
            return SendOutcome(n.status if n else "missing")
        if n.status == Status.HELD and n.next_attempt_at and n.next_attempt_at > now:
            return SendOutcome(Status.HELD)
        if n.channel == Channel.EMAIL and not n.urgent and n.recipient_id is not None:
            release = quiet_release(NotificationPreference.objects.filter(user_id=n.recipient_id).first(), now)
            if release is not None:
                n.status, n.next_attempt_at = Status.HELD, release
                n.save(update_fields=["status", "next_attempt_at"])
                return SendOutcome(Status.HELD, retry_in=(release - now).total_seconds())
        clock = time.monotonic()
        ok, code, error = _deliver(n)
        if ok is None:
            n.status = Status.SKIPPED
            n.save(update_fields=["status"])
            return SendOutcome(Status.SKIPPED)
        n.attempts += 1
        Delivery.objects.create(notification=n, attempt=n.attempts, at=now, ok=ok, status_code=code, error=error[:200],
                                duration_ms=int((time.monotonic() - clock) * 1000))
        if ok:
            n.status, n.sent_at, n.next_attempt_at = Status.SENT, now, None
            n.save(update_fields=["status", "sent_at", "next_attempt_at", "attempts"])
            return SendOutcome(Status.SENT)
        if n.attempts >= settings.NOTIFY_MAX_ATTEMPTS:
            n.status, n.next_attempt_at = Status.DEAD, None
            n.save(update_fields=["status", "next_attempt_at", "attempts"])
            DeadLetter.objects.update_or_create(notification=n, defaults={"error": error[:200], "created_at": now,
                                                                          "retried_at": None, "retried_by": None})
            logger.warning("Notification %s dead-lettered after %d attempts (%s).", n.pk, n.attempts, error)
            return SendOutcome(Status.DEAD)
        delay = backoff(n.attempts)
        n.status, n.next_attempt_at = Status.PENDING, now + timedelta(seconds=delay)
        n.save(update_fields=["status", "next_attempt_at", "attempts"])
        return SendOutcome(Status.PENDING, retry_in=delay)


def _deliver(n: Notification) -> tuple[bool | None, int | None, str]:
    """(ok, HTTP status, error class); ok None: nothing to send to."""
    try:
        if n.channel == Channel.IN_APP:
            return True, None, ""
        if n.channel == Channel.EMAIL:
            if n.recipient is None or not n.recipient.email:
                return None, None, ""
            message = render.render(n)
            send_mail(message.subject, message.body, settings.DEFAULT_FROM_EMAIL, [n.recipient.email])
            return True, None, ""
        if n.channel == Channel.WEBHOOK:
            if n.endpoint is None or not n.endpoint.is_active:
                return None, None, ""
            result = webhooks.post(url=n.endpoint.url, secret=n.endpoint.signing_key(), payload=render.webhook_payload(n),
                                   kind=n.kind, timeout=settings.NOTIFY_WEBHOOK_TIMEOUT_SECONDS)
            return result.ok, result.status_code, result.error
        if n.channel == Channel.SMS:
            mobile = reporter_sms_number(report=n.case.report) if n.case is not None else None
            if not mobile:
                return None, None, ""
            sms_backend().send(to=mobile, text=render.citizen_sms_text())
            return True, None, ""
    except Exception as exc:  # noqa: BLE001 - any failure of a channel is retried, then dead-lettered
        return False, None, type(exc).__name__
    return None, None, ""


def dead_letters_retry(*, dead_letter_ids: Iterable[int], user: User | None = None) -> int:
    """An admin sends dead letters again: a fresh round of attempts, queued after commit."""
    now = timezone.now()
    with transaction.atomic():
        letters = list(DeadLetter.objects.select_for_update().filter(pk__in=list(dead_letter_ids), retried_at__isnull=True))
        ids = [letter.notification_id for letter in letters]
        Notification.objects.filter(pk__in=ids, status=Status.DEAD).update(
            status=Status.PENDING, attempts=0, next_attempt_at=None)
        DeadLetter.objects.filter(pk__in=[letter.pk for letter in letters]).update(retried_at=now, retried_by=user)
        sends_enqueue(ids)
    return len(ids)


# --- the in-app centre ---------------------------------------------------------------------


def inbox(user: User) -> Any:
    return (Notification.objects.filter(recipient=user, in_app=True)
            .select_related("case__department", "case__category", "department"))


def unread_count(user: User) -> int:
    return inbox(user).filter(read_at__isnull=True).count()


def notifications_mark_read(*, user: User, ids: Iterable[int] | None = None) -> int:
    qs = inbox(user).filter(read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    return qs.update(read_at=timezone.now())
