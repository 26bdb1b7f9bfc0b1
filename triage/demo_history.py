"""Seeded demo history for dashboards and benchmarks (`manage.py seed_demo --cases N`).

Cases are simulated as whole lives, vectorised with numpy: received (channel mix, weekday
and office-hour patterns) → routed (or the human queue) → accepted or not → handled →
reply approved → rated → archived, each step a duration in Chinese working days. A
case's status is the last step reached by now, so timestamps, clocks (Deadline rows with
due dates from the working-day calendar), response times and hash-chained CaseEvents all
agree. Rows go to PostgreSQL with COPY (bulk_create elsewhere).

Content is encrypted like a real report's: every seeded report has its own data key,
wrapped by the configured key-encryption key, and its fields are sealed with intake's
crypto module, so the console decrypts them. The texts are a few hundred labelled
messages from the shared data set, read at run time and reused.

Deterministic for a given --seed, except key material and nonces (always random).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import queue
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from intake import crypto
from intake.models import Channel, Feedback, MatterType, Rating, Report, ReporterIdentity, Source
from triage.audit import CHAIN_VERSION, GENESIS, canonical
from triage.deadlines import policy_for
from triage.models import Case, CaseStatus, Category, Department, DepartmentKind
from triage.workdays import WorkCalendar
from triage.workflow_models import CaseEvent, Deadline, DeadlineKind, DeadlinePolicy, DeadlineUnit, Priority

SEED_MARK = "seed_demo"  # Case.model_version of seeded cases: how a second run finds them
S = CaseStatus
DAY = 86400
TZ_OFFSET = 8 * 3600  # Asia/Shanghai has no daylight saving time

CHANNELS = [(Channel.WEB, 0.42), (Channel.CALL, 0.33), (Channel.LETTER, 0.15), (Channel.VISIT, 0.10)]
MATTERS = [(MatterType.COMPLAINT, 0.34), (MatterType.CONSULTATION, 0.22), (MatterType.ACCUSATION, 0.16),
           (MatterType.HELP, 0.16), (MatterType.SUGGESTION, 0.12)]
CATEGORY_WEIGHTS = {"城乡建设": 0.24, "劳动和社会保障": 0.22, "教育文体": 0.15, "商贸旅游": 0.11, "环境保护": 0.10,
                    "卫生计生": 0.10, "交通运输": 0.08}
CALL_PRIORITIES = [(Priority.ORDINARY, 0.85), (Priority.URGENT, 0.08), (Priority.COMPLEX, 0.05),
                   (Priority.EMERGENCY, 0.02)]
RATINGS = [(Rating.SATISFIED, 0.62), (Rating.BASICALLY_SATISFIED, 0.24), (Rating.UNSATISFIED, 0.14)]
VIOLATIONS = ["骗取医保基金", "虚报冒领惠民资金", "优亲厚友", "吃拿卡要", "违规吃喝/收礼", "廉洁纪律", "群众纪律", "工作纪律"]


class SeedError(Exception):
    """Why seeding cannot start (one line, for the operator)."""


@dataclass
class SeedResult:
    cases: int = 0
    reports: int = 0
    deadlines: int = 0
    events: int = 0
    feedback: int = 0
    identities: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    receipts: list[str] = field(default_factory=list)


# --- working days as arrays ----------------------------------------------------------------


class WorkdayTable:
    """Day number (days since the epoch, local) → working-day facts, for a window of days,
    built once from the project's calendar so durations and due dates are array lookups."""

    def __init__(self, first: int, last: int, calendar: WorkCalendar | None = None) -> None:
        calendar = calendar or WorkCalendar()
        self.first = first
        days = np.arange(first, last + 1)
        epoch = date(1970, 1, 1)
        self.is_work = np.array([calendar.is_workday(epoch + timedelta(days=int(d))) for d in days], dtype=bool)
        self.cum = np.cumsum(self.is_work)  # working days in [first, d]
        self.workdays = days[self.is_work]
        self._cum_list = self.cum.tolist()
        self._workday_list = self.workdays.tolist()

    def add_one(self, day: int, n: int) -> int:
        """`add` for one day (plain lists: a numpy call per value would cost more than the lookup)."""
        if n <= 0:
            return day
        idx = self._cum_list[min(max(day - self.first, 0), len(self._cum_list) - 1)] + n - 1
        return int(self._workday_list[min(idx, len(self._workday_list) - 1)])

    def add(self, day: np.ndarray, n: np.ndarray) -> np.ndarray:
        """The n-th working day after `day` (n ≥ 1; the day itself does not count); n = 0 → day."""
        idx = self.cum[np.clip(day - self.first, 0, len(self.cum) - 1)] + n - 1
        return np.where(n > 0, self.workdays[np.clip(idx, 0, len(self.workdays) - 1)], day)


def local_day(t: np.ndarray) -> np.ndarray:
    return (t + TZ_OFFSET) // DAY


