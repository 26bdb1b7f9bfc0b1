"""Triage throughput benchmark: how fast one Celery worker process triages a backlog.

What it measures
----------------
1. Setup (timed, not benchmarked): a database `qingfeng_bench_triage` is created on the
   server of `--database-url`, migrated, given its cache table and the demo organisation
   (`seed_org`), and a classifier is trained and activated on it with
   `manage.py train_classifier --csv ../shared/datasets/messages_labelled.csv` (full train
   split, about a minute). Then N reports (title + body of
   `../shared/datasets/messages_unlabelled.csv`, cycled when N exceeds its rows; no area,
   no chosen type of matter, no identity) go through `intake.services.report_submit` in
   this process while no worker runs: each case stays `received`, and each commit's
   on_commit publish leaves one `triage_report` task on the Redis queue.
2. jieba's own rate: `jieba.lcut` over the same N texts (title + newline + body) in this
   process after `jieba.initialize()`, once before the worker starts and once after it has
   stopped (nothing of the bench competes with either pass). The faster pass is the
   yardstick: it is the one least disturbed by other load on the machine, and the stricter.
   The ratio against the slower pass is shown too, and a warning when the passes differ
   by more than 10 %: on shared virtual machines the machine's own speed drifts (passes
   minutes apart differed by up to 40 % with nothing else running), and the worker ran
   at some speed in between.
   For reference only, after the first pass: `jieba.lcut(text, HMM=False)` (jieba as the
   worker configures it) and `triage.classifier.cut_precise` (the worker's own loop over
   jieba's dictionary and algorithm, the same words, about twice as fast), each with the
   worker's ratio to it: how much of the margin comes from the segmentation itself.
3. Worker end to end: ONE Celery worker process, started with the flags of
   `config/serve.py` (`-Q <prefix>triage,<prefix>default --concurrency 1`), the production
   settings profile. The database is polled every 50 ms until no case is `received`.
   Reported: reports/s from the worker's start (process boot, Django setup, model load
   and gazetteer included) and in steady state (from the first poll that sees a triaged
   case), the worker's CPU per report, and the outcomes (assigned vs awaiting_triage,
   urgent, duplicates linked, reasons for the human queue).

Target: one worker process triages at least half as many reports per second as jieba
alone segments texts (worker end-to-end rate / jieba rate >= 0.5).

Isolation: only the bench database is written (the database of the URL is never
touched) and dropped at the end. Throwaway keys and pepper are generated for the run.
Redis uses its own database (default `/15`); queue names carry the prefix
`qfbench-triage-<pid>-` and cache keys the prefix `bench-triage-<pid>`, so the worker never
consumes another run's tasks; those queues and keys are deleted at the end. If the
backlog is not drained within `--max-wait` seconds, the rate is computed over the reports
triaged so far and the run says so.

Run:
    cd /work/main && .venv/bin/python bench/triage.py \
        [--reports 5000] [--database-url URL] [--redis-url URL] [--max-wait SECONDS] \
        [--py-spy PATH_TO_PY_SPY] [--keep-logs]

`--py-spy` records the worker's pool process (where tasks run) with `py-spy record --idle
--format raw` (wall clock) from its start to the end of the measured phase and prints where
its time goes; sampling slows the worker a little.
Defaults finish in about ten minutes on two cores (training ~2 min, 5000 submissions
~1.5 min, two jieba passes, at most `--max-wait` for the worker). The machine's other load
is reported per measured phase; a warning says when it was not idle.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
# Run as a script, this file's directory comes first on sys.path, and this module's name
# would shadow the `triage` app: put the project root there instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(BASE_DIR))
from bench.harness import (  # noqa: E402 - after sys.path is set
    DATASETS,
    Child,
    bench_env,
    children_of,
    create_database,
    db_backends,
    drop_database,
    machine_cpu,
    manage,
    pg_database_stats,
    process_cpu_seconds,
    queue_length,
    redis_delete,
    self_cpu,
    table,
    tree_cpu_seconds,
    with_database,
)

UNLABELLED = DATASETS / "messages_unlabelled.csv"
LABELLED = DATASETS / "messages_labelled.csv"
BENCH_DB = "qingfeng_bench_triage"
CACHE_PREFIX = f"bench-triage-{os.getpid()}"
QUEUE_PREFIX = f"qfbench-triage-{os.getpid()}-"
TARGET_RATIO = 0.5
POLL_SECONDS = 0.5
COUNT_SECONDS = 0.05


# --- texts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    title: str
    body: str

    @property
    def text(self) -> str:
        return f"{self.title}\n{self.body}"


def load_messages(path: Path, n: int) -> list[Message]:
    """N messages from the unlabelled dataset (cycled), skipping rows intake would reject."""
    from django.conf import settings

    from intake.services import MAX_SHORT_FIELD

    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    usable = []
    for row in rows:
        title = (row.get("title") or "").replace("\x00", "").strip()
        body = (row.get("body") or "").replace("\x00", "").strip()
        if len(title) <= MAX_SHORT_FIELD and settings.REPORT_BODY_MIN_CHARS <= len(body) <= settings.REPORT_BODY_MAX_CHARS:
            usable.append(Message(title=title, body=body))
    if not usable:
        raise RuntimeError(f"{path}: no usable rows")
    return [usable[i % len(usable)] for i in range(n)]


# --- environment: database, Redis, processes -------------------------------------------------


class BackendCpu:
    """CPU the bench database's backends spend from now on. Sampled repeatedly, because
    connections are recycled (CONN_MAX_AGE) and a gone backend's CPU is no longer visible."""

    def __init__(self) -> None:
        self.baseline = db_backends(BENCH_DB)
        self.last = dict(self.baseline)

    def sample(self) -> float:
        self.last.update(db_backends(BENCH_DB))
        return sum(cpu - self.baseline.get(pid, 0.0) for pid, cpu in self.last.items())


