"""Deadline scan benchmark: time and SQL statements of one full scan over N open cases.

What it measures
----------------
1. Setup (timed, not benchmarked): a database `qingfeng_bench_notify` is created on the
   server of `--database-url`, migrated and given the demo organisation (`seed_org`: 66
   departments). Every department gets two handlers and a head with e-mail addresses, the
   city two leaders. Cases are generated in bulk with COPY (no encryption: the scan never
   reads a report, so each case's report row holds a placeholder ciphertext): 20% 已交办
   with a 受理告知 clock of 15 working days, 80% 办理中 with a 办理 clock of 60 working
   days; each clock started a uniform 0–110% of its period ago (so about 9% are overdue
   and 18% 临期), 5% urgent.
2. The scan (`notifications.services.deadline_scan`, what beat and `manage.py
   scan_deadlines` run) in this process, first with `--small` cases, then after more cases
   are added up to `--cases`: a cold scan (every 临期/超期 notice, escalation step with its
   case event and 督办, and send queued is new) and a warm rescan (nothing new: what a
   beat every five minutes does). For each: wall time, the CPU time of this process and
   its PostgreSQL backend (the work, whatever else the machine runs), how busy the whole
   machine was meanwhile, and the number of SQL statements.

Target: the cold scan of `--cases` cases under 10 s, and statements independent of the
number of cases (the same count at both sizes).

Isolation: only the bench database is written, and dropped at the end. Redis database
`/15` with queue prefix `qfbench-notify-<pid>-`; the queued sends are deleted at the end
(no worker runs: sending is not measured here).

Run:
    cd /work/main && .venv/bin/python bench/notify.py [--cases 200000] [--small 20000] \
        [--database-url URL] [--redis-url URL] [--bench-database NAME]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(BASE_DIR))
from bench.harness import (  # noqa: E402 - after sys.path is set
    bench_env,
    create_database,
    db_backends,
    drop_database,
    machine_cpu,
    manage,
    redis_delete,
    self_cpu,
    table,
    with_database,
)

BENCH_DB = "qingfeng_bench_notify"
QUEUE_PREFIX = f"qfbench-notify-{os.getpid()}-"
CACHE_PREFIX = f"bench-notify-{os.getpid()}"
TARGET_SECONDS = 10.0
UNUSABLE = "!"  # an unusable password hash: bench staff cannot log in


def seed_staff() -> int:
    from django.contrib.auth.models import Group, User

    from triage.demo import seed_roles
    from triage.models import Department, StaffProfile

    groups = seed_roles()
    users, roles = [], []
    for dept in Department.objects.all():
        for role, n in (("handler", 2), ("department_head", 1)):
            for i in range(n):
                name = f"{dept.code}-{role}-{i}"
                users.append(User(username=name, email=f"{name}@example.gov.cn", password=UNUSABLE))
                roles.append((name, role, dept))
    for i in range(2):
        users.append(User(username=f"leader-{i}", email=f"leader{i}@example.gov.cn", password=UNUSABLE))
        roles.append((f"leader-{i}", "leadership", Department.objects.get(code="379900-gov")))
    User.objects.bulk_create(users)
    by_name = {u.username: u for u in User.objects.all()}
    StaffProfile.objects.bulk_create([StaffProfile(user=by_name[n], department=d) for n, _r, d in roles])
    through = User.groups.through
    through.objects.bulk_create([through(user_id=by_name[n].pk, group_id=groups[r].pk) for n, r, _d in roles])
    del Group
    return len(users)


def _copy(table_name: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    from django.db import connection

    connection.ensure_connection()
    raw = connection.connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(
            f"COPY {table_name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def generate_cases(start_id: int, n: int, now: datetime, rng: random.Random) -> None:
    """COPY n reports, their cases and one running clock each."""
    from django.db import connection, transaction
    from psycopg.types.json import Jsonb

    from triage.models import Case, DeadlinePolicy, Department

    departments = list(Department.objects.values_list("pk", flat=True))
    policies = {p.kind: p.pk for p in DeadlinePolicy.objects.filter(channel="", matter_type="", priority="")}
    reports, cases, clocks = [], [], []
    for i in range(start_id, start_id + n):
        assigned = rng.random() < 0.2
        kind, amount, days = ("acceptance_notice", 15, 21) if assigned else ("handle", 60, 84)
        elapsed = timedelta(days=days * 1.1 * rng.random())
        started = now - elapsed
        due = (started + timedelta(days=days)).replace(hour=23, minute=59, second=59)
        report_id = uuid.uuid4()
        reports.append((report_id, "web", "web_form", "", started, False, "bench", b"\x00", b"\x00"))
        cases.append((i, report_id, "assigned" if assigned else "in_progress", rng.choice(departments), started,
                      started, started, due, "", "", rng.random() < 0.05, Jsonb({}), "", "", "ordinary", False, "",
                      0, 0, 0, ""))
        clocks.append((i, kind, policies.get(kind), amount, "working_days", started, due, 0, 0, 0))
    with transaction.atomic():
        _copy("intake_report", ["id", "channel", "source", "matter_type", "received_at", "is_named", "key_id",
                                "wrapped_key", "body_ct"], reports)
        _copy("triage_case", ["id", "report_id", "status", "department_id", "created_at", "updated_at", "triaged_at",
                              "due_at", "matter_type", "violation", "urgent", "triage_explanation", "model_version",
                              "queue_reason", "priority", "supervised", "suspend_reason", "misroute_count",
                              "review_round", "audit_seq", "audit_head"], cases)
        _copy("triage_deadline", ["case_id", "kind", "policy_id", "amount", "unit", "started_at", "due_at",
                                  "paused_seconds", "extensions", "extended_amount"], clocks)
        with connection.cursor() as cursor:
            cursor.execute("SELECT setval(pg_get_serial_sequence('triage_case', 'id'), %s)", [start_id + n])
            cursor.execute("ANALYZE")
    del Case


def measured_scan(now: datetime, database: str) -> tuple[float, int, Any, float, float]:
    """(wall seconds, statements, result, CPU seconds of this process and its PostgreSQL
    backend, share of the machine's CPU busy meanwhile): the CPU time says how much work the
    scan is when other processes make the wall time wait."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from notifications.services import deadline_scan

    connection.ensure_connection()
    cpu_before = self_cpu() + sum(db_backends(database).values())
    busy_before, total_before = machine_cpu()
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        if os.environ.get("BENCH_PROFILE"):
            import cProfile
            import pstats

            profile = cProfile.Profile()
            result = profile.runcall(deadline_scan, now=now)
            pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
        else:
            result = deadline_scan(now=now)
        seconds = time.perf_counter() - started
    cpu = self_cpu() + sum(db_backends(database).values()) - cpu_before
    busy_after, total_after = machine_cpu()
    busy = (busy_after - busy_before) / max(total_after - total_before, 1e-9)
    if os.environ.get("BENCH_SHOW_SLOW"):
        for q in sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:6]:
            print(f"  {q['time']}s {q['sql'][:160]!r}")
    return seconds, len(queries), result, cpu, busy