def end_of_local_day(day: np.ndarray) -> np.ndarray:
    return day * DAY - TZ_OFFSET + DAY - 1


# --- the simulation --------------------------------------------------------------------------


def _choice(rng: np.random.Generator, options: list[tuple[Any, float]], n: int) -> np.ndarray:
    values = np.array([str(v) for v, _w in options])
    weights = np.array([w for _v, w in options])
    return values[rng.choice(len(options), size=n, p=weights / weights.sum())]


@dataclass
class Org:
    categories: list[tuple[int, str, str]]  # id, name, department suffix
    functional: dict[str, list[int]]  # suffix → department ids at city and county level
    discipline: list[int]
    places: list[int]  # township / village governments (routing by place)
    users: dict[str, int | None]
    policies: dict[tuple[str, str, str, str, bool], DeadlinePolicy | None]


def load_org() -> Org:
    depts = list(Department.objects.filter(is_active=True).values_list("pk", "code", "kind", "level"))
    if not depts or not Category.objects.exists():
        raise SeedError("No demo organisation: run `manage.py seed_org --users` first.")
    functional: dict[str, list[int]] = {}
    for pk, code, kind, level in depts:
        if kind == DepartmentKind.FUNCTIONAL and level <= 2:
            functional.setdefault(code.rsplit("-", 1)[-1], []).append(pk)
    discipline = [pk for pk, _c, kind, _l in depts if kind == DepartmentKind.DISCIPLINE]
    places = [pk for pk, _c, kind, level in depts if kind == DepartmentKind.GOVERNMENT and level >= 3]
    categories = [(c.pk, c.model_label, c.department_suffix) for c in Category.objects.filter(is_active=True)]
    categories = [c for c in categories if functional.get(c[2])]
    if not categories or not discipline or not places:
        raise SeedError("The demo organisation is incomplete: run `manage.py seed_org --users` again.")
    user_model = get_user_model()
    users = {name: user_model.objects.filter(username=name).values_list("pk", flat=True).first()
             for name in ("triage", "handler", "head", "leader")}
    return Org(categories, functional, discipline, places, users, {})


def _policy(org: Org, kind: str, channel: str, matter: str, priority: str, named: bool) -> DeadlinePolicy | None:
    key = (kind, channel, matter, priority, named)
    if key not in org.policies:
        probe = Case(report=Report(channel=channel, matter_type=matter, is_named=named), matter_type=matter,
                     priority=priority)
        org.policies[key] = policy_for(case=probe, kind=kind)
    return org.policies[key]


@dataclass
class Lives:
    """Arrays of one batch of simulated cases (times are epoch seconds, -1 = not reached)."""

    n: int
    channel: np.ndarray
    matter: np.ndarray
    priority: np.ndarray
    urgent: np.ndarray
    named: np.ndarray
    category: np.ndarray  # index into org.categories
    department: np.ndarray
    created: np.ndarray
    queued: np.ndarray  # went to the human queue
    returned: np.ndarray  # misrouted once: returned to triage, then re-assigned
    assigned: np.ndarray
    returned_at: np.ndarray
    reassigned: np.ndarray
    acknowledged: np.ndarray
    declined: np.ndarray
    started: np.ndarray
    drafted: np.ndarray
    submitted: np.ndarray
    closed: np.ndarray
    rated: np.ndarray
    rating: np.ndarray
    archived: np.ndarray
    supervised: np.ndarray
    supervised_at: np.ndarray
    extended: np.ndarray
    confidence: np.ndarray
    violation: np.ndarray


def _office_time(rng: np.random.Generator, day: np.ndarray) -> np.ndarray:
    """A time on that local day between 08:30 and 17:30."""
    return day * DAY - TZ_OFFSET + rng.integers(int(8.5 * 3600), int(17.5 * 3600), size=len(day))


def _after_workdays(rng: np.random.Generator, table: WorkdayTable, t: np.ndarray, wd: np.ndarray) -> np.ndarray:
    """t plus `wd` working days (whole days land in office hours; 0 → later the same day)."""
    k = np.floor(wd).astype(np.int64)
    later_same_day = t + rng.integers(600, 4 * 3600, size=len(t))
    moved = _office_time(rng, table.add(local_day(t), k))
    return np.where(k > 0, np.maximum(moved, t + 60), later_same_day)


