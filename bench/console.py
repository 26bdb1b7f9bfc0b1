"""Handler console benchmark: the queue page and the case page with a large case table.

What it measures
----------------
1. Setup (timed, not benchmarked): a database `qingfeng_bench_console` on the server of
   `--database-url`, migrated, with its cache table, the demo organisation and logins
   (`seed_org --users`), and a history of cases from `seed_demo` (all channels, every
   state of the workflow, deadlines in working days, events, encrypted reports).
2. Pages, rendered in this process through Django's full request stack (middleware,
   sessions, authentication including the TOTP step, templates) with the production
   settings profile: for the handler (one department), the department head and
   leadership (every case), the queue (default tab, page 2, the overdue filter, the
   "all" tab) and the case page of cases each may open. Each page is requested
   `--repeat` times after a warm-up; printed are p50 and p95 of the response time and
   the number of SQL queries per page.
3. The case table is measured at two sizes (`--small` cases, then grown with
   `seed_demo --append` to `--cases`), so the table shows whether query counts and times
   grow with the number of cases.

Target: p95 < 150 ms for both pages at 200,000 cases, and query counts that do not grow
with the number of cases.

Run:
    cd /work/main && .venv/bin/python bench/console.py [--cases 200000] [--small 20000] \
        [--repeat 30] [--database-url URL] [--redis-url URL]

The bench database is dropped at the end; the URL's own database is never touched.
Redis: its own database (default /14) and a cache prefix of this run, deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(BASE_DIR))

from bench.harness import (  # noqa: E402 - after sys.path is set
    bench_env,
    create_database,
    drop_database,
    manage,
    redis_delete,
    table,
    with_database,
)

BENCH_DB = "qingfeng_bench_console"
CACHE_PREFIX = f"bench-console-{os.getpid()}"
TARGET_P95_MS = 150.0
USERS = ("handler", "head", "leader")
EMPTY_MARK = "没有符合条件的案件".encode()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def signed_in_client(username: str) -> Any:
    """A test client signed in as a demo user, past the TOTP step where the role needs it."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from intake.staff_auth import otp_required

    user = get_user_model().objects.get(username=username)
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    if otp_required(user):
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
            user=user, name="bench", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


def visible_case_ids(username: str, n: int, rng: random.Random) -> list[int]:
    from django.contrib.auth import get_user_model

    from triage.selectors import cases_visible_to

    user = get_user_model().objects.get(username=username)
    ids = list(cases_visible_to(user).order_by("-pk").values_list("pk", flat=True)[:5000])
    return rng.sample(ids, min(n, len(ids)))