@dataclass
class Load:
    """Machine CPU over a window: how much of it was other people's (cores busy)."""

    seconds: float = 0.0
    busy: float = 0.0  # machine CPU seconds
    ours: float = 0.0  # this process + worker + bench database backends

    @property
    def other_cores(self) -> float:
        return max(0.0, self.busy - self.ours) / self.seconds if self.seconds else 0.0


@contextlib.contextmanager
def measure_load(load: Load) -> Iterator[Load]:
    """Fill `load` for the block (this process and the bench database count as ours)."""
    busy0, _ = machine_cpu()
    self0, t0 = self_cpu(), time.perf_counter()
    db = BackendCpu()
    try:
        yield load
    finally:
        load.seconds = time.perf_counter() - t0
        load.busy = machine_cpu()[0] - busy0
        load.ours = (self_cpu() - self0) + db.sample()


def redis_cleanup(redis_url: str) -> int:
    """Delete this run's queues, kombu bindings and cache keys; returns how many keys."""
    return redis_delete(redis_url, f"*{QUEUE_PREFIX}*", f"{CACHE_PREFIX}:*")


# --- phases ------------------------------------------------------------------------------------


def submit_reports(messages: list[Message]) -> tuple[int, Counter[str]]:
    """report_submit each message in this process; returns (stored, rejections)."""
    from intake.models import Channel, Source
    from intake.services import ReportInput, SubmissionError, report_submit

    stored, rejected = 0, Counter[str]()
    for i, message in enumerate(messages, 1):
        try:
            report_submit(data=ReportInput(channel=Channel.WEB, source=Source.API, title=message.title, body=message.body))
            stored += 1
        except SubmissionError as exc:
            rejected[",".join(sorted(exc.errors))] += 1
        if i % 1000 == 0:
            print(f"  submitted {i}/{len(messages)}", flush=True)
    return stored, rejected