def simulate(rng: np.random.Generator, org: Org, table: WorkdayTable, *, n: int, start: int, now: int) -> Lives:
    channel = _choice(rng, CHANNELS, n)
    matter = _choice(rng, MATTERS, n)
    cat_weights = np.array([CATEGORY_WEIGHTS.get(name, 0.05) for _pk, name, _s in org.categories])
    category = rng.choice(len(org.categories), size=n, p=cat_weights / cat_weights.sum())
    is_call = channel == str(Channel.CALL)
    priority = np.where(is_call, _choice(rng, CALL_PRIORITIES, n), str(Priority.ORDINARY))
    urgent = (rng.random(n) < 0.03) | np.isin(priority, [str(Priority.URGENT), str(Priority.EMERGENCY)])
    named = rng.random(n) < np.where(matter == str(MatterType.ACCUSATION), 0.35, 0.25)

    # Received: any day for the web (fewer at weekends and at night), office hours of
    # working days for letters, visits and calls.
    first_day, last_day = local_day(np.array([start]))[0], local_day(np.array([now]))[0]
    days = np.arange(first_day, last_day + 1)
    work = table.is_work[days - table.first]
    web_w = np.where(work, 1.0, 0.45)
    office_w = np.where(work, 1.0, 0.02)
    web_day = days[rng.choice(len(days), size=n, p=web_w / web_w.sum())]
    office_day = days[rng.choice(len(days), size=n, p=office_w / office_w.sum())]
    web_hours = np.array([1, 0.5, 0.3, 0.3, 0.3, 0.5, 1, 2, 4, 6, 7, 6, 4, 5, 6, 6, 5, 5, 5, 6, 7, 6, 4, 2], float)
    web_sec = rng.choice(24, size=n, p=web_hours / web_hours.sum()) * 3600 + rng.integers(0, 3600, size=n)
    is_web = channel == str(Channel.WEB)
    created = np.where(is_web, web_day * DAY - TZ_OFFSET + web_sec, _office_time(rng, office_day))
    created = np.minimum(created, now - 60)

    # Department: accusations to the discipline commission; other matters to the category's
    # functional department (city or county), a fifth by place to a township or village.
    dept = np.empty(n, dtype=np.int64)
    acc = matter == str(MatterType.ACCUSATION)
    dept[acc] = np.array(org.discipline)[rng.integers(0, len(org.discipline), size=int(acc.sum()))]
    by_place = ~acc & (rng.random(n) < 0.2)
    dept[by_place] = np.array(org.places)[rng.integers(0, len(org.places), size=int(by_place.sum()))]
    for i, (_pk, _name, suffix) in enumerate(org.categories):
        mask = ~acc & ~by_place & (category == i)
        pool = np.array(org.functional[suffix])
        dept[mask] = pool[rng.integers(0, len(pool), size=int(mask.sum()))]

    # Triage: most cases routed by the worker within a minute; some wait for a person.
    queued = rng.random(n) < 0.15
    queue_wd = np.where(rng.random(n) < 0.04, rng.uniform(5, 20, n), rng.exponential(0.8, n))
    assigned = np.where(queued, _after_workdays(rng, table, created + 30, queue_wd), created + rng.integers(3, 90, n))
    returned = ~queued & (rng.random(n) < 0.04)
    returned_at = np.where(returned, _after_workdays(rng, table, assigned, rng.exponential(1.5, n)), -1)
    reassigned = np.where(returned, _after_workdays(rng, table, np.where(returned, returned_at, assigned),
                                                    rng.exponential(0.6, n)), assigned)

    ack_wd = np.where(rng.random(n) < 0.07, rng.uniform(15, 30, n), rng.exponential(3.5, n))
    acknowledged = _after_workdays(rng, table, reassigned, ack_wd)
    declined = rng.random(n) < np.where(matter == str(MatterType.CONSULTATION), 0.02, 0.06)
    started = acknowledged + rng.integers(300, 6 * 3600, n)  # masked for declined cases below

    # Handling: working days (lognormal, a tail past the 60-day limit), or hours for
    # 12345 emergencies and urgent calls.
    hours_limit = np.where(priority == str(Priority.EMERGENCY), 2, np.where(priority == str(Priority.URGENT), 24, 0))
    handle_wd = rng.lognormal(np.log(11), 0.85, n)
    handle_wd = np.where(is_call & (priority == str(Priority.ORDINARY)), rng.lognormal(np.log(3), 0.6, n), handle_wd)
    handle_wd = np.where(is_call & (priority == str(Priority.COMPLEX)), rng.lognormal(np.log(9), 0.6, n), handle_wd)
    by_hours = hours_limit > 0
    drafted = np.where(by_hours, started + (rng.exponential(0.55, n) * hours_limit * 3600).astype(np.int64),
                       _after_workdays(rng, table, started, handle_wd))
    extended = ~by_hours & ~declined & (handle_wd > 50) & (rng.random(n) < 0.5)
    submitted = np.where(by_hours, drafted + rng.integers(60, 1800, n),
                         _after_workdays(rng, table, drafted, rng.exponential(0.4, n)))
    closed = np.where(by_hours, submitted + rng.integers(60, 1800, n),
                      _after_workdays(rng, table, submitted, rng.exponential(0.8, n)))
    closed = np.where(declined, acknowledged, closed)
    started = np.where(declined, -1, started)
    drafted = np.where(declined, -1, drafted)
    submitted = np.where(declined, -1, submitted)

    rates = ~declined & (rng.random(n) < 0.68)
    rated = np.where(rates, closed + rng.integers(600, 10 * DAY, n), -1)
    rating = _choice(rng, RATINGS, n)
    window = settings.REVIEW_REQUEST_WINDOW_DAYS * DAY
    archived = np.where(rng.random(n) < 0.65, np.maximum(closed, rated) + window + rng.integers(DAY, 90 * DAY, n), -1)

    supervised = rng.random(n) < 0.02
    supervised_at = np.where(supervised, assigned + rng.integers(DAY, 10 * DAY, n), -1)
    confidence = np.where(queued, rng.uniform(0.2, 0.6, n), rng.uniform(0.6, 0.99, n)).round(4)
    violation = np.where(acc, np.array(VIOLATIONS)[rng.integers(0, len(VIOLATIONS), n)], "")

    def reached(t: np.ndarray) -> np.ndarray:
        return np.where((t >= 0) & (t <= now), t, -1)

    return Lives(
        n=n, channel=channel, matter=matter, priority=priority, urgent=urgent, named=named, category=category,
        department=dept, created=created, queued=queued, returned=returned, assigned=reached(assigned),
        returned_at=reached(returned_at), reassigned=reached(reassigned), acknowledged=reached(acknowledged),
        declined=declined, started=reached(started), drafted=reached(drafted), submitted=reached(submitted),
        closed=reached(closed), rated=reached(rated), rating=rating, archived=reached(archived),
        supervised=supervised, supervised_at=supervised_at, extended=extended, confidence=confidence,
        violation=violation,
    )


