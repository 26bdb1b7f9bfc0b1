"""A worker killed in the middle of a backlog: nothing is lost, nothing is triaged twice.

500 reports queue up while no worker runs. A real worker starts on them and is killed
with SIGKILL (main process and pool children) part-way through, so the messages it had
taken are never acknowledged. A second worker and the sweeper must then finish the
backlog, and every case must be triaged exactly once.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection

from config.celery import app
from intake.handoff import queue_triage
from tests.conftest import Process, start_worker, using_postgres, wait_for
from tests.factories import submit
from triage.models import Case, CaseStatus
from triage.services import triage_reports
from triage.tasks import sweep_received

pytestmark = pytest.mark.worker

N_REPORTS = 500
KILL_AFTER = 50  # cases triaged before the first worker is killed

TEMPLATES = [
    ("东城区东关街道文化路小区楼道堆放杂物多年，物业不清理，存在消防隐患，请相关部门督促整改。第{n}栋。", "379901001002"),
    ("出租车司机拒载绕路，还不打表乱收费，请交通运输局整治出租车行业。车牌尾号{n}。", "379921101"),
    ("湖滨社区一家餐馆油烟直排，噪音扰民到深夜，多次反映无人处理（{n}号）。", "379902001001"),
    ("单位拖欠我们{n}名农民工工资半年多，老板避而不见，请劳动监察部门帮忙追讨。", ""),
    ("村干部在低保评定中优亲厚友，把名额给了亲戚，第{n}组群众意见很大，请纪委调查。", "379921102201"),
    ("有一件事情想反映一下，具体情况比较复杂，希望有人联系（编号{n}）。", ""),
    ("北苑街道路灯坏了{n}天没人修，晚上出行很危险，请城管部门尽快维修。", "379901002"),
]

# Test-only instrumentation: a trigger records every change of a case's triaged_at, that
# is every application of a triage decision. "Exactly once" is then one row per case, even
# for a second application that happened mid-run and left no other trace.
AUDIT_SQL = {
    "postgresql": [
        "CREATE TABLE crash_test_audit (id bigserial PRIMARY KEY, case_id bigint NOT NULL, triaged_at timestamptz)",
        "CREATE FUNCTION crash_test_audit_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO crash_test_audit (case_id, triaged_at) VALUES (NEW.id, NEW.triaged_at); RETURN NEW; END $$",
        "CREATE TRIGGER crash_test_audit_tr AFTER UPDATE ON triage_case FOR EACH ROW "
        "WHEN (NEW.triaged_at IS DISTINCT FROM OLD.triaged_at) EXECUTE FUNCTION crash_test_audit_fn()",
    ],
    "sqlite": [
        "CREATE TABLE crash_test_audit (id integer PRIMARY KEY AUTOINCREMENT, case_id integer NOT NULL, triaged_at text)",
        "CREATE TRIGGER crash_test_audit_tr AFTER UPDATE ON triage_case FOR EACH ROW "
        "WHEN NEW.triaged_at IS NOT OLD.triaged_at BEGIN "
        "INSERT INTO crash_test_audit (case_id, triaged_at) VALUES (NEW.id, NEW.triaged_at); END",
    ],
}
AUDIT_DROP_SQL = {
    "postgresql": [
        "DROP TRIGGER IF EXISTS crash_test_audit_tr ON triage_case",
        "DROP FUNCTION IF EXISTS crash_test_audit_fn()",
        "DROP TABLE IF EXISTS crash_test_audit",
    ],
    "sqlite": ["DROP TRIGGER IF EXISTS crash_test_audit_tr", "DROP TABLE IF EXISTS crash_test_audit"],
}


def _run_sql(statements: dict[str, list[str]]) -> None:
    assert Case._meta.db_table == "triage_case"
    with connection.cursor() as cur:
        for sql in statements["postgresql" if using_postgres() else "sqlite"]:
            cur.execute(sql)


def _applications_per_case() -> dict[int, int]:
    with connection.cursor() as cur:
        cur.execute("SELECT case_id, COUNT(*) FROM crash_test_audit GROUP BY case_id")
        return {int(case_id): int(n) for case_id, n in cur.fetchall()}


# --- the broker ------------------------------------------------------------------------


def _purge_queues() -> None:
    with app.connection_for_write() as conn:
        for queue in (django_settings.TRIAGE_QUEUE, django_settings.CELERY_TASK_DEFAULT_QUEUE):
            with contextlib.suppress(Exception):  # the queue may not exist yet
                conn.default_channel.queue_purge(queue)


def _triage_queue_length() -> int:
    with app.connection_for_write() as conn:
        try:
            return int(conn.default_channel.queue_declare(queue=django_settings.TRIAGE_QUEUE, passive=True).message_count)
        except Exception:
            return 0  # not declared: nothing in it


def _unacked_report_ids(*, forget: bool = False) -> set[str] | None:
    """Report ids of our triage messages that the Redis transport holds as delivered but
    unacknowledged (kombu's `unacked` hash, restored only after visibility_timeout).
    With forget=True, drop them, so no other worker on this Redis restores them later.
    None for other transports."""
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        if conn.transport.driver_type != "redis":
            return None
        ids = set()
        for tag, raw in channel.client.hgetall(channel.unacked_key).items():
            message, _exchange, routing_key = json.loads(raw)
            if routing_key != django_settings.TRIAGE_QUEUE:
                continue  # someone else's
            body = message["body"]
            if message["properties"].get("body_encoding") == "base64":
                body = base64.b64decode(body)
            ids.add(str(json.loads(body)[0][0]))
            if forget:
                channel.client.zrem(channel.unacked_index_key, tag)
                channel.client.hdel(channel.unacked_key, tag)
        return ids


# --- processes and logs ------------------------------------------------------------------


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
    not start a new session), so killpg is no option: kill the tree pid by pid."""
    pids = _process_tree(worker.proc.pid)
    assert len(pids) >= 3, f"expected a main process and 2 pool children, found {pids}"
    for pid in pids:  # main process first, so it cannot reject, ack or replace anything
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    worker.proc.wait(timeout=10)
    assert wait_for(lambda: all(_gone(pid) for pid in pids), timeout=10), f"worker processes survived SIGKILL: {pids}"
    return pids


_BATCH_LINE = re.compile(r"Triage batch: (\d+) message")


def _batched_messages(log: str) -> int:
    """Messages the worker's finished batches took (each batch logs one line)."""
    return sum(int(m.group(1)) for m in _BATCH_LINE.finditer(log))


def _worker_idle(worker: Process) -> bool:
    """Nothing waits in the queue and nothing taken is unacknowledged (a batch acknowledges
    its messages when it returns)."""
    if _triage_queue_length() != 0:
        return False
    unacked = _unacked_report_ids()
    return not unacked if unacked is not None else True


def _settled(worker: Process) -> bool:
    """Idle, and still idle a batch interval later (a message between pop and the unacked
    record counts as busy); without Redis's unacked record, wait longer."""
    if not _worker_idle(worker):
        return False
    time.sleep(1 if _unacked_report_ids() is not None else 3)
    return _worker_idle(worker)


SUSPICIOUS = ("Traceback", "raised unexpected", "Retry in", "WorkerLostError", "ERROR", "CRITICAL")


def test_a_worker_killed_mid_batch_loses_nothing_and_triages_each_report_once(
    demo_org: None, active_classifier: Any, log_dir: Path, transactional_db: Any, settings: Any
) -> None:
    _purge_queues()
    _run_sql(AUDIT_SQL)
    first: Process | None = None
    second: Process | None = None
    try:
        # 1. A backlog, queued while no worker runs. Every third report repeats its
        # template's text exactly (near-duplicate linking runs too); others differ a little.
        report_ids = []
        for n in range(N_REPORTS):
            body, area = TEMPLATES[n % len(TEMPLATES)]
            report_ids.append(str(submit(body=body.format(n=n if n % 3 else 0), area_code=area).report.pk))
        received = Case.objects.filter(report_id__in=report_ids, status=CaseStatus.RECEIVED)
        assert received.count() == N_REPORTS

        # 2. A worker starts on it and is killed hard part-way through.
        first = start_worker(log_dir, name="worker-killed", concurrency=2)
        assert wait_for(lambda: N_REPORTS - received.count() >= KILL_AFTER, timeout=120, interval=0.02), first.log_text()
        killed = _kill_hard(first)
        received_after_kill = {str(r) for r in received.values_list("report_id", flat=True)}
        assert received_after_kill, "the first worker finished everything before it was killed: nothing tested"
        triaged_before_kill = dict(Case.objects.exclude(status=CaseStatus.RECEIVED).values_list("id", "triaged_at"))
        # What the killed worker had taken and not acknowledged. Forgotten at once, like a
        # visibility-timeout restore that never comes: the sweeper must bring them back (and
        # the idle check below then sees only the second worker's messages).
        lost = _unacked_report_ids(forget=True)

        # 3. A second worker takes the rest of the queue. The messages the first worker had
        # taken (prefetch: a batch or two per pool process, acks_late) are gone from the queue: the
        # Redis transport keeps them in its "unacked" hash and restores them only after
        # `visibility_timeout` (CELERY_BROKER_TRANSPORT_OPTIONS, default 3600 s, and no
        # environment variable sets it); a message popped but not yet recorded there is
        # lost outright. Production does not depend on either: beat runs
        # triage.tasks.sweep_received every TRIAGE_SWEEP_INTERVAL_SECONDS, re-queueing
        # every case still RECEIVED after TRIAGE_SWEEP_AFTER_SECONDS. The test runs that
        # same sweeper in-process, age threshold 0, whenever the worker has gone idle.
        settings.TRIAGE_SWEEP_AFTER_SECONDS = 0
        settings.TRIAGE_SWEEP_REPEAT_SECONDS = 0
        second = start_worker(log_dir, name="worker-after-crash", concurrency=2)
        deadline, sweeps, stuck = time.time() + 240, 0, None
        while received.exists() and time.time() < deadline:
            if _settled(second):
                if not received.exists():  # the worker finished the last ones while it settled
                    break
                if stuck is None:  # what the queue alone could not bring back
                    stuck = {str(r) for r in received.values_list("report_id", flat=True)}
                sweeps += 1
                assert sweep_received() > 0
            time.sleep(0.5)
        assert not received.exists(), (
            f"{received.count()} reports never triaged after {sweeps} sweeps\n" + second.log_text()[-5000:]
        )
        if lost is not None:
            # The unacknowledged messages of cases the killed worker had not finished came
            # back through the sweeper, not through the queue.
            assert lost & received_after_kill <= (stuck or set())

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
        # sweeper, which finds nothing left to do.
        snapshot = dict(cases.values_list("id", "triaged_at"))
        for report_id in report_ids:
            triage_reports([report_id])
        assert all(queue_triage(report_id) for report_id in report_ids)
        assert sweep_received() == 0
        assert wait_for(lambda: _worker_idle(second), timeout=120, interval=0.5), second.log_text()[-5000:]
        time.sleep(3)
        assert dict(cases.values_list("id", "triaged_at")) == snapshot
        assert set(_applications_per_case().values()) == {1}

        # The logs: the second worker's batches took every message back (the restored and
        # re-published ones included), without errors or retries; the killed worker's log
        # just stops.
        second_log = second.log_text()
        assert _batched_messages(second_log) >= N_REPORTS
        for name, log in (("killed worker", first.log_text()), ("second worker", second_log)):
            bad = [line for line in log.splitlines() if any(word in line for word in SUSPICIOUS)]
            assert not bad, f"{name}: " + "\n".join(bad[:20])
        print(  # shown with -s
            f"\nkilled {killed} after {len(triaged_before_kill)} triaged; unacked at kill: {lost}; "
            f"left for the sweeper: {stuck}; {sweeps} sweep(s)"
        )
    finally:
        for worker in (first, second):
            if worker is not None:
                worker.stop()
        _purge_queues()
        with contextlib.suppress(Exception):
            _unacked_report_ids(forget=True)
        _run_sql(AUDIT_DROP_SQL)