def jieba_rate(texts: list[str], cut: Callable[[str], list[str]] | None = None) -> tuple[float, float]:
    """(texts/s, seconds) of jieba.lcut (or `cut`) over the texts, after jieba.initialize()."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    cut = cut or jieba.lcut
    started = time.perf_counter()
    for text in texts:
        cut(text)
    seconds = time.perf_counter() - started
    return len(texts) / seconds, seconds


@dataclass
class WorkerRun:
    total: int
    done: int = 0
    seconds_to_ready: float | None = None
    seconds_to_first: float | None = None
    done_at_first: int = 0
    seconds_to_done: float | None = None
    elapsed: float = 0.0
    worker_cpu: float = 0.0
    main_cpu: float = 0.0  # the worker's main process: consuming, acking, handing tasks to the pool
    db_cpu: float = 0.0
    timeline: list[tuple[float, int]] = field(default_factory=list)
    load: Load = field(default_factory=Load)
    worker_pid: int = 0

    @property
    def finished(self) -> bool:
        return self.seconds_to_done is not None

    @property
    def rate(self) -> float:
        """Reports/s from the worker's start until the last case left `received`."""
        span = self.seconds_to_done if self.seconds_to_done is not None else self.elapsed
        return self.done / span if span else 0.0

    @property
    def steady_rate(self) -> float:
        """Reports/s after the first triaged case (boot and model load excluded)."""
        if self.seconds_to_first is None:
            return 0.0
        end = self.seconds_to_done if self.seconds_to_done is not None else self.elapsed
        span = end - self.seconds_to_first
        return (self.done - self.done_at_first) / span if span > 0 else 0.0


def received_count() -> int:
    from triage.models import Case, CaseStatus

    return Case.objects.filter(status=CaseStatus.RECEIVED).count()


def run_worker(env: dict[str, str], log_dir: Path, total: int, max_wait: float, py_spy: str | None,
               profile_path: Path) -> WorkerRun:
    from config.serve import commands

    os.environ["QINGFENG_QUEUE_PREFIX"] = QUEUE_PREFIX  # commands() reads it for the -Q names
    cmd = commands("127.0.0.1", 0, 1, 1)["worker"]
    run = WorkerRun(total=total)
    db_cpu = BackendCpu()
    busy0, _ = machine_cpu()
    self0 = self_cpu()
    started = time.perf_counter()
    worker = Child("celery-worker", cmd, env, log_dir)
    run.worker_pid = worker.proc.pid
    spy: Child | None = None
    try:
        sampled = -POLL_SECONDS
        while True:
            # The count of cases still received every COUNT_SECONDS (one indexed count: the
            # end of the run is seen within 50 ms, not within a 0.5 s poll); the log,
            # processes and CPU every POLL_SECONDS.
            time.sleep(COUNT_SECONDS)
            now = time.perf_counter() - started
            remaining = received_count()
            run.done = total - remaining
            if run.seconds_to_first is None and run.done > 0:
                run.seconds_to_first, run.done_at_first = now, run.done
            if remaining == 0:
                run.seconds_to_done = now
            if run.seconds_to_ready is None and "ready." in worker.log_text():
                run.seconds_to_ready = now
            if now - sampled < POLL_SECONDS and remaining:
                continue
            sampled = now
            run.timeline.append((now, run.done))
            run.worker_cpu = tree_cpu_seconds(worker.proc.pid) or run.worker_cpu
            run.main_cpu = process_cpu_seconds(worker.proc.pid) or run.main_cpu
            pool = children_of().get(worker.proc.pid, [])
            if py_spy and spy is None and pool:
                # The pool process runs the tasks (model load at its start included); py-spy's
                # --subprocesses does not follow children forked after it attached.
                spy = Child("py-spy", [py_spy, "record", "--pid", str(pool[0]), "--rate", "100", "--format", "raw",
                                       "--idle", "--output", str(profile_path)], env, log_dir)
            run.db_cpu = db_cpu.sample()
            if remaining == 0:
                break
            if worker.proc.poll() is not None:
                raise RuntimeError(f"celery worker exited:\n{worker.log_text()[-4000:]}")
            if now > max_wait:
                break
        run.elapsed = time.perf_counter() - started
        run.db_cpu = db_cpu.sample()
        run.load = Load(seconds=run.elapsed, busy=machine_cpu()[0] - busy0,
                        ours=run.worker_cpu + run.db_cpu + self_cpu() - self0)
    finally:
        if spy is not None:
            spy.stop(signal.SIGINT, timeout=60)  # py-spy writes its output on SIGINT
        worker.stop()
    return run