# --- rows -----------------------------------------------------------------------------------

REPORT_COLUMNS = ["id", "channel", "source", "matter_type", "received_at", "logged_by_id", "is_named", "key_id",
                  "wrapped_key", "title_ct", "body_ct", "accused_ct", "place_ct", "occurred_ct", "details_ct",
                  "receipt_hash", "postmarked_on", "visitor_count", "call_started_at", "call_duration_seconds"]
IDENTITY_COLUMNS = ["id", "report_id", "key_id", "wrapped_key", "data_ct", "sms_opt_in", "created_at"]
CASE_COLUMNS = ["id", "report_id", "split_from_id", "status", "department_id", "created_at", "updated_at",
                "triaged_at", "due_at", "closed_at", "category_id", "matter_type", "violation", "urgent", "confidence",
                "triage_explanation", "model_version", "queue_reason", "fingerprint", "fp_band0", "fp_band1",
                "fp_band2", "fp_band3", "duplicate_of_id", "priority", "supervised", "supervised_at", "suspended_at",
                "suspend_reason", "transfer_to_id", "misroute_count", "review_round", "acknowledged_at",
                "first_reply_at", "time_to_acknowledge", "time_to_first_reply", "time_to_close", "audit_seq",
                "audit_head"]
DEADLINE_COLUMNS = ["case_id", "kind", "policy_id", "amount", "unit", "started_at", "due_at", "paused_at",
                    "paused_seconds", "extensions", "extended_amount", "requested_extension", "met_at", "cancelled_at"]
EVENT_COLUMNS = ["case_id", "seq", "kind", "from_status", "to_status", "actor_id", "actor_kind", "payload", "at",
                 "prev_hash", "hash"]
FEEDBACK_COLUMNS = ["report_id", "rating", "comment_ct", "created_at"]


def _dt(t: int) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def _band(fp: int, i: int) -> int:
    return (fp >> (16 * i)) & 0xFFFF


@dataclass
class Batch:
    reports: list[tuple[Any, ...]] = field(default_factory=list)
    identities: list[tuple[Any, ...]] = field(default_factory=list)
    cases: list[tuple[Any, ...]] = field(default_factory=list)
    deadlines: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    feedback: list[tuple[Any, ...]] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)


class Texts:
    """A few hundred labelled messages per category, reused; titles are their openings."""

    def __init__(self, path: Path, categories: list[tuple[int, str, str]], per_category: int = 40) -> None:
        if not path.is_file():
            raise SeedError(f"Text data set not found: {path} (use --texts).")
        by_label: dict[str, list[str]] = {}
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                items = by_label.setdefault(row.get("label", ""), [])
                if len(items) < per_category and len(row.get("text", "")) >= 30:
                    items.append(row["text"][:600])
        fallback = [t for items in by_label.values() for t in items][:per_category] or ["（演示数据）" * 5]
        self.by_category = [by_label.get(name) or fallback for _pk, name, _s in categories]