def counts() -> dict[str, int]:
    from notifications.models import Escalation, Notification
    from triage.models import Case, CaseEvent

    return {"notifications": Notification.objects.count(), "escalations": Escalation.objects.count(),
            "case events": CaseEvent.objects.count(), "supervised": Case.objects.filter(supervised=True).count()}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--small", type=int, default=20_000)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--bench-database", default=BENCH_DB,
                        help="name of the throwaway database (created, then dropped)")
    args = parser.parse_args(argv)
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        parser.error("--database-url must be a PostgreSQL URL")
    if not 0 < args.small < args.cases:
        parser.error("need 0 < --small < --cases")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench_db = args.bench_database
    bench_url = with_database(args.database_url, bench_db)
    work_dir = Path(tempfile.mkdtemp(prefix="qingfeng-bench-notify-"))
    setup: dict[str, float] = {}
    rows: list[list[str]] = []
    results: dict[str, tuple[float, int]] = {}
    print(f"cores: {os.cpu_count()}  |  database: {bench_url} (created for this run)  |  redis: {args.redis_url}",
          flush=True)
    try:
        t = time.perf_counter()
        create_database(args.database_url, bench_db)
        env = {**os.environ, **bench_env(bench_url, args.redis_url, work_dir / "var", cache_prefix=CACHE_PREFIX,
                                         QINGFENG_QUEUE_PREFIX=QUEUE_PREFIX)}
        manage(env, "migrate", "--noinput")
        manage(env, "seed_org")
        os.environ.update({k: v for k, v in env.items() if k.startswith(("QINGFENG_", "DJANGO_", "DATABASE_", "REDIS_"))})
        import django

        django.setup()
        from django.utils import timezone

        from triage.deadlines import seed_deadline_policies

        seed_deadline_policies()
        staff = seed_staff()
        setup["database, organisation, staff"] = time.perf_counter() - t
        rng = random.Random(7)
        now = timezone.now()
        done = 0
        for size in (args.small, args.cases):
            t = time.perf_counter()
            generate_cases(done + 1, size - done, now, rng)
            setup[f"COPY cases {done + 1}..{size}"] = time.perf_counter() - t
            done = size
            for label in ("cold", "warm"):
                seconds, queries, result, cpu, busy = measured_scan(now, bench_db)
                results[f"{size}-{label}"] = (seconds, queries)
                rows.append([f"{size:,} open cases, {label} scan", f"{seconds:.2f}", f"{cpu:.2f}", f"{busy:.0%}",
                             str(queries), str(result.due_soon + result.overdue),
                             f"{result.escalated_1}/{result.escalated_2}", str(result.queued)])
                print(rows[-1], flush=True)
            now += timedelta(seconds=1)
        final = counts()
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(args.database_url, bench_db)
        removed = redis_delete(args.redis_url, f"{QUEUE_PREFIX}*", f"*{CACHE_PREFIX}*")
        print(f"cleanup: database {bench_db!r} dropped; {removed} Redis key(s) deleted", flush=True)

    print()
    print(table(["setup (not benchmarked)", "seconds"], [[k, f"{v:.1f}"] for k, v in setup.items()]))
    print(f"staff users: {staff}; after the last scan: " + ", ".join(f"{k} {v:,}" for k, v in final.items()))
    print()
    print(table(["deadline scan", "seconds", "CPU s (bench+postgres)", "machine busy", "SQL statements",
                 "e-mail/webhook notices", "escalated 1/2", "sends queued"], rows))
    cold_seconds, cold_queries = results[f"{args.cases}-cold"]
    warm_small, warm_large = results[f"{args.small}-warm"][1], results[f"{args.cases}-warm"][1]
    same = results[f"{args.small}-cold"][1] == cold_queries and warm_small == warm_large
    word = "HOLDS" if cold_seconds < TARGET_SECONDS and same else "DOES NOT HOLD"
    print(f"TARGET {word}: full scan of {args.cases:,} open cases in {cold_seconds:.2f} s (< {TARGET_SECONDS:.0f} s); "
          f"SQL statements {'the same' if same else 'NOT the same'} at {args.small:,} and {args.cases:,} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
