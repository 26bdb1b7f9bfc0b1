"""The dashboards' maintained per-case figures (`CaseFigures`): how a row is computed from
the case tables, the incremental refresh of the cases the database triggers queued
(`FiguresDirty`), and the full rebuild. Also the working-day SQL both the figures and the
live dashboard queries use, so a duration is the same number either way."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from intake.models import Rating
from triage.models import Case, CaseFigures, CaseStatus, FiguresDay, FiguresDirty, FiguresVersion, WorkdayIndex
from triage.workdays import WorkCalendar

WORKDAY_HORIZON_YEARS = 8
REFRESH_CHUNK = 5000  # dirty rows per refresh transaction
REBUILD_ABOVE = 200_000  # queued rows beyond which a refresh rebuilds everything instead
# Working-day durations: (CaseFigures column, the case's end instant). PostgreSQL counts the
# close from time_to_close (stored at the first close, so a reopened case keeps it).
DURATIONS = (("days_to_acknowledge", "c.acknowledged_at"), ("days_to_first_reply", "c.first_reply_at"),
             ("days_to_close", "c.closed_at"))
_LOCK = 0x51F16  # pg_advisory_xact_lock key: one refresh or rebuild at a time


# --- working days in SQL ----------------------------------------------------------------------


def workday_index_sync(*, first: date | None = None, last: date | None = None, force: bool = False) -> int:
    """Make the working-day index cover [first, last] (default: the last years and the next
    one). The whole table is rebuilt so ordinals stay consecutive; a few thousand rows."""
    today = timezone.localdate()
    first = min(first or today, today.replace(year=today.year - WORKDAY_HORIZON_YEARS, day=1))
    last = max(last or today, date(today.year + 1, 12, 31))
    if not force:
        bounds = WorkdayIndex.objects.order_by().aggregate(lo=Min("date"), hi=Max("date"))
        if bounds["lo"] is not None and bounds["lo"] <= first and bounds["hi"] >= last:
            return 0
        first, last = min(first, bounds["lo"] or first), max(last, bounds["hi"] or last)
    calendar = WorkCalendar()
    rows, ordinal, day = [], 0, first
    while day <= last:
        work = calendar.is_workday(day)
        rows.append(WorkdayIndex(date=day, is_workday=work, ordinal=ordinal))
        ordinal += work
        day += timedelta(days=1)
    with transaction.atomic():
        WorkdayIndex.objects.all().delete()
        WorkdayIndex.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def _utc_offset_hours() -> int:
    offset = timezone.localtime().utcoffset()
    return int(offset.total_seconds() // 3600) if offset else 0


def workdays_sql(start: str, end: str, s: str, e: str) -> str:
    """Working days from `start` to `end` (SQL expressions of timestamps), with `s` and `e`
    the index rows of their local dates: whole working days between, plus the working part
    of the first and last day (WorkCalendar.working_seconds_between / 86400)."""
    if connection.vendor == "postgresql":
        tz = timezone.get_current_timezone_name()
        frac = "(EXTRACT(EPOCH FROM ({t} AT TIME ZONE '" + tz + "')::time) / 86400.0)"
    else:
        hours = _utc_offset_hours()
        frac = "(julianday({t}, '" + f"{hours:+d} hours" + "') - julianday(date({t}, '" + f"{hours:+d} hours" + "')))"
    return (f"({e}.ordinal - {s}.ordinal + CASE WHEN {e}.is_workday THEN {frac.format(t=end)} ELSE 0 END "
            f"- CASE WHEN {s}.is_workday THEN {frac.format(t=start)} ELSE 0 END)")


def local_date_sql(t: str) -> str:
    if connection.vendor == "postgresql":
        return f"(({t}) AT TIME ZONE '{timezone.get_current_timezone_name()}')::date"
    return f"date({t}, '{_utc_offset_hours():+d} hours')"


def close_end_sql(created: str, closed: str, ttc: str) -> str:
    """The instant of the first close: created + time_to_close on PostgreSQL (SQLite stores
    durations as integers of microseconds, so the close time itself is used there)."""
    return f"({created} + {ttc})" if connection.vendor == "postgresql" else closed


# --- one row per case ---------------------------------------------------------------------------

_KINDS = (("acceptance_notice", "notice"), ("handle", "handle"), ("transfer", "transfer"))
_RATED = "('acceptance_notice', 'handle', 'transfer')"
_OPEN = "(" + ", ".join(f"'{s}'" for s in sorted(
    set(CaseStatus) - {CaseStatus.RECEIVED, CaseStatus.NOT_ACCEPTED, CaseStatus.CLOSED, CaseStatus.RATED,
                       CaseStatus.ARCHIVED})) + ")"
COLUMNS = [str(f.column) for f in CaseFigures._meta.concrete_fields]


def _flag(cond: str) -> str:
    return f"MAX(CASE WHEN {cond} THEN 1 ELSE 0 END)"


def _select_sql(where: str) -> str:
    """SELECT of CaseFigures rows (in COLUMNS order) for the cases matching `where` (over
    `c`, the case). The same definitions as the live queries of triage.dashboard."""
    clock_cols = []
    for kind, prefix in _KINDS:
        k = f"kind = '{kind}'"
        clock_cols += [
            f"{_flag(f'{k} AND met_at > due_at')} AS {prefix}_late",
            f"{_flag(f'{k} AND met_at <= due_at')} AS {prefix}_ok",
            f"MIN(CASE WHEN {k} AND met_at IS NULL AND paused_at IS NULL THEN due_at END) AS {prefix}_due",
            f"{_flag(f'{k} AND met_at IS NULL AND paused_at IS NOT NULL AND due_at < paused_at')} AS {prefix}_paused_late",
        ]
    clocks = (
        "SELECT case_id, SUM(extensions) AS extensions, "
        f"SUM(CASE WHEN kind IN {_RATED} AND met_at <= due_at THEN 1 ELSE 0 END) AS clocks_ok, "
        f"SUM(CASE WHEN kind IN {_RATED} AND met_at > due_at THEN 1 ELSE 0 END) AS clocks_late, "
        + ", ".join(clock_cols)
        + f" FROM triage_deadline WHERE cancelled_at IS NULL AND case_id IN (SELECT c.id FROM triage_case c WHERE {where})"
        " GROUP BY case_id"
    )
    index = WorkdayIndex._meta.db_table
    ends = {name: end for name, end in DURATIONS}
    ends["days_to_close"] = close_end_sql("c.created_at", "c.closed_at", "c.time_to_close")
    joins = [f"JOIN {index} s ON s.date = {local_date_sql('c.created_at')}"]
    durations = {}
    for i, (name, _end) in enumerate(DURATIONS):
        joins.append(f"LEFT JOIN {index} e{i} ON e{i}.date = {local_date_sql(ends[name])}")
        durations[name] = workdays_sql("c.created_at", ends[name], "s", f"e{i}")
    if connection.vendor == "postgresql":
        terms = ("CASE WHEN jsonb_typeof(c.triage_explanation->'category'->'terms') = 'array' "
                 "THEN c.triage_explanation->'category'->'terms' END")
    else:
        terms = ("CASE WHEN json_type(c.triage_explanation, '$.category.terms') = 'array' "
                 "THEN json_extract(c.triage_explanation, '$.category.terms') END")
    primary = "c.split_from_id IS NULL"
    values = {
        "case_id": "c.id", "created_at": "c.created_at", "department_id": "c.department_id", "channel": "r.channel",
        "category_id": "c.category_id", "matter_type": "c.matter_type", "is_primary": f"({primary})",
        "is_open": f"(c.status IN {_OPEN})", "due_at": "c.due_at", "suspended_at": "c.suspended_at",
        "closed_at": "c.closed_at", "supervised": "c.supervised", "routed": "(c.triaged_at IS NOT NULL)",
        "misrouted": "(c.misroute_count > 0)", "reopened": "(c.review_round > 0)",
        "duplicate": "(c.duplicate_of_id IS NOT NULL)",
        "review_requested": "EXISTS (SELECT 1 FROM intake_reviewrequest rr WHERE rr.report_id = c.report_id)",
        "extensions": "COALESCE(d.extensions, 0)", "clocks_ok": "COALESCE(d.clocks_ok, 0)",
        "clocks_late": "COALESCE(d.clocks_late, 0)",
        "rating": f"CASE WHEN {primary} THEN COALESCE(f.rating, '') ELSE '' END",
        "rated_at": f"CASE WHEN {primary} THEN f.created_at END",
        "terms": f"CASE WHEN {primary} THEN {terms} END",
        **durations,
    }
    for _kind, prefix in _KINDS:
        for col in ("late", "ok", "paused_late"):
            values[f"{prefix}_{col}"] = f"(COALESCE(d.{prefix}_{col}, 0) = 1)"
        values[f"{prefix}_due"] = f"d.{prefix}_due"
    return (
        f"SELECT {', '.join(values[col] for col in COLUMNS)} FROM triage_case c "
        "JOIN intake_report r ON r.id = c.report_id LEFT JOIN intake_feedback f ON f.report_id = c.report_id "
        f"LEFT JOIN ({clocks}) d ON d.case_id = c.id {' '.join(joins)} "
        f"WHERE c.status <> '{CaseStatus.RECEIVED}' AND {where}"
    )


def _insert(where: str, params: Sequence[Any]) -> int:
    table = connection.ops.quote_name(CaseFigures._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in COLUMNS)
    sql = _select_sql(where)
    with connection.cursor() as cursor:
        # `where` appears twice: in the clocks' subquery and on the case.
        cursor.execute(f"INSERT INTO {table} ({cols}) {sql}", [*params, *params])
        return int(cursor.rowcount)


def _lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])


def _ensure_index(ids: list[int] | None) -> None:
    """The working-day index covers the cases' receipt dates (all cases when ids is None)."""
    cases = Case.objects.order_by()
    first = (cases.filter(pk__in=ids) if ids is not None else cases).aggregate(first=Min("created_at"))["first"]
    if first is not None:
        workday_index_sync(first=timezone.localtime(first).date() - timedelta(days=1))