def build_batch(lives: Lives, *, case_ids: list[int], org: Org, table: WorkdayTable, texts: Texts, now: int,
                rnd: random.Random, with_events: bool, known_receipts: dict[int, str]) -> Batch:
    """Rows of every table for one simulated batch (a plain loop; the heavy work is crypto,
    hashing and formatting, done once per row)."""
    batch = Batch()
    cal_due = _due_function(table)
    now_dt = _dt(now)
    users = org.users
    dup_window: dict[int, list[int]] = {}
    seal_text = crypto.seal_text
    field_aad = crypto.field_aad
    for i in range(lives.n):
        case_id = case_ids[i]
        # Ids from the (unique) case id: a second run with --append never collides.
        report_id = uuid.UUID(bytes=hashlib.sha256(b"report:%d" % case_id).digest()[:16], version=4)
        channel, matter, priority = str(lives.channel[i]), str(lives.matter[i]), str(lives.priority[i])
        named = bool(lives.named[i])
        created = int(lives.created[i])
        cat_index = int(lives.category[i])
        cat_id = org.categories[cat_index][0]
        pool = texts.by_category[cat_index]
        text = pool[rnd.randrange(len(pool))]

        # Report: its own data key, wrapped by the KEK, fields sealed under it.
        rid = str(report_id)
        dk = os.urandom(32)
        key_id, wrapped = crypto.wrap_data_key(dk, owner=f"report:{rid}")
        title_ct = seal_text(dk, text[:24], aad=field_aad(table="report", row_id=rid, field="title"))
        body_ct = seal_text(dk, text, aad=field_aad(table="report", row_id=rid, field="body"))
        receipt = known_receipts.get(i)
        receipt_hash = crypto.receipt_hash(receipt) if receipt else hashlib.sha256(report_id.bytes).hexdigest()
        received = _dt(created)
        batch.reports.append((
            report_id, channel, Source.WEB_FORM if channel == Channel.WEB else Source.STAFF_FORM, matter, received,
            None, named, key_id, wrapped, title_ct, body_ct, None, None, None, None, receipt_hash,
            (received - timedelta(days=rnd.randint(1, 5))).date() if channel == Channel.LETTER else None,
            rnd.choice((1, 1, 1, 2, 3, 6)) if channel == Channel.VISIT else None,
            received if channel == Channel.CALL else None,
            rnd.randint(60, 900) if channel == Channel.CALL else None,
        ))
        if named:
            ident_id = uuid.UUID(bytes=hashlib.sha256(b"identity:%d" % case_id).digest()[:16], version=4)
            idk = os.urandom(32)
            ikid, iwrapped = crypto.wrap_data_key(idk, owner=f"identity:{ident_id}")
            data = json.dumps({"name": f"演示反映人{case_id % 10000:04d}", "mobile": f"1380000{case_id % 10000:04d}"},
                              ensure_ascii=False)
            batch.identities.append((ident_id, report_id, ikid, iwrapped,
                                     seal_text(idk, data, aad=field_aad(table="identity", row_id=str(ident_id),
                                                                        field="data")),
                                     False, received))

        # The case's life up to now.
        assigned, reassigned = int(lives.assigned[i]), int(lives.reassigned[i])
        returned_at = int(lives.returned_at[i])
        ack, started, drafted = int(lives.acknowledged[i]), int(lives.started[i]), int(lives.drafted[i])
        submitted, closed = int(lives.submitted[i]), int(lives.closed[i])
        rated, archived = int(lives.rated[i]), int(lives.archived[i])
        declined = bool(lives.declined[i])
        queued = bool(lives.queued[i])
        dept = int(lives.department[i])
        steps: list[tuple[str, str, str, int, int | None, str, dict[str, Any]]] = []  # kind, from, to, at, actor, ...
        steps.append(("register", "", S.RECEIVED, created, None, "system", {}))
        status = S.RECEIVED
        if queued:
            steps.append(("route", S.RECEIVED, S.AWAITING_TRIAGE, created + 30, None, "system",
                          {"department": None, "category": cat_id, "queue_reason": "low_confidence"}))
            status = S.AWAITING_TRIAGE
            if assigned >= 0:
                steps.append(("triage_accept", S.AWAITING_TRIAGE, S.ASSIGNED, assigned, users["triage"], "staff",
                              {"department": dept, "category": cat_id}))
                status = S.ASSIGNED
        elif assigned >= 0:
            steps.append(("route", S.RECEIVED, S.ASSIGNED, assigned, None, "system",
                          {"department": dept, "category": cat_id, "queue_reason": ""}))
            status = S.ASSIGNED
        if returned_at >= 0:
            steps.append(("return_to_triage", S.ASSIGNED, S.AWAITING_TRIAGE, returned_at, users["handler"], "staff",
                          {"from_department": dept}))
            status = S.AWAITING_TRIAGE
            if reassigned >= 0:
                steps.append(("triage_accept", S.AWAITING_TRIAGE, S.ASSIGNED, reassigned, users["triage"], "staff",
                              {"department": dept, "category": cat_id}))
                status = S.ASSIGNED
        if ack >= 0 and status == S.ASSIGNED:
            if declined:
                steps.append(("decline", S.ASSIGNED, S.NOT_ACCEPTED, ack, users["handler"], "staff", {}))
                status = S.NOT_ACCEPTED
            else:
                steps.append(("accept", S.ASSIGNED, S.ACCEPTED, ack, users["handler"], "staff", {}))
                status = S.ACCEPTED
        for kind, at, to, actor in (("start", started, S.IN_PROGRESS, "handler"),
                                    ("draft_reply", drafted, S.DRAFTED, "handler"),
                                    ("submit_review", submitted, S.IN_REVIEW, "handler"),
                                    ("approve", closed, S.CLOSED, "head")):
            if declined or at < 0:
                break
            steps.append((kind, status, to, at, users[actor], "staff", {}))
            status = to
        if rated >= 0 and status == S.CLOSED:
            steps.append(("rate", S.CLOSED, S.RATED, rated, None, "citizen", {"rating": str(lives.rating[i])}))
            status = S.RATED
            batch.feedback.append((report_id, str(lives.rating[i]), None, _dt(rated)))
        if archived >= 0 and status in (S.CLOSED, S.RATED, S.NOT_ACCEPTED):
            steps.append(("archive", status, S.ARCHIVED, archived, users["head"], "staff", {}))
            status = S.ARCHIVED
        supervised = bool(lives.supervised[i]) and status != S.ARCHIVED and 0 <= int(lives.supervised_at[i]) <= now
        supervised_at = None
        if supervised:
            sup_at = max(int(lives.supervised_at[i]), steps[-1][3] + 1)
            if sup_at <= now:
                steps.append(("supervise", status, status, sup_at, users["leader"], "staff", {}))
                supervised_at = _dt(sup_at)
            else:
                supervised = False
        batch.statuses[status] = batch.statuses.get(status, 0) + 1
        closed_dt = _dt(closed) if closed >= 0 else None

        # Clocks: 登记交办 from receipt, 受理告知 from assignment, 办理 from acceptance.
        report_key = (channel, matter, priority if priority != Priority.ORDINARY or not lives.urgent[i]
                      else str(Priority.URGENT), named)
        open_due: list[int] = []

        def clock(kind: str, start: int, met: int, extended: int = 0, rk: tuple[str, str, str, bool] = report_key,
                  cid: int = case_id, od: list[int] = open_due) -> None:
            policy = _policy(org, kind, *rk)
            if policy is None or start < 0:
                return
            due = cal_due(start, policy.amount + extended, policy.unit)
            if met < 0:
                od.append(due)
            batch.deadlines.append((cid, kind, policy.pk, policy.amount, policy.unit, _dt(start), _dt(due), None, 0,
                                    1 if extended else 0, extended, None, _dt(met) if met >= 0 else None, None))

        first_assigned = assigned
        clock(DeadlineKind.TRANSFER, created, first_assigned)
        if returned_at >= 0:
            # The misrouted assignment's notice clock was cancelled; a new one ran from re-assignment.
            policy = _policy(org, DeadlineKind.ACCEPTANCE_NOTICE, *report_key)
            if policy is not None:
                due = cal_due(assigned, policy.amount, policy.unit)
                batch.deadlines.append((case_id, DeadlineKind.ACCEPTANCE_NOTICE, policy.pk, policy.amount, policy.unit,
                                        _dt(assigned), _dt(due), None, 0, 0, 0, None, None, _dt(returned_at)))
        clock(DeadlineKind.ACCEPTANCE_NOTICE, reassigned, ack)
        if not declined and ack >= 0:
            extension = 30 if bool(lives.extended[i]) and started >= 0 else 0
            handle_policy = _policy(org, DeadlineKind.HANDLE, *report_key)
            if handle_policy is not None and extension:
                extension = min(handle_policy.max_extension_amount, extension) if handle_policy.max_extensions else 0
            clock(DeadlineKind.HANDLE, ack, closed, extension)

        # Duplicates point to an earlier seeded case of the same category and department.
        same = dup_window.setdefault(cat_id * 100003 + dept, [])
        duplicate_of = same[rnd.randrange(len(same))] if same and rnd.random() < 0.03 else None
        if len(same) < 50:
            same.append(case_id)

        head, seq = GENESIS, 0
        if with_events:
            for kind, from_status, to_status, at, step_actor, actor_kind, payload in steps:
                seq += 1
                at_dt = _dt(at)
                actor_id = step_actor if actor_kind == "staff" else None
                payload_json = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
                record = fast_canonical(case_id, seq, kind, from_status, to_status, actor_id, actor_kind,
                                        payload_json, at_dt, head)
                if not batch.events:  # the shortcut must agree with triage.audit exactly
                    assert record == canonical(case_id=case_id, seq=seq, kind=kind, from_status=from_status,
                                               to_status=to_status, actor_id=actor_id, actor_kind=actor_kind,
                                               payload=payload, at=at_dt, prev_hash=head), "canonical form changed"
                digest = hashlib.sha256(record).hexdigest()
                batch.events.append((case_id, seq, kind, from_status, to_status, actor_id, actor_kind,
                                     payload_json, at_dt, head, digest))
                head = digest
        triaged = reassigned if reassigned >= 0 else -1
        fp = rnd.getrandbits(63)
        first_reply = closed_dt
        batch.cases.append((
            case_id, report_id, None, str(status), dept if status != S.AWAITING_TRIAGE or returned_at >= 0 else None,
            received, _dt(steps[-1][3]) if steps[-1][3] <= now else now_dt, _dt(triaged) if triaged >= 0 else None,
            _dt(min(open_due)) if open_due and status not in (S.NOT_ACCEPTED, S.CLOSED, S.RATED, S.ARCHIVED) else None,
            closed_dt, cat_id, matter, str(lives.violation[i]), bool(lives.urgent[i]), float(lives.confidence[i]),
            json.dumps({"seeded": True}), SEED_MARK, "low_confidence" if queued else ("returned" if returned_at >= 0 else ""),
            fp, _band(fp, 0), _band(fp, 1), _band(fp, 2), _band(fp, 3), duplicate_of, priority, supervised, supervised_at,
            None, "", None, 1 if returned_at >= 0 else 0, 0,
            _dt(ack) if ack >= 0 else None, first_reply,
            timedelta(seconds=ack - created) if ack >= 0 else None,
            timedelta(seconds=closed - created) if closed >= 0 else None,
            timedelta(seconds=closed - created) if closed >= 0 else None,
            seq, head if seq else "",
        ))
    return batch


