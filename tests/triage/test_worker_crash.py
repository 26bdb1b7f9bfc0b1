"""A worker killed in the middle of a backlog: nothing is lost, nothing is triaged twice.

500 reports queue up while no worker runs. A real worker starts on them and is killed
with SIGKILL (main process and pool children) part-way through, so the messages it had
reserved are never acknowledged. A second worker and the sweeper must then finish the
backlog, and every case must be triaged exactly once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from tests.conftest import Process, start_worker, using_postgres, wait_for
from tests.factories import submit
from triage.models import Case, CaseStatus
from triage.tasks import sweep_received, triage_report

pytestmark = pytest.mark.worker

N_REPORTS = 500
KILL_AFTER = 50  # triaged cases before the first worker is killed

TEMPLATES = [
    ("东城区东关街道文化路小区楼道堆放杂物多年，物业不清理，存在消防隐患，请相关部门督促整改。第{n}栋。", "379901001002"),
    ("出租车司机拒载绕路，还不打表乱收费，请交通运输局整治出租车行业。车牌尾号{n}。", "379921101"),
    ("湖滨社区一家餐馆油烟直排，噪音扰民到深夜，多次反映无人处理（{n}号）。", "379902001001"),
    ("单位拖欠我们{n}名农民工工资半年多，老板避而不见，请劳动监察部门帮忙追讨。", ""),
    ("村干部在低保评定中优亲厚友，把名额给了亲戚，第{n}组群众意见很大，请纪委调查。", "379921102201"),
    ("有一件事情想反映一下，具体情况比较复杂，希望有人联系（编号{n}）。", ""),
    ("北苑街道路灯坏了{n}天没人修，晚上出行很危险，请城管部门尽快维修。", "379901002"),
]

# Test-only instrumentation: a trigger records every change of a case's triaged_at, i.e.
# every time a triage decision was applied. "Exactly once" is then one row per case, even
# if a second application happened mid-run and left no other trace.
AUDIT_TABLE = "crash_test_triage_audit"


def _install_audit() -> None:
    table = Case._meta.db_table
    with connection.cursor() as cur:
        if using_postgres():
            cur.execute(f"CREATE TABLE {AUDIT_TABLE} (id bigserial PRIMARY KEY, case_id bigint NOT NULL, "
                        "triaged_at timestamptz, at timestamptz NOT NULL DEFAULT clock_timestamp())")
            cur.execute(f"CREATE FUNCTION {AUDIT_TABLE}_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                        f"INSERT INTO {AUDIT_TABLE} (case_id, triaged_at) VALUES (NEW.id, NEW.triaged_at); "
                        "RETURN NEW; END $$")
            cur.execute(f"CREATE TRIGGER {AUDIT_TABLE}_tr AFTER UPDATE ON {table} FOR EACH ROW "
                        f"WHEN (NEW.triaged_at IS DISTINCT FROM OLD.triaged_at) EXECUTE FUNCTION {AUDIT_TABLE}_fn()")
        else:
            cur.execute(f"CREATE TABLE {AUDIT_TABLE} (id integer PRIMARY KEY AUTOINCREMENT, "
                        "case_id integer NOT NULL, triaged_at text)")
            cur.execute(f"CREATE TRIGGER {AUDIT_TABLE}_tr AFTER UPDATE ON {table} FOR EACH ROW "
                        "WHEN NEW.triaged_at IS NOT OLD.triaged_at BEGIN "
                        f"INSERT INTO {AUDIT_TABLE} (case_id, triaged_at) VALUES (NEW.id, NEW.triaged_at); END")


def _remove_audit() -> None:
    with connection.cursor() as cur:
        if using_postgres():
            cur.execute(f"DROP TRIGGER IF EXISTS {AUDIT_TABLE}_tr ON {Case._meta.db_table}")
            cur.execute(f"DROP FUNCTION IF EXISTS {AUDIT_TABLE}_fn()")
        else:
            cur.execute(f"DROP TRIGGER IF EXISTS {AUDIT_TABLE}_tr")
        cur.execute(f"DROP TABLE IF EXISTS {AUDIT_TABLE}")


def _applications_per_case() -> dict[int, int]:
    with connection.cursor() as cur:
        cur.execute(f"SELECT case_id, COUNT(*) FROM {AUDIT_TABLE} GROUP BY case_id")  # noqa: S608 - constant name
        return {int(case_id): int(n) for case_id, n in cur.fetchall()}


def _purge_queues() -> None:
    from django.conf import settings

    from config.celery import app

    with app.connection_for_write() as conn:
        for queue in (settings.TRIAGE_QUEUE, settings.CELERY_TASK_DEFAULT_QUEUE):
            with contextlib.suppress(Exception):  # the queue may not exist yet
                conn.default_channel.queue_purge(queue)


def _triage_queue_length() -> int:
    from django.conf import settings

    from config.celery import app

    with app.connection_for_write() as conn:
        try:
            return int(conn.default_channel.queue_declare(queue=settings.TRIAGE_QUEUE, passive=True).message_count)
        except Exception:
            return 0  # not declared: nothing in it


def _process_tree(pid: int) -> list[int]:
    """pid and all its descendants (from the parent ids in /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited while we looked
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in {"Z", "X"}  # a zombie runs nothing any more


def _kill_hard(worker: Process) -> list[int]:
    """SIGKILL the worker's main process and its pool children: no ack, no reject, no
    requeue on the way out. The worker shares pytest's process group (start_worker does
    not start a new session), so killpg is not an option: kill the tree pid by pid."""
    pids = _process_tree(worker.proc.pid)
    for pid in pids:  # main process first, so it cannot reject or replace its children
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    worker.proc.wait(timeout=10)
    assert wait_for(lambda: all(_gone(pid) for pid in pids), timeout=10), f"worker processes survived SIGKILL: {pids}"
    return pids


def _task_lines(log: str, what: str) -> int:
    return sum(1 for line in log.splitlines() if "triage.tasks.triage_report[" in line and f"] {what}" in line)


def _worker_idle(worker: Process) -> bool:
    log = worker.log_text()
    return _triage_queue_length() == 0 and _task_lines(log, "received") == _task_lines(log, "succeeded")


SUSPICIOUS = ("Traceback", "raised unexpected", "Retry in", "WorkerLostError", "ERROR", "CRITICAL")


def test_a_worker_killed_mid_batch_loses_nothing_and_triages_each_report_once(
    demo_org: None, active_classifier: Any, log_dir: Path, transactional_db: Any, settings: Any
) -> None:
    _purge_queues()
    _install_audit()
    first: Process | None = None
    second: Process | None = None
    try:
        # 1. A backlog, queued while no worker runs.
        report_ids = []
        for n in range(N_REPORTS):
            body, area = TEMPLATES[n % len(TEMPLATES)]
            # Every third report repeats its template's text exactly (near-duplicate linking
            # runs too); the others differ by a number.
            report_ids.append(str(submit(body=body.format(n=n if n % 3 else 0), area_code=area).report.pk))
        assert Case.objects.filter(status=CaseStatus.RECEIVED).count() == N_REPORTS
        received = Case.objects.filter(report_id__in=report_ids, status=CaseStatus.RECEIVED)

        # 2. A worker starts on it and is killed hard part-way through.
        first = start_worker(log_dir, name="worker-killed", concurrency=2)
        assert wait_for(lambda: N_REPORTS - received.count() >= KILL_AFTER, timeout=120, interval=0.02), first.log_text()
        killed = _kill_hard(first)
        left = received.count()
        assert 0 < left < N_REPORTS - KILL_AFTER + 1, f"the kill came too late to test anything ({left} left)"
        triaged_before_kill = dict(Case.objects.exclude(status=CaseStatus.RECEIVED).values_list("id", "triaged_at"))

        # 3. A second worker takes the rest of the queue. The messages the first worker had
        # reserved (prefetch: up to 2 per pool, acks_late) sit unacknowledged in the Redis
        # transport's "unacked" set; kombu only restores them after `visibility_timeout`
        # (CELERY_BROKER_TRANSPORT_OPTIONS, default 3600 s, no environment variable for it).
        # Production does not wait that hour: beat runs triage.tasks.sweep_received every
        # TRIAGE_SWEEP_INTERVAL_SECONDS and re-queues every case still RECEIVED after
        # TRIAGE_SWEEP_AFTER_SECONDS. The test runs that same sweeper in-process, with the
        # age threshold at 0, whenever triage has stopped making progress.
        settings.TRIAGE_SWEEP_AFTER_SECONDS = 0
        second = start_worker(log_dir, name="worker-after-crash", concurrency=2)
        deadline, sweeps, stalled_since, last = time.time() + 240, 0, time.time(), -1
        while time.time() < deadline:
            now_left = received.count()
            if now_left == 0:
                break
            if now_left != last:
                last, stalled_since = now_left, time.time()
            elif time.time() - stalled_since > 3 and _worker_idle(second):
                sweeps += 1
                assert sweep_received() > 0
                stalled_since = time.time()
            time.sleep(0.2)
        assert received.count() == 0, (
            f"{received.count()} reports never triaged after {sweeps} sweeps\n" + second.log_text()[-5000:]
        )

        # 4. Nothing lost: every report has exactly one case, and every case was triaged.
        cases = Case.objects.filter(report_id__in=report_ids)
        assert cases.count() == N_REPORTS
        assert len(set(cases.values_list("report_id", flat=True))) == N_REPORTS
        assert set(cases.values_list("status", flat=True)) <= {CaseStatus.ASSIGNED, CaseStatus.AWAITING_TRIAGE}
        assert Case.objects.filter(triaged_at__isnull=True).count() == 0
        # Cases the first worker finished were not triaged again by the second.
        assert dict(Case.objects.filter(id__in=triaged_before_kill).values_list("id", "triaged_at")) == triaged_before_kill

        # ... and nothing twice: one application of a decision per case.
        applications = _applications_per_case()
        assert set(applications) == set(cases.values_list("id", flat=True))
        assert {case_id: n for case_id, n in applications.items() if n != 1} == {}

        # Idempotent under any further redelivery: in-process, through the live worker
        # (every message published again, as a visibility-timeout restore would), and the
        # sweeper, which must find nothing left to do.
        snapshot = dict(cases.values_list("id", "triaged_at"))
        for report_id in report_ids:
            triage_report(report_id)
        from intake.handoff import queue_triage

        assert all(queue_triage(report_id) for report_id in report_ids)
        assert sweep_received() == 0
        assert wait_for(lambda: _worker_idle(second), timeout=120, interval=0.5), second.log_text()[-5000:]
        time.sleep(3)
        assert dict(cases.values_list("id", "triaged_at")) == snapshot
        assert all(n == 1 for n in _applications_per_case().values())

        # The logs: the second worker ran every task it received to success, with no errors
        # or retries; the first worker's log just stops.
        second_log = second.log_text()
        assert _task_lines(second_log, "received") == _task_lines(second_log, "succeeded") >= left + N_REPORTS
        for name, log in (("killed worker", first.log_text()), ("second worker", second_log)):
            bad = [line for line in log.splitlines() if any(word in line for word in SUSPICIOUS)]
            assert not bad, f"{name}: " + "\n".join(bad[:20])
        print(f"killed {killed} after {N_REPORTS - left} triaged; {left} left; {sweeps} sweep(s)")  # noqa: T201
    finally:
        for worker in (first, second):
            if worker is not None:
                worker.stop()
        _purge_queues()
        _remove_audit()