def figures_refresh(*, max_rows: int | None = None, rebuild_above: int | None = REBUILD_ABOVE) -> int:
    """Recompute the figures of the queued cases, a chunk per transaction (each chunk takes
    its queue rows with DELETE … RETURNING, so a change committed meanwhile stays queued),
    and move FiguresDay by the difference. Idempotent; returns the queue rows consumed.
    `max_rows` bounds the work (a page view); a queue longer than `rebuild_above` (a first
    fill, a mass update) is cheaper as a rebuild."""
    table = connection.ops.quote_name(FiguresDirty._meta.db_table)
    if rebuild_above is not None and FiguresDirty.objects.count() > rebuild_above:
        figures_rebuild()
        return 0
    done = 0
    while max_rows is None or done < max_rows:
        with transaction.atomic():
            _lock()
            with connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} ORDER BY id LIMIT %s) "
                               "RETURNING case_id", [REFRESH_CHUNK])
                queued = cursor.fetchall()
            if not queued:
                break
            ids = sorted({int(row[0]) for row in queued})
            where = f"c.id IN ({', '.join(['%s'] * len(ids))})"
            _ensure_index(ids)
            with _day_delta(ids):
                CaseFigures.objects.filter(case_id__in=ids).delete()
                _insert(where, ids)
            _new_version()
        done += len(queued)
    return done