def fast_canonical(case_id: int, seq: int, kind: str, from_status: str, to_status: str, actor_id: int | None,
                   actor_kind: str, payload_json: str, at: datetime, prev_hash: str) -> bytes:
    """`triage.audit.canonical` for the plain identifiers seeded events hold (no characters
    that JSON escapes), as one format string: five times faster than json.dumps of a dict.
    build_batch checks it against the real one once per batch."""
    actor = "null" if actor_id is None else str(actor_id)
    return (f'{{"actor":{actor},"actor_kind":"{actor_kind}","at":"{at.isoformat(timespec="microseconds")}",'
            f'"case":{case_id},"from":"{from_status}","kind":"{kind}","payload":{payload_json},'
            f'"prev":"{prev_hash}","seq":{seq},"to":"{to_status}","v":{CHAIN_VERSION}}}').encode()


def _due_function(table: WorkdayTable) -> Callable[[int, int, str], int]:
    """Due time (epoch seconds) as `triage.deadlines.compute_due` gives it, by table lookup."""
    from triage.deadlines import compute_due

    def due(start: int, amount: int, unit: str) -> int:
        if unit == DeadlineUnit.HOURS:
            return start + amount * 3600
        if unit == DeadlineUnit.WORKING_DAYS:
            day = table.add_one((start + TZ_OFFSET) // DAY, amount)
            return day * DAY - TZ_OFFSET + DAY - 1
        return int(compute_due(started_at=_dt(start), amount=amount, unit=unit).timestamp())

    return due


# --- writing --------------------------------------------------------------------------------

TABLES = [
    ("intake_report", REPORT_COLUMNS, "reports", Report),
    ("intake_reporteridentity", IDENTITY_COLUMNS, "identities", ReporterIdentity),
    ("triage_case", CASE_COLUMNS, "cases", Case),
    ("triage_deadline", DEADLINE_COLUMNS, "deadlines", Deadline),
    ("triage_caseevent", EVENT_COLUMNS, "events", CaseEvent),
    ("intake_feedback", FEEDBACK_COLUMNS, "feedback", Feedback),
]


def _copy_batch(conn: Any, batch: Batch) -> None:
    """One batch, every table, in one transaction of `conn` (a psycopg 3 connection)."""
    with conn.transaction(), conn.cursor() as cursor:
        for table_name, columns, attr, _model in TABLES:
            rows = getattr(batch, attr)
            if not rows:
                continue
            with cursor.copy(f"COPY {table_name} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)


class PostgresWriter:
    """COPYs batches on a connection of its own in a thread, so PostgreSQL stores batch k
    while Python builds batch k+1 (two cores: one each). One batch waits at most."""

    def __init__(self) -> None:
        import psycopg

        self._conn = psycopg.connect(**connection.get_connection_params(), autocommit=True)
        self._conn.execute("SET synchronous_commit = off")  # a crash loses the last batches, nothing else
        self._queue: queue.Queue[Batch | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="seed-demo-copy", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._error is None:
                try:
                    _copy_batch(self._conn, batch)
                except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
                    self._error = exc

    def write(self, batch: Batch) -> None:
        self._raise()
        self._queue.put(batch)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._conn.close()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error


def _write_orm(batch: Batch) -> None:
    for _table, columns, attr, model in TABLES:
        rows = getattr(batch, attr)
        objs = []
        for row in rows:
            values = dict(zip(columns, row, strict=True))
            for key in ("triage_explanation", "payload"):
                if key in values:
                    values[key] = json.loads(values[key])
            objs.append(model(**values))
        model._default_manager.bulk_create(objs, batch_size=500)


def _reserve_case_ids(n: int) -> list[int]:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(pg_get_serial_sequence('triage_case', 'id')) FROM generate_series(1, %s)",
                           [n])
            return [row[0] for row in cursor.fetchall()]
    # SQLite: ids after the current maximum (seeding is not meant to run beside live writes).
    top = Case.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    return list(range(top + 1, top + n + 1))


def seeded_exists() -> bool:
    return Case.objects.filter(model_version=SEED_MARK).exists()


def seed_history(*, cases: int, months: int = 12, seed: int = 2026, batch_size: int = 20000, with_events: bool = True,
                 texts_path: Path | None = None, append: bool = False, now: datetime | None = None,
                 known_receipts: int = 3, progress: Callable[[int, int], None] | None = None) -> SeedResult:
    """Create `cases` seeded cases with their reports, clocks, events and ratings."""
    if not append and seeded_exists():
        raise SeedError("Seeded demo cases already exist: pass --append to add more.")
    org = load_org()
    texts = Texts(texts_path or Path(settings.TRAINING_CSV), org.categories)
    now_ts = int((now or timezone.now()).timestamp())
    start_ts = now_ts - int(months * 30.44 * DAY)
    first_day = int(local_day(np.array([start_ts]))[0]) - 7
    table = WorkdayTable(first_day, int(local_day(np.array([now_ts]))[0]) + 400)
    rng = np.random.default_rng(seed)
    # Reproducible layout, not secrets: key material comes from os.urandom; the few demo
    # receipts drawn from it are meant to be printed and typed in.
    rnd = random.Random(seed)  # noqa: S311
    result = SeedResult()
    # Inside a transaction (tests) rows must go through that transaction: no second connection.
    threaded = connection.vendor == "postgresql" and not connection.in_atomic_block
    writer = PostgresWriter() if threaded else None
    try:
        _seed_batches(cases=cases, batch_size=batch_size, org=org, table=table, texts=texts, now_ts=now_ts,
                      start_ts=start_ts, rng=rng, rnd=rnd, with_events=with_events, known_receipts=known_receipts,
                      writer=writer, result=result, progress=progress)
    finally:
        if writer is not None:
            writer.close()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for name in ("triage_case", "triage_deadline", "triage_caseevent", "intake_report"):
                cursor.execute(f"ANALYZE {name}")
    return result


def _seed_batches(*, cases: int, batch_size: int, org: Org, table: WorkdayTable, texts: Texts, now_ts: int,
                  start_ts: int, rng: np.random.Generator, rnd: random.Random, with_events: bool, known_receipts: int,
                  writer: PostgresWriter | None, result: SeedResult, progress: Callable[[int, int], None] | None) -> None:
    done = 0
    receipts_left = known_receipts
    while done < cases:
        n = min(batch_size, cases - done)
        lives = simulate(rng, org, table, n=n, start=start_ts, now=now_ts)
        ids = _reserve_case_ids(n)
        known: dict[int, str] = {}
        while receipts_left > 0 and len(known) < min(n, known_receipts):
            # From the case id (unique across runs, so --append never repeats a receipt).
            digest = hashlib.sha256(b"receipt:%d:%d" % (rnd.getrandbits(32), ids[len(known)])).digest()
            known[len(known)] = f"{int.from_bytes(digest[:8], 'big') % 10**16:016d}"
            receipts_left -= 1
        batch = build_batch(lives, case_ids=ids, org=org, table=table, texts=texts, now=now_ts, rnd=rnd,
                            with_events=with_events, known_receipts=known)
        if writer is not None:
            writer.write(batch)
        elif connection.vendor == "postgresql":
            connection.ensure_connection()
            _copy_batch(connection.connection, batch)
        else:
            with transaction.atomic():
                _write_orm(batch)
        result.receipts.extend(known.values())
        result.cases += len(batch.cases)
        result.reports += len(batch.reports)
        result.identities += len(batch.identities)
        result.deadlines += len(batch.deadlines)
        result.events += len(batch.events)
        result.feedback += len(batch.feedback)
        for key, value in batch.statuses.items():
            result.statuses[key] = result.statuses.get(key, 0) + value
        done += n
        if progress:
            progress(done, cases)


def iter_status_labels(statuses: dict[str, int]) -> Iterator[tuple[str, int]]:
    labels = dict(CaseStatus.choices)
    for value, _label in CaseStatus.choices:
        if statuses.get(value):
            yield str(labels[value]), statuses[value]
