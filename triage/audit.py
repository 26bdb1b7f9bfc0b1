"""The case event log as hash chains, and its verification (`manage.py verify_audit`).

One chain per case, not one global chain. Every transition already locks its case row
(select_for_update) and the chain's head (`Case.audit_seq`, `Case.audit_head`) is on that
row, so concurrent writers of different cases never wait for each other and writers of
one case are serialised by the lock they hold anyway; a global chain would need one lock
held by every transition until commit. Each event hashes its case, its number within the
case and the previous event's hash, so an edited row fails its own hash, a deleted row
leaves a gap in the numbers, a reordered row no longer follows its predecessor, and a
deleted last row no longer matches the head stored on the case. The id (a global
sequence) orders events across cases for readers; it is not part of the hash.

This detects changes made without recomputing the chain; someone who can rewrite the
database and recompute every hash is stopped only by heads copied elsewhere (the summary
line of verify_audit prints a digest of all heads for that purpose).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from triage.signals import case_events_appended
from triage.workflow_models import AuditRun, CaseEvent

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from triage.models import Case

logger = logging.getLogger(__name__)

GENESIS = "0" * 64
CHAIN_VERSION = 1
_ALLOWED_SCALARS = (str, int, bool, type(None))


def _check_payload(payload: dict[str, Any]) -> None:
    """Ids, codes and numbers only: text typed by people goes in encrypted messages."""
    for key, value in payload.items():
        values = value if isinstance(value, list) else [value]
        if not isinstance(key, str) or not all(isinstance(v, _ALLOWED_SCALARS) for v in values):
            raise ValueError(f"event payload {key!r} must be ids, codes or numbers")
        if any(isinstance(v, str) and len(v) > 64 for v in values):
            raise ValueError(f"event payload {key!r} is too long to be an id or a code")


def canonical(*, case_id: int, seq: int, kind: str, from_status: str, to_status: str, actor_id: int | None,
              actor_kind: str, payload: dict[str, Any], at: datetime, prev_hash: str) -> bytes:
    record = {
        "v": CHAIN_VERSION, "case": case_id, "seq": seq, "kind": kind, "from": from_status, "to": to_status,
        "actor": actor_id, "actor_kind": actor_kind, "payload": payload,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"), "prev": prev_hash,
    }
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def event_append(*, case: Case, kind: str, from_status: str, to_status: str, actor: User | None = None,
                 actor_kind: str = "staff", payload: dict[str, Any] | None = None) -> CaseEvent:
    """Append an event to the case's chain, inside the caller's transaction."""
    from triage.models import Case

    payload = payload or {}
    _check_payload(payload)
    # Locks the case row (a no-op if the caller holds it) and reads the head fresh.
    seq, head = Case.objects.select_for_update().values_list("audit_seq", "audit_head").get(pk=case.pk)
    prev_hash = head or GENESIS
    at = timezone.now()
    digest = hashlib.sha256(canonical(
        case_id=case.pk, seq=seq + 1, kind=kind, from_status=from_status, to_status=to_status,
        actor_id=actor.pk if actor else None, actor_kind=actor_kind, payload=payload, at=at, prev_hash=prev_hash,
    )).hexdigest()
    event = CaseEvent.objects.create(
        case=case, seq=seq + 1, kind=kind, from_status=from_status, to_status=to_status, actor=actor,
        actor_kind=actor_kind, payload=payload, at=at, prev_hash=prev_hash, hash=digest,
    )
    Case.objects.filter(pk=case.pk).update(audit_seq=seq + 1, audit_head=digest)
    case.audit_seq, case.audit_head = seq + 1, digest
    case_events_appended.send(sender=CaseEvent, events=[event])
    return event


def events_append_locked(entries: list[tuple[Case, str, str, str, dict[str, Any]]], *, actor_kind: str = "system",
                         at: datetime | None = None,
                         save: Callable[[list[Case]], object] | None = None) -> list[CaseEvent]:
    """Append one system event to each of many cases with one INSERT.

    The caller holds the row locks of all the cases (select_for_update) and loaded them
    after locking, so `audit_seq`/`audit_head` on each object are the chain heads; the new
    heads are set on the objects. `save` (the caller's one UPDATE of the cases) runs after
    the heads are set and before the events are inserted and announced, so receivers of
    case_events_appended read the cases as they now are, as after event_append (and are
    told so: `cases_current=True`, so they can use each event's case object as it is).
    Entries: (case, kind, from_status, to_status, payload)."""
    at = at or timezone.now()
    events = []
    for case, kind, from_status, to_status, payload in entries:
        _check_payload(payload)
        seq, prev_hash = case.audit_seq + 1, case.audit_head or GENESIS
        digest = hashlib.sha256(canonical(
            case_id=case.pk, seq=seq, kind=kind, from_status=from_status, to_status=to_status, actor_id=None,
            actor_kind=actor_kind, payload=payload, at=at, prev_hash=prev_hash,
        )).hexdigest()
        events.append(CaseEvent(case=case, seq=seq, kind=kind, from_status=from_status, to_status=to_status,
                                actor=None, actor_kind=actor_kind, payload=payload, at=at, prev_hash=prev_hash,
                                hash=digest))
        case.audit_seq, case.audit_head = seq, digest
    if save is not None:
        save([case for case, *_rest in entries])
    if connection.vendor == "postgresql":
        _insert_events(events, actor_kind=actor_kind, at=at)
    else:
        events = CaseEvent.objects.bulk_create(events)
    # With `save`, the cases in memory are the rows as written: receivers may use them
    # instead of reading them again.
    case_events_appended.send(sender=CaseEvent, events=events, cases_current=save is not None)
    return events


def _insert_events(events: list[CaseEvent], *, actor_kind: str, at: datetime) -> None:
    """One INSERT of many system events on PostgreSQL, the rows as one JSON parameter: the
    escalation ladder appends tens of thousands at once, and bulk_create's per-field
    preparation and array parameters cost more than the insert itself. Sets the ids."""
    rows = [{"case_id": e.case_id, "seq": e.seq, "kind": e.kind, "from_status": e.from_status,
             "to_status": e.to_status, "payload": e.payload, "prev_hash": e.prev_hash, "hash": e.hash} for e in events]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO triage_caseevent (case_id, seq, kind, from_status, to_status, actor_id, actor_kind, payload, "
            "at, prev_hash, hash) "
            "SELECT v.case_id, v.seq, v.kind, v.from_status, v.to_status, NULL, %s, v.payload, %s, v.prev_hash, v.hash "
            "FROM json_to_recordset(%s::json) AS v(case_id bigint, seq integer, kind text, from_status text, "
            "to_status text, payload jsonb, prev_hash text, hash text) "
            "RETURNING id, case_id, seq",
            [actor_kind, at, json.dumps(rows, ensure_ascii=False)],
        )
        ids = {(case_id, seq): pk for pk, case_id, seq in cursor.fetchall()}
    for event in events:
        event.pk = ids[(event.case_id, event.seq)]
        event._state.adding, event._state.db = False, connection.alias


@dataclass(frozen=True)
class AuditProblem:
    case_id: int
    case_number: str
    seq: int
    event_id: int | None
    message: str

    def __str__(self) -> str:
        where = f"事件 #{self.event_id}（案件 {self.case_number} 第 {self.seq} 条）" if self.event_id else (
            f"案件 {self.case_number} 第 {self.seq} 条事件")
        return f"{where}：{self.message}"


@dataclass
class AuditSummary:
    cases: int = 0
    events: int = 0
    broken_cases: int = 0
    problems: list[AuditProblem] = field(default_factory=list)
    heads_digest: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_cases == 0


_EVENT_FIELDS = ("id", "case_id", "seq", "kind", "from_status", "to_status", "actor_id", "actor_kind", "payload",
                 "at", "prev_hash", "hash")


def _case_number(case_id: int, created_at: datetime) -> str:
    return f"QF{timezone.localtime(created_at).year}{case_id:08d}"


def _check_case(case_id: int, number: str, audit_seq: int, audit_head: str,
                events: list[tuple[Any, ...]]) -> AuditProblem | None:
    """The first problem of one case's chain, or None."""
    expected_seq, prev = 1, GENESIS
    for event_id, _case, seq, kind, from_status, to_status, actor_id, actor_kind, payload, at, prev_hash, digest in events:
        if seq > expected_seq:
            return AuditProblem(case_id, number, expected_seq, None,
                                f"缺失（被删除），其后的事件 #{event_id} 是第 {seq} 条")
        if seq < expected_seq:
            return AuditProblem(case_id, number, seq, event_id, "序号重复")
        if prev_hash != prev:
            return AuditProblem(case_id, number, seq, event_id, "不接续前一条事件：次序被调换，或前一条被替换")
        recomputed = hashlib.sha256(canonical(
            case_id=case_id, seq=seq, kind=kind, from_status=from_status, to_status=to_status, actor_id=actor_id,
            actor_kind=actor_kind, payload=payload, at=at, prev_hash=prev_hash,
        )).hexdigest()
        if recomputed != digest:
            return AuditProblem(case_id, number, seq, event_id, "内容被修改（哈希不符）")
        prev, expected_seq = digest, expected_seq + 1
    if audit_seq >= expected_seq:
        return AuditProblem(case_id, number, expected_seq, None, f"缺失（链尾被删除；案件记录共 {audit_seq} 条）")
    if audit_seq < expected_seq - 1 or (audit_seq and prev != audit_head):
        return AuditProblem(case_id, number, expected_seq - 1, None, "与案件记录的链头不符")
    return None


def _grouped(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[int, list[tuple[Any, ...]]]]:
    """Consecutive events of one case at a time (rows come ordered by case, seq)."""
    current: list[tuple[Any, ...]] = []
    for row in rows:
        if current and row[1] != current[0][1]:
            yield current[0][1], current
            current = []
        current.append(row)
    if current:
        yield current[0][1], current


def audit_verify(*, chunk_size: int = 2000, max_problems: int = 20, case_ids: list[int] | None = None) -> AuditSummary:
    """Walk every case's chain (or only those of `case_ids`) in (case, seq) order with two
    streaming cursors merged, in one consistent snapshot; the first problem listed is the
    first bad event in that order."""
    from triage.models import Case

    summary = AuditSummary()
    heads = hashlib.sha256()
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cases = Case.objects.order_by("pk").values_list("pk", "created_at", "audit_seq", "audit_head")
        events = CaseEvent.objects.order_by("case_id", "seq").values_list(*_EVENT_FIELDS)
        if case_ids is not None:
            cases, events = cases.filter(pk__in=case_ids), events.filter(case_id__in=case_ids)
        groups = _grouped(events.iterator(chunk_size=chunk_size))
        pending = next(groups, None)
        for case_id, created_at, audit_seq, audit_head in cases.iterator(chunk_size=chunk_size):
            summary.cases += 1
            own: list[tuple[Any, ...]] = []
            while pending is not None and pending[0] <= case_id:
                if pending[0] == case_id:  # events of a missing case cannot exist (FK)
                    own = pending[1]
                pending = next(groups, None)
            summary.events += len(own)
            heads.update(f"{case_id}:{audit_seq}:{audit_head};".encode())
            problem = _check_case(case_id, _case_number(case_id, created_at), audit_seq, audit_head, own)
            if problem is not None:
                summary.broken_cases += 1
                if len(summary.problems) < max_problems:
                    summary.problems.append(problem)
    summary.heads_digest = heads.hexdigest()
    return summary


# --- full verification by the worker -------------------------------------------------------

# A run still queued or running after this long is taken as lost (a worker died, the broker
# lost the message): a new request starts another instead of waiting on it forever.
RUN_STALE_AFTER = timedelta(hours=6)


def audit_run_request(*, user: User | None) -> tuple[AuditRun, bool]:
    """The run to wait for: one already queued or running, else a new one (created=True),
    which the caller hands to the worker after commit."""
    pending = (
        AuditRun.objects.filter(finished_at__isnull=True, failure="", requested_at__gte=timezone.now() - RUN_STALE_AFTER)
        .order_by("-requested_at")
        .first()
    )
    if pending is not None:
        return pending, False
    return AuditRun.objects.create(requested_by=user), True


def audit_run_execute(run_id: int) -> AuditRun | None:
    """Verify every chain for run `run_id` and store the outcome. Safe to run twice: a
    finished run is left as it is; a redelivered unfinished one is verified again."""
    run = AuditRun.objects.filter(pk=run_id).first()
    if run is None or run.finished_at is not None or run.failure:
        return run
    AuditRun.objects.filter(pk=run_id).update(started_at=timezone.now())
    try:
        summary = audit_verify()
        config_changes, config_broken, config_problems = config_verify()
    except DatabaseError as exc:
        AuditRun.objects.filter(pk=run_id).update(failure=f"{type(exc).__name__}"[:200], finished_at=timezone.now())
        logger.error("Audit run %s did not finish: %s", run_id, type(exc).__name__)
        raise
    AuditRun.objects.filter(pk=run_id).update(
        finished_at=timezone.now(),
        cases=summary.cases,
        events=summary.events,
        broken_cases=summary.broken_cases,
        config_changes=config_changes,
        config_broken=config_broken,
        problems=[str(problem) for problem in summary.problems] + config_problems,
        heads_digest=summary.heads_digest,
    )
    if not summary.ok:
        logger.error("Audit run %s: %d case(s) with a broken event chain", run_id, summary.broken_cases)
    if config_broken:
        logger.error("Audit run %s: %d broken link(s) in the admin change record", run_id, config_broken)
    return AuditRun.objects.get(pk=run_id)


# --- the admin's change record ---------------------------------------------------------------
# Admin edits (routing and term rules, categories, departments, holidays, deadline policies,
# staff roles …) are written by Django as LogEntry rows, which the auditor reads as the
# configuration change record (/staff/audit/changes/). Each entry is sealed into one chain:
# a link holds the hash of the entry (who, when, which object, which fields) and of the link
# before it, and the chain's head is kept on its own row. One global chain is cheap here:
# admin edits are few. An entry edited after it was sealed fails its hash, a deleted entry
# leaves its link without an entry, a deleted link leaves a gap, and a deleted last link no
# longer matches the head. An entry put straight into the database is sealed like any other:
# the chain shows that sealed entries were not changed or removed, not who wrote them.

_ENTRY_FIELDS = ("id", "action_time", "user_id", "content_type_id", "object_id", "object_repr", "action_flag",
                 "change_message")


def config_canonical(*, seq: int, entry_id: int, action_time: datetime, user_id: int, content_type_id: int | None,
                     object_id: str | None, object_repr: str, action_flag: int, change_message: str,
                     prev_hash: str) -> bytes:
    record = {
        "v": CHAIN_VERSION, "seq": seq, "entry": entry_id, "user": user_id, "type": content_type_id,
        "object": object_id, "repr": object_repr, "flag": action_flag, "change": change_message,
        "at": action_time.astimezone(UTC).isoformat(timespec="microseconds"), "prev": prev_hash,
    }
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _entry_hash(seq: int, row: tuple[Any, ...], prev_hash: str) -> str:
    entry_id, action_time, user_id, content_type_id, object_id, object_repr, action_flag, change_message = row
    return hashlib.sha256(config_canonical(
        seq=seq, entry_id=entry_id, action_time=action_time, user_id=user_id, content_type_id=content_type_id,
        object_id=object_id, object_repr=object_repr, action_flag=action_flag, change_message=change_message,
        prev_hash=prev_hash,
    )).hexdigest()


def config_seal_pending() -> int:
    """Seal every change-record entry not sealed yet, in id order; returns how many. Runs in
    the admin's own transaction when an entry is written (post_save), after each admin POST
    (the entries of a bulk deletion are written with bulk_create, which sends no signal;
    triage.middleware) and before a verification. The head row's lock serialises writers."""
    from django.contrib.admin.models import LogEntry

    from triage.models import ConfigChainHead, ConfigChangeSeal

    with transaction.atomic():
        head = ConfigChainHead.objects.select_for_update().filter(pk=1).first()
        if head is None:
            head = ConfigChainHead.objects.create(pk=1)
        rows = (LogEntry.objects.exclude(pk__in=ConfigChangeSeal.objects.values("entry_id"))
                .order_by("pk").values_list(*_ENTRY_FIELDS))
        seals = []
        for row in rows:
            seq = head.seq + 1
            digest = _entry_hash(seq, row, head.head)
            seals.append(ConfigChangeSeal(seq=seq, entry_id=row[0], prev_hash=head.head, hash=digest))
            head.seq, head.head = seq, digest
        if seals:
            ConfigChangeSeal.objects.bulk_create(seals)
            head.save(update_fields=["seq", "head"])
        return len(seals)


def _entry_words(row: tuple[Any, ...] | None, entry_id: int) -> str:
    if row is None:
        return f"配置变更记录 #{entry_id}"
    at = timezone.localtime(row[1]).strftime("%Y-%m-%d %H:%M")
    return f"配置变更记录 #{entry_id}（{at}，{row[5]}）"


def config_verify(*, max_problems: int = 20) -> tuple[int, int, list[str]]:
    """(entries checked, broken links, the first problems as sentences). Seals what is
    pending first, then walks the chain in one snapshot."""
    from django.contrib.admin.models import LogEntry

    from triage.models import ConfigChainHead, ConfigChangeSeal

    config_seal_pending()
    broken = 0
    problems: list[str] = []

    def problem(text: str) -> None:
        nonlocal broken
        broken += 1
        if len(problems) < max_problems:
            problems.append(text)

    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        head = ConfigChainHead.objects.filter(pk=1).first()
        entries = {row[0]: row for row in LogEntry.objects.values_list(*_ENTRY_FIELDS).iterator(chunk_size=2000)}
        expected, prev = 1, GENESIS
        for seq, entry_id, prev_hash, digest in ConfigChangeSeal.objects.order_by("seq").values_list(
                "seq", "entry_id", "prev_hash", "hash").iterator(chunk_size=2000):
            row = entries.get(entry_id)
            if seq != expected:
                problem(f"配置变更记录的第 {expected} 至 {seq - 1} 条封存缺失（被删除）")
            elif prev_hash != prev:
                problem(f"{_entry_words(row, entry_id)}：不接续前一条，封存被调换或替换")
            elif row is None:
                problem(f"{_entry_words(row, entry_id)}：已被删除")
            elif _entry_hash(seq, row, prev_hash) != digest:
                problem(f"{_entry_words(row, entry_id)}：内容被修改（哈希不符）")
            expected, prev = seq + 1, digest
        if head is not None and (head.seq != expected - 1 or (head.seq and head.head != prev)):
            problem(f"配置变更记录的链尾与链头不符（链头记第 {head.seq} 条，链上最后一条是第 {expected - 1} 条）："
                    "末尾的封存被删除或替换")
    return len(entries), broken, problems