def measure(client: Any, urls: list[str], repeat: int) -> tuple[list[float], list[int], bool]:
    """Response times (ms) and query counts for `repeat` requests cycling over `urls`, and
    whether a queue page came back empty (an empty page skips the queries its rows need)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for url in urls[:3]:  # warm-up: templates, caches, connection
        client.get(url, secure=True)
    times, queries, empty = [], [], False
    for i in range(repeat):
        url = urls[i % len(urls)]
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url, secure=True)
            elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"GET {url}: HTTP {response.status_code}")
        times.append(elapsed)
        queries.append(len(captured.captured_queries))
        empty = empty or EMPTY_MARK in response.content
    return times, queries, empty


def run_pages(repeat: int, rng: random.Random) -> list[dict[str, Any]]:
    results = []
    for username in USERS:
        client = signed_in_client(username)
        cases = visible_case_ids(username, repeat, rng)
        pages = {
            "queue (default tab)": ["/staff/cases/"],
            "queue page 2": ["/staff/cases/?page=2"],
            "queue overdue filter": ["/staff/cases/?deadline_state=overdue"],
            "queue all tab": ["/staff/cases/?status=all"],
            "case page": [f"/staff/cases/{pk}/" for pk in cases],
        }
        for page, urls in pages.items():
            if not urls:
                continue
            times, queries, empty = measure(client, urls, repeat)
            results.append({"user": username, "page": page, "p50": statistics.median(times), "empty": empty,
                            "p95": percentile(times, 95), "q_min": min(queries), "q_max": max(queries)})
    return results


def case_count() -> int:
    from triage.models import Case

    return Case.objects.count()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=200_000, help="cases at the large size (default 200000)")
    parser.add_argument("--small", type=int, default=20_000, help="cases at the small size (default 20000)")
    parser.add_argument("--repeat", type=int, default=30, help="requests per page and user (default 30)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args(argv)
    if not 0 < args.small < args.cases:
        parser.error("need 0 < --small < --cases")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench_url = with_database(args.database_url, BENCH_DB)
    rng = random.Random(7)
    print(f"cores: {os.cpu_count()}  |  database: {bench_url} (PostgreSQL, created for this run)  |  "
          f"cache: {args.redis_url} (prefix {CACHE_PREFIX})", flush=True)
    setup: dict[str, float] = {}
    by_size: dict[int, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="qf-bench-console-") as work:
        try:
            started = time.time()
            create_database(args.database_url, BENCH_DB)
            env = {**os.environ, **bench_env(bench_url, args.redis_url, Path(work) / "var", cache_prefix=CACHE_PREFIX)}
            for command in (["migrate", "--noinput"], ["createcachetable"], ["seed_org", "--users"]):
                manage(env, *command)
            setup["database (create, migrate, seed_org)"] = time.time() - started
            os.environ.update({k: v for k, v in env.items() if k.startswith(("DJANGO_", "QINGFENG_", "DATABASE_", "REDIS_"))})
            import django

            django.setup()
            previous = 0
            for size in (args.small, args.cases):
                started = time.time()
                manage(env, "seed_demo", "--cases", str(size - previous), "--seed", str(size),
                       *(["--append"] if previous else []))
                setup[f"seed_demo to {size} cases"] = time.time() - started
                previous = size
                print(f"{case_count()} cases; measuring pages ...", flush=True)
                by_size[size] = run_pages(args.repeat, rng)
        finally:
            from django.db import connections

            connections.close_all()
            drop_database(args.database_url, BENCH_DB)
            redis_delete(args.redis_url, f"{CACHE_PREFIX}:*")

    print()
    print("Setup (not benchmarked)")
    print(table(["step", "seconds"], [[k, f"{v:.1f}"] for k, v in setup.items()]))
    print()
    small, large = by_size[args.small], by_size[args.cases]
    rows = []
    for a, b in zip(small, large, strict=True):
        queries = f"{a['q_min']}-{a['q_max']}" if a["q_min"] != a["q_max"] else str(a["q_min"])
        queries_large = f"{b['q_min']}-{b['q_max']}" if b["q_min"] != b["q_max"] else str(b["q_min"])
        rows.append([f"{b['user']}: {b['page']}{' (empty at the small size)' if a['empty'] else ''}",
                     f"{a['p50']:.0f}", f"{a['p95']:.0f}", queries,
                     f"{b['p50']:.0f}", f"{b['p95']:.0f}", queries_large])
    print(f"Console pages, {args.repeat} requests each (ms; SQL queries per page)")
    print(table(["page", f"p50 @{args.small}", f"p95 @{args.small}", "queries", f"p50 @{args.cases}",
                 f"p95 @{args.cases}", "queries"], rows))
    worst = max(large, key=lambda r: r["p95"])
    grew = [f"{b['user']}: {b['page']}" for a, b in zip(small, large, strict=True)
            if b["q_max"] > a["q_max"] and not a["empty"]]
    ok = worst["p95"] < TARGET_P95_MS and not grew
    print()
    print(f"{'TARGET HOLDS' if ok else 'TARGET DOES NOT HOLD'}: p95 < {TARGET_P95_MS:.0f} ms at {args.cases} cases "
          f"(worst: {worst['user']}: {worst['page']} {worst['p95']:.0f} ms); query counts "
          f"{'do not grow' if not grew else 'grow for ' + ', '.join(grew)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