def figures_rebuild() -> int:
    """Recompute every case's figures (after a calendar change, or to check the maintained
    rows). Consumes the queue as it stands; changes committed meanwhile stay queued."""
    with transaction.atomic():
        _lock()
        FiguresDirty.objects.all().delete()
        CaseFigures.objects.all().delete()
        _ensure_index(None)
        n = _insert("1 = 1", [])
        FiguresDay.objects.all().delete()
        _days_insert()
        _new_version()
        return n


# --- per day --------------------------------------------------------------------------------------

_DIMS = ("department_id", "channel", "category_id", "matter_type")
_NULLABLE = ("department_id", "category_id")
_BASES = ("created_at", "closed_at", "rated_at")  # received / closed / rated that day


def _int(cond: str) -> str:
    return f"CASE WHEN {cond} THEN 1 ELSE 0 END"


def _day_columns() -> dict[str, tuple[str, str, str]]:
    """FiguresDay column → its value per CaseFigures row, on each basis (_BASES)."""
    created = {
        "received": "1", "closed": _int("closed_at IS NOT NULL"),
        **{flag: _int(flag) for flag in ("supervised", "routed", "misrouted", "reopened", "duplicate",
                                         "review_requested")},
        "extensions": "extensions", "extended": _int("extensions > 0"), "clocks_ok": "clocks_ok",
        "clocks_late": "clocks_late + " + " + ".join(_int(f"{p}_paused_late") for _k, p in _KINDS),
        **{f"{p}_late": _int(f"{p}_late OR {p}_paused_late") for _k, p in _KINDS},
        **{f"{p}_ok": _int(f"{p}_ok AND NOT {p}_late AND NOT {p}_paused_late AND {p}_due IS NULL") for _k, p in _KINDS},
        **{r.value: _int(f"rating = '{r.value}'") for r in Rating},
    }
    good = f"rating IN ('{Rating.SATISFIED.value}', '{Rating.BASICALLY_SATISFIED.value}')"
    cols = {name: (expr, "0", "0") for name, expr in created.items()}
    cols |= {"closed_on": ("0", "1", "0"), "rated_on": ("0", "0", "1"), "rated_good_on": ("0", "0", _int(good))}
    return cols