def outcomes() -> dict[str, Any]:
    from django.db.models import Count

    from triage.models import Case, CaseStatus

    qs = Case.objects.all()
    statuses = dict(qs.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    reasons = dict(
        qs.filter(status=CaseStatus.AWAITING_TRIAGE).values_list("queue_reason").annotate(n=Count("id"))
        .values_list("queue_reason", "n")
    )
    categories = dict(
        qs.exclude(category=None).values_list("category__name").annotate(n=Count("id")).values_list("category__name", "n")
    )
    return {
        "statuses": statuses,
        "reasons": reasons,
        "categories": categories,
        "urgent": qs.filter(urgent=True).count(),
        "duplicates": qs.exclude(duplicate_of=None).count(),
        "department": qs.exclude(department=None).count(),
        "place": qs.filter(triage_explanation__has_key="place").count(),
    }


# --- profile -------------------------------------------------------------------------------------


_SQL = ("django/db/", "psycopg/")
# Buckets for the pool process's samples, tried in order; a sample goes to the first bucket
# whose `required` frames all occur in its stack and, if `any_of` is given, one of those.
PROFILE_BUCKETS: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("start-up: warm-up (jieba dictionary, model load, gazetteer, derived tables)", ("_warm_up (triage/tasks.py",), ()),
    ("segmentation: jieba.lcut", ("segment (triage/classifier.py", "lcut (jieba"), ()),
    ("segmentation: normalisation, greetings, stop words", ("segment (triage/classifier.py",), ()),
    ("classifier: features (word and char n-gram TF-IDF)", ("features (triage/serving.py",), ()),
    ("classifier: predict_proba (calibrated NB-SVM)", ("probabilities (triage/serving.py",), ()),
    ("classifier: alternatives and terms", ("explain_prepared (triage/serving.py",), ()),
    ("simhash", ("simhashes (triage/decide.py",), ()),
    ("rules, urgency, place, department (_decide_one)", ("_decide_one (triage/decide.py",), ()),
    ("decide_many: other", ("decide_many (triage/decide.py",), ()),
    ("decrypt (report_text)", ("report_text (intake/selectors.py",), ()),
    ("duplicates (find_duplicates: SQL)", ("find_duplicates (triage/decide.py",), ()),
    ("deadlines (clocks, due dates)", ("cases_routed (triage/workflow.py", "deadlines"), ()),
    ("notifications (notify_case_events)", ("notify_case_events",), ()),
    ("case UPDATE (_write_fields)", ("_write_fields (triage/services.py",), ()),
    ("events INSERT and hash chain", ("events_append_locked (triage/audit.py",), ()),
    ("triage_reports: case and report SELECTs, row locks, commit", ("triage_reports (triage/services.py",), _SQL),
    ("triage_reports: other", ("triage_reports (triage/services.py",), ()),
    ("outside the task (waiting for the next task from the main process, Celery, start-up)", (),
     ("celery/", "kombu/", "billiard/", "django/")),
]


def summarize_profile(path: Path) -> list[tuple[str, float]]:
    """Share of samples per bucket from py-spy's raw (collapsed) output."""
    counts: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        total += int(n)
        bucket = "other (incomplete stacks)"
        for label, required, any_of in PROFILE_BUCKETS:
            if all(r in stack for r in required) and (not any_of or any(a in stack for a in any_of)):
                bucket = label
                break
        counts[bucket] += int(n)
    return [(label, 100 * n / total) for label, n in counts.most_common()] if total else []


