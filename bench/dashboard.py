"""Leadership dashboard benchmark: each dashboard page at city and district level.

What it measures
----------------
1. Setup (timed, not benchmarked): a database `qingfeng_bench_dashboard` on the server of
   `--database-url`, migrated, with the demo organisation and logins, and `--cases` cases
   of history from `seed_demo` (12 months). With `--reuse URL` an already seeded database
   is measured instead (nothing created or dropped).
2. Pages, rendered in this process through Django's full request stack: the dashboard
   (default period, the last 30 days; and a quarter), the monthly report, an export, the
   console list a figure drills down to, and the public page; at city level (leadership,
   every department) and district level (leadership filtered to one district, and that
   district's head, whose scope is the sub-tree). Each page is requested `--repeat` times
   after a warm-up; printed are p50 and p95 and the SQL queries per page.

Target: p95 < 500 ms per dashboard page with 1,000,000 cases.

Run:
    cd /work/wt-dash && /work/main/.venv/bin/python bench/dashboard.py [--cases 1000000] [--repeat 20] \
        [--database-url URL] [--redis-url URL] [--reuse URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(BASE_DIR))

from bench.console import measure, percentile, signed_in_client  # noqa: E402
from bench.harness import (  # noqa: E402 - after sys.path is set
    bench_env,
    create_database,
    drop_database,
    manage,
    redis_delete,
    table,
    with_database,
)

BENCH_DB = "qingfeng_bench_dashboard"
CACHE_PREFIX = f"bench-dashboard-{os.getpid()}"
TARGET_P95_MS = 500.0
DISTRICT = "379901-gov"


def pages() -> list[tuple[str, str, list[str]]]:
    from django.utils import timezone

    from triage.models import Department

    district = Department.objects.get(code=DISTRICT).pk
    today = timezone.localdate()
    quarter = f"start={today - timedelta(days=89)}&end={today}"
    month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    out = []
    for level, user, extra in (("city", "leader", ""), ("district", "leader", f"department={district}"),
                               ("district (head)", "district_head", "")):
        q = f"?{extra}" if extra else ""
        amp = f"&{extra}" if extra else ""
        out += [
            (level, user, [f"/staff/dashboard/{q}"]),
            (level, user, [f"/staff/dashboard/?{quarter}{amp}"]),
            (level, user, [f"/staff/dashboard/report/?month={month}{amp}"]),
            (level, user, [f"/staff/dashboard/export/league.xlsx{q}"]),
            (level, user, [f"/staff/cases/?status=all&flag=late_handle&created_from={today - timedelta(days=29)}"
                           f"&created_to={today}{amp}"]),
        ]
    out.append(("public", "", ["/public/"]))
    return out


PAGE_NAMES = ["dashboard (30 days)", "dashboard (quarter)", "monthly report", "export league.xlsx",
              "drill-down: late handling"]


def ensure_district_head() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from triage.models import Department, StaffProfile

    user, _ = get_user_model().objects.get_or_create(username="district_head")
    user.groups.set([Group.objects.get(name="department_head")])
    StaffProfile.objects.update_or_create(user=user, defaults={"department": Department.objects.get(code=DISTRICT)})


def run(repeat: int) -> list[dict[str, Any]]:
    from django.test import Client

    ensure_district_head()
    results = []
    clients: dict[str, Any] = {}
    names = iter(PAGE_NAMES * 3 + ["public page"])
    for level, username, urls in pages():
        if username not in clients:
            clients[username] = signed_in_client(username) if username else Client(HTTP_HOST="localhost")
        times, queries, _empty = measure(clients[username], urls, repeat)
        results.append({"level": level, "page": next(names), "p50": statistics.median(times),
                        "p95": percentile(times, 95), "q": max(queries)})
        print(f"  {level:16} {results[-1]['page']:28} p50 {results[-1]['p50']:7.0f}  p95 {results[-1]['p95']:7.0f} ms",
              flush=True)
    return results


def case_count() -> int:
    from triage.models import Case

    return Case.objects.count()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--reuse", default="", help="measure this already seeded database (created by seed_demo)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench_url = args.reuse or with_database(args.database_url, BENCH_DB)
    print(f"cores: {os.cpu_count()}  |  database: {bench_url}", flush=True)
    setup: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="qf-bench-dashboard-") as work:
        env = {**os.environ, **bench_env(bench_url, args.redis_url, Path(work) / "var", cache_prefix=CACHE_PREFIX)}
        try:
            if not args.reuse:
                started = time.time()
                create_database(args.database_url, BENCH_DB)
                for command in (["migrate", "--noinput"], ["createcachetable"], ["seed_org", "--users"]):
                    manage(env, *command)
                setup["database (create, migrate, seed_org)"] = time.time() - started
                started = time.time()
                manage(env, "seed_demo", "--cases", str(args.cases))
                setup[f"seed_demo {args.cases} cases"] = time.time() - started
            else:
                manage(env, "migrate", "--noinput")
            os.environ.update({k: v for k, v in env.items()
                               if k.startswith(("DJANGO_", "QINGFENG_", "DATABASE_", "REDIS_"))})
            import django

            django.setup()
            started = time.time()
            manage(env, "shell", "-c", "from django.db import connection; c = connection.cursor(); c.execute('ANALYZE')")
            setup["ANALYZE"] = time.time() - started
            n = case_count()
            print(f"{n} cases; measuring pages ({args.repeat} requests each) ...", flush=True)
            results = run(args.repeat)
        finally:
            from django.db import connections

            connections.close_all()
            if not args.reuse:
                drop_database(args.database_url, BENCH_DB)
            redis_delete(args.redis_url, f"{CACHE_PREFIX}:*")
    if setup:
        print()
        print("Setup (not benchmarked)")
        print(table(["step", "seconds"], [[k, f"{v:.1f}"] for k, v in setup.items()]))
    print()
    print(f"Dashboard pages at {n} cases, {args.repeat} requests each (ms; SQL queries per page)")
    print(table(["level", "page", "p50", "p95", "queries"],
                [[r["level"], r["page"], f"{r['p50']:.0f}", f"{r['p95']:.0f}", str(r["q"])] for r in results]))
    dash = [r for r in results if r["page"].startswith("dashboard")]
    worst = max(dash, key=lambda r: r["p95"])
    ok = worst["p95"] < TARGET_P95_MS
    print()
    print(f"{'TARGET HOLDS' if ok else 'TARGET DOES NOT HOLD'}: dashboard p95 < {TARGET_P95_MS:.0f} ms at {n} cases "
          f"(worst: {worst['level']} {worst['page']} {worst['p95']:.0f} ms)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