def _contributions(where: str, params: list[Any]) -> tuple[str, list[Any]]:
    """SELECT of FiguresDay rows (day, detail, dims, columns) summed from the CaseFigures
    rows matching `where`: per every dimension (detail) and per department alone."""
    cols = _day_columns()
    parts = []
    for i, basis in enumerate(_BASES):
        values = ", ".join(f"{exprs[i]} AS {name}" for name, exprs in cols.items())
        parts.append(f"SELECT {local_date_sql(basis)} AS day, {', '.join(_DIMS)}, {values} "
                     f"FROM {CaseFigures._meta.db_table} WHERE {basis} IS NOT NULL AND {where}")
    sums = ", ".join(f"SUM({name}) AS {name}" for name in cols)
    dims = ", ".join(_DIMS)
    union = " UNION ALL ".join(parts)
    sql = " UNION ALL ".join(
        f"SELECT day, {'TRUE' if detail else 'FALSE'} AS detail, {select}, {sums} FROM ({union}) AS u "
        f"GROUP BY day, {group}"
        for detail, select, group in ((True, dims, dims),
                                      (False, "department_id, '' AS channel, NULL AS category_id, '' AS matter_type",
                                       "department_id")))
    return sql, params * (2 * len(_BASES))


def _days_insert() -> None:
    """Sum every CaseFigures row into FiguresDay (the table is empty)."""
    sql, params = _contributions("1 = 1", [])
    names = ", ".join(["day", "detail", *_DIMS, *_day_columns()])
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {FiguresDay._meta.db_table} ({names}) {sql}", params)


@contextmanager
def _day_delta(ids: list[int]) -> Iterator[None]:
    """Move FiguresDay by what the cases `ids` contribute after the block minus before it:
    work in proportion to the changed cases, not to the days they count on."""
    where = f"case_id IN ({', '.join(['%s'] * len(ids))})"
    cols = list(_day_columns())
    keys = ["day", "detail", *_DIMS]
    table = FiguresDay._meta.db_table
    with connection.cursor() as cursor:
        sql, params = _contributions(where, ids)
        cursor.execute("DROP TABLE IF EXISTS figures_delta")
        cursor.execute(f"CREATE TEMPORARY TABLE figures_delta AS SELECT -1 AS sign, g.* FROM ({sql}) AS g", params)
        yield
        sql, params = _contributions(where, ids)
        cursor.execute(f"INSERT INTO figures_delta SELECT 1, g.* FROM ({sql}) AS g", params)
        # Equality on the whole key, NULL as 0: FiguresDay's key index finds each group.
        match = " AND ".join(f"f.{k} = n.{k}" if k not in _NULLABLE else f"COALESCE(f.{k}, 0) = COALESCE(n.{k}, 0)"
                             for k in keys)
        cursor.execute("DROP TABLE IF EXISTS figures_net")
        cursor.execute(f"CREATE TEMPORARY TABLE figures_net AS SELECT {', '.join(keys)}, "
                       f"{', '.join(f'SUM(sign * {c}) AS {c}' for c in cols)} FROM figures_delta "
                       f"GROUP BY {', '.join(keys)}")
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE figures_net")  # a few rows: the planner then walks FiguresDay's index
        cursor.execute(f"UPDATE {table} AS f SET {', '.join(f'{c} = f.{c} + n.{c}' for c in cols)} "
                       f"FROM figures_net AS n WHERE {match}")
        cursor.execute(f"INSERT INTO {table} ({', '.join(keys + cols)}) SELECT n.* FROM figures_net AS n "
                       f"WHERE NOT EXISTS (SELECT 1 FROM {table} f WHERE {match})")
        # A group no case counts in any more (every column is 0 when these three are).
        cursor.execute(f"DELETE FROM {table} WHERE received = 0 AND closed_on = 0 AND rated_on = 0 "
                       f"AND EXISTS (SELECT 1 FROM figures_net n WHERE {match.replace('f.', table + '.')})")
        cursor.execute("DROP TABLE figures_net")
        cursor.execute("DROP TABLE figures_delta")


def _new_version() -> None:
    FiguresVersion.objects.update_or_create(id=1, defaults={"token": uuid.uuid4().hex})


def figures_version() -> str | None:
    """The current token of the figures (None before their first refresh)."""
    return FiguresVersion.objects.filter(id=1).values_list("token", flat=True).first()


def figures_as_of(now: datetime | None = None) -> datetime:
    """The figures are complete up to here: the oldest change still queued, else now."""
    oldest = FiguresDirty.objects.order_by("id").values_list("queued_at", flat=True).first()
    return oldest if oldest is not None else (now or timezone.now())