# --- output -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=5000, help="reports to triage (default 5000)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/test",
                        help=f"PostgreSQL server to use; the bench creates and drops database {BENCH_DB!r} on it")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15",
                        help="Redis for cache and Celery broker (default: database 15, away from /0's queues)")
    parser.add_argument("--max-wait", type=float, default=400.0,
                        help="seconds to let the worker drain the backlog before measuring what it did (default 400)")
    parser.add_argument("--py-spy", default=None, help="path to a py-spy binary: profile the worker while it drains")
    parser.add_argument("--keep-logs", action="store_true", help="keep worker logs and profile (path printed)")
    args = parser.parse_args(argv)
    if args.reports < 1:
        parser.error("--reports must be at least 1")
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        parser.error("--database-url must be a PostgreSQL URL")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    n = args.reports
    work_dir = Path(tempfile.mkdtemp(prefix="qingfeng-bench-triage-"))
    profile_path = work_dir / "worker.pyspy.txt"
    bench_url = with_database(args.database_url, BENCH_DB)
    started = time.time()
    setup: dict[str, float] = {}
    print(f"cores: {os.cpu_count()}  |  database: {bench_url} (PostgreSQL, created for this run)  |  "
          f"broker+cache: {args.redis_url} (queue prefix {QUEUE_PREFIX!r}, cache prefix {CACHE_PREFIX!r})", flush=True)
    run: WorkerRun | None = None
    result: dict[str, Any] = {}
    jieba_before, jieba_after = Load(), Load()
    jieba_before_rate = jieba_after_rate = 0.0
    pg: dict[str, float] = {}
    train_line = ""
    try:
        t = time.perf_counter()
        create_database(args.database_url, BENCH_DB)
        env = {**os.environ, **bench_env(bench_url, args.redis_url, work_dir / "var", cache_prefix=CACHE_PREFIX,
                                         QINGFENG_QUEUE_PREFIX=QUEUE_PREFIX, QINGFENG_TRAINING_CSV=str(LABELLED))}
        for name in ("migrate", "createcachetable", "seed_org"):
            manage(env, name, *(["--noinput"] if name == "migrate" else []))
        setup["database (create, migrate, seed_org)"] = time.perf_counter() - t

        t = time.perf_counter()
        out = manage(env, "train_classifier", "--csv", str(LABELLED))
        train_line = next((line for line in out.splitlines() if line.startswith("Model ")), out.strip()[:200])
        setup["train_classifier (full train split)"] = time.perf_counter() - t
        print(f"classifier: {train_line}", flush=True)

        os.environ.update({k: v for k, v in env.items() if k.startswith(("QINGFENG_", "DJANGO_", "DATABASE_", "REDIS_"))})
        import django

        django.setup()
        from django.conf import settings
        from django.db import connections

        messages = load_messages(UNLABELLED, n)
        t = time.perf_counter()
        stored, rejected = submit_reports(messages)
        setup[f"report_submit x{n} (no worker running)"] = time.perf_counter() - t
        backlog = queue_length(args.redis_url, settings.TRIAGE_QUEUE)
        print(f"reports stored: {stored} (rejected: {dict(rejected) or 0}); received: {received_count()}; "
              f"tasks on {settings.TRIAGE_QUEUE!r}: {backlog}", flush=True)
        if stored == 0:
            raise RuntimeError("no report was stored")

        texts = [m.text for m in messages]
        result["chars"] = sum(len(text) for text in texts) / len(texts)
        with measure_load(jieba_before):
            jieba_before_rate, seconds = jieba_rate(texts)
        print(f"jieba.lcut alone: {jieba_before_rate:.0f} texts/s ({seconds:.1f} s, "
              f"{result['chars']:.0f} characters per text on average)", flush=True)
        # For reference, not the yardstick: jieba as the worker configures it (no HMM), and
        # the worker's own cut of the same words (triage.classifier.cut_precise).
        import jieba

        from triage.classifier import cut_precise

        result["no_hmm_rate"], _ = jieba_rate(texts, lambda text: jieba.lcut(text, HMM=False))
        result["precise_rate"], _ = jieba_rate(texts, cut_precise)

        connections.close_all()
        print(f"starting one Celery worker (--concurrency 1); setup took {time.time() - started:.0f}s", flush=True)
        pg_before = pg_database_stats(args.database_url, BENCH_DB)
        run = run_worker(env, work_dir, stored, args.max_wait, args.py_spy, profile_path)
        time.sleep(1.0)  # backends publish their statistics when they exit
        pg_after = pg_database_stats(args.database_url, BENCH_DB)
        pg = {k: pg_after[k] - pg_before.get(k, 0.0) for k in pg_after}
        print(f"worker stopped: {run.done} of {run.total} triaged in {run.elapsed:.0f}s; measuring jieba again", flush=True)
        result.update(outcomes())
        result["left_on_queue"] = queue_length(args.redis_url, settings.TRIAGE_QUEUE)
        connections.close_all()
        with measure_load(jieba_after):
            jieba_after_rate, seconds = jieba_rate(texts)
    finally:
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        drop_database(args.database_url, BENCH_DB)
        removed = -1
        with contextlib.suppress(Exception):
            removed = redis_cleanup(args.redis_url)
        print(f"cleanup: database {BENCH_DB!r} dropped; {removed} Redis key(s) of this run deleted", flush=True)

    assert run is not None
    print()
    print("Setup (not benchmarked)")
    print(table(["step", "seconds"], [[k, f"{v:.1f}"] for k, v in setup.items()]))
    print()
    # jieba is measured before and after the worker; the faster pass is the one least
    # disturbed by other load on the machine, and the stricter yardstick for the target.
    result["jieba_rate"] = max(jieba_before_rate, jieba_after_rate)
    ratio = run.rate / result["jieba_rate"] if result["jieba_rate"] else 0.0
    steady_ratio = run.steady_rate / result["jieba_rate"] if result["jieba_rate"] else 0.0
    slower = min(jieba_before_rate, jieba_after_rate)
    # With no other load, passes minutes apart still differed by up to 40 % on shared
    # virtual machines: the speed of the machine itself drifted, and the worker ran at
    # some speed in between. The verdict stays on the faster pass; the spread is shown.
    drift = (result["jieba_rate"] - slower) / slower if slower else 0.0
    statuses: dict[str, int] = result["statuses"]
    span = run.seconds_to_done if run.finished else run.elapsed
    scope = f"all {run.total} triaged in {span:.1f} s" if run.finished else (
        f"NOT DRAINED: {run.done} of {run.total} triaged in {span:.1f} s (--max-wait)")
    log_path = work_dir / "celery-worker.log"
    found = re.search(r"Triage warm-up done in ([0-9.]+) s", log_path.read_text(errors="replace")) if log_path.is_file() else None
    warm_up = found.group(1) if found else "-"
    print(f"Triage throughput: one Celery worker process, --concurrency 1 ({scope})")
    rows = [
        ["reports", f"{run.total}"],
        ["worker end-to-end reports/s (from worker start)", f"{run.rate:.1f}"],
        ["worker steady-state reports/s (after first triaged case)", f"{run.steady_rate:.1f}"],
        ["jieba-only texts/s (jieba.lcut, one process; best pass)", f"{result['jieba_rate']:.1f}"],
        ["  pass before the worker / after it", f"{jieba_before_rate:.1f} / {jieba_after_rate:.1f}"],
        ["ratio worker/jieba (end-to-end)", f"{ratio:.3f}"],
        ["ratio worker/jieba (steady state)", f"{steady_ratio:.3f}"],
        ["  the same against the slower pass (end-to-end / steady state)",
         f"{run.rate / slower:.3f} / {run.steady_rate / slower:.3f}" if slower else "-"],
        ["worker boot to 'ready.' (s)", f"{run.seconds_to_ready:.1f}" if run.seconds_to_ready is not None else "-"],
        ["pool process warm-up: dictionary, model, gazetteer (s, its log)", warm_up],
        ["worker start to first triaged case (s, 50 ms polls)",
         f"{run.seconds_to_first:.1f}" if run.seconds_to_first is not None else "-"],
        ["worker CPU per report (ms, incl. boot)", f"{1000 * run.worker_cpu / max(1, run.done):.1f}"],
        ["  of which main process (consume, ack, hand to pool)", f"{1000 * run.main_cpu / max(1, run.done):.1f}"],
        ["PostgreSQL sessions opened per report (connections)", f"{pg.get('sessions', 0.0) / max(1, run.done):.2f}"],
        ["PostgreSQL transactions per report", f"{pg.get('transactions', 0.0) / max(1, run.done):.1f}"],
        ["PostgreSQL time executing statements per report (ms)", f"{pg.get('active_ms', 0.0) / max(1, run.done):.2f}"],
        ["jieba time per text (ms, best pass)", f"{1000 / result['jieba_rate']:.2f}"],
        ["for reference: jieba.lcut(HMM=False) texts/s / worker ratio to it",
         f"{result['no_hmm_rate']:.1f} / {run.rate / result['no_hmm_rate']:.3f}"],
        ["for reference: the worker's cut_precise (same words) texts/s / worker ratio to it",
         f"{result['precise_rate']:.1f} / {run.rate / result['precise_rate']:.3f}"],
        ["other load (cores; jieba before / worker* / jieba after)",
         f"{jieba_before.other_cores:.2f} / {run.load.other_cores:.2f} / {jieba_after.other_cores:.2f}"],
    ]
    print(table(["measure", "value"], rows))
    print("  * includes PostgreSQL backends that lived less than a 0.5 s poll (a worker reconnecting per task)")
    print()
    print("Outcomes")
    out_rows = [
        ["assigned (routed without a person)", str(statuses.get("assigned", 0))],
        ["awaiting_triage (human queue)", str(statuses.get("awaiting_triage", 0))],
        *[[f"  reason: {reason or '-'}", str(count)] for reason, count in sorted(result["reasons"].items())],
        ["still received", str(statuses.get("received", 0))],
        *[[f"other status: {s}", str(c)] for s, c in statuses.items() if s not in {"assigned", "awaiting_triage", "received"}],
        ["urgent", str(result["urgent"])],
        ["duplicates linked (duplicate_of set)", str(result["duplicates"])],
        ["with a department", str(result["department"])],
        ["with a place", str(result["place"])],
        *[[f"category: {name}", str(count)] for name, count in sorted(result["categories"].items(), key=lambda x: -x[1])],
        ["tasks left on the triage queue", str(result["left_on_queue"])],
    ]
    print(table(["outcome", "cases"], out_rows))
    if args.py_spy and profile_path.is_file():
        print()
        print("Pool process profile (py-spy on the prefork child, wall clock incl. waits on PostgreSQL and for the next")
        print("task; share of samples from the pool's start to the end of the measured phase)")
        shares = summarize_profile(profile_path)
        print(table(["where", "share"], [[label, f"{share:.1f}%"] for label, share in shares]))
    if args.keep_logs:
        print(f"logs kept in {work_dir}")
    else:
        shutil.rmtree(work_dir, ignore_errors=True)
    print()
    print(f"total run time {time.time() - started:.0f}s; texts: {UNLABELLED.name} (title + body), "
          f"{result['chars']:.0f} characters on average")
    if max(jieba_before.other_cores, run.load.other_cores, jieba_after.other_cores) > 0.25:
        print(f"WARNING: the machine was not idle (other processes used up to "
              f"{max(jieba_before.other_cores, run.load.other_cores, jieba_after.other_cores):.2f} of "
              f"{os.cpu_count()} cores during a measured phase): absolute rates are understated.")
    if drift > 0.10:
        print(f"WARNING: jieba's two passes differ by {100 * drift:.0f} % with the machine otherwise idle: its speed "
              f"drifted during the run. The ratio lies between {ratio:.3f} (faster pass, the verdict) and "
              f"{run.rate / slower:.3f} (slower pass); repeat the run to see how much is the machine.")
    holds = ratio >= TARGET_RATIO and run.finished
    word = "HOLDS" if holds else "DOES NOT HOLD"
    print(f"TARGET {word}: one worker process reaches >= {TARGET_RATIO} x jieba's own rate -- "
          f"{run.rate:.1f} reports/s vs {result['jieba_rate']:.1f} texts/s = {ratio:.3f}"
          f"{'' if run.finished else ' (backlog not drained)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
