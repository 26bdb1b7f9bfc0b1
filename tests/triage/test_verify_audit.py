"""`manage.py verify_audit`: an intact chain passes; a direct edit, a deleted event and a
swapped order are each found, and the first bad event is named."""

from __future__ import annotations

import subprocess
import sys
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction

from intake.models import Report
from tests.conftest import BASE_DIR, child_env
from tests.tamper import owner_tampering
from tests.triage.casework import Team, bring_to, new_case
from triage.audit import audit_verify, event_append
from triage.models import Case, CaseEvent, CaseStatus


@pytest.fixture
def cases(demo_org: None) -> list[Case]:
    team = Team("379901-zj", "zj")
    return [bring_to(new_case(), CaseStatus.CLOSED, team) for _ in range(3)]


def verify() -> str:
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit", "--chunk-size", "3", stdout=StringIO(), stderr=StringIO())
    assert failure.value.returncode == 1
    return str(failure.value)


def event(case: Case, seq: int) -> CaseEvent:
    return CaseEvent.objects.get(case=case, seq=seq)


@pytest.mark.django_db
def test_an_intact_chain_passes_with_a_summary(cases: list[Case]) -> None:
    out = StringIO()
    call_command("verify_audit", "--chunk-size", "2", stdout=out)
    total = CaseEvent.objects.count()
    assert f"cases=3 events={total}" in out.getvalue() and "intact" in out.getvalue()
    assert total == 3 * 7  # register, route, accept, start, draft, submit, approve


@pytest.mark.django_db
def test_the_database_refuses_to_rewrite_or_delete_events(cases: list[Case]) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL's")
    target = event(cases[0], 2)
    for rewrite in (
        lambda: CaseEvent.objects.filter(pk=target.pk).update(kind="forged"),
        lambda: CaseEvent.objects.filter(pk=target.pk).delete(),
        lambda: CaseEvent.objects.filter(case=cases[0]).update(payload={}),
    ):
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
            rewrite()
    assert event(cases[0], 2).kind == target.kind
    assert audit_verify().ok
    # Appending still works.
    with transaction.atomic():
        event_append(case=Case.objects.select_for_update().get(pk=cases[0].pk), kind="note", from_status="",
                     to_status="", payload={})
    assert audit_verify().ok


@pytest.mark.django_db
def test_a_direct_edit_is_named(cases: list[Case]) -> None:
    target = event(cases[1], 3)
    with owner_tampering():
        CaseEvent.objects.filter(pk=target.pk).update(to_status=CaseStatus.CLOSED)
    message = verify()
    assert f"事件 #{target.pk}（案件 {cases[1].number} 第 3 条）：内容被修改" in message
    assert "1 case(s)" in message


@pytest.mark.django_db
def test_an_edited_payload_and_time_are_found(cases: list[Case]) -> None:
    target = event(cases[0], 5)
    with owner_tampering():
        CaseEvent.objects.filter(pk=target.pk).update(payload={"draft": "00000000-0000-0000-0000-000000000000"})
    assert f"事件 #{target.pk}" in verify()
    with owner_tampering():
        CaseEvent.objects.filter(pk=target.pk).update(payload=target.payload, at=target.at.replace(microsecond=1))
    assert f"事件 #{target.pk}" in verify()


@pytest.mark.django_db
def test_a_deleted_event_is_named(cases: list[Case]) -> None:
    after = event(cases[2], 5)
    with owner_tampering():
        CaseEvent.objects.filter(case=cases[2], seq=4).delete()
    message = verify()
    assert f"案件 {cases[2].number} 第 4 条事件：缺失（被删除），其后的事件 #{after.pk} 是第 5 条" in message


@pytest.mark.django_db
def test_a_deleted_last_event_is_found_by_the_head_on_the_case(cases: list[Case]) -> None:
    with owner_tampering():
        CaseEvent.objects.filter(case=cases[0], seq=7).delete()
    assert f"案件 {cases[0].number} 第 7 条事件：缺失（链尾被删除" in verify()


@pytest.mark.django_db
def test_a_deleted_and_renumbered_event_is_found(cases: list[Case]) -> None:
    with owner_tampering():
        CaseEvent.objects.filter(case=cases[0], seq=3).delete()
    moved = event(cases[0], 4)
    with owner_tampering():
        for seq in range(4, 8):
            CaseEvent.objects.filter(case=cases[0], seq=seq).update(seq=seq - 1)
    Case.objects.filter(pk=cases[0].pk).update(audit_seq=6)
    assert f"事件 #{moved.pk}（案件 {cases[0].number} 第 3 条）：不接续前一条事件" in verify()


@pytest.mark.django_db
def test_a_swapped_order_is_named(cases: list[Case]) -> None:
    third, fourth = event(cases[1], 3), event(cases[1], 4)
    with owner_tampering():
        CaseEvent.objects.filter(pk=third.pk).update(seq=99)
        CaseEvent.objects.filter(pk=fourth.pk).update(seq=3)
        CaseEvent.objects.filter(pk=third.pk).update(seq=4)
    assert f"事件 #{fourth.pk}（案件 {cases[1].number} 第 3 条）：不接续前一条事件：次序被调换" in verify()


@pytest.mark.django_db
def test_the_first_bad_event_is_named_first(cases: list[Case]) -> None:
    with owner_tampering():
        CaseEvent.objects.filter(case=cases[2], seq=2).update(kind="forged")
        CaseEvent.objects.filter(case=cases[0], seq=6).update(kind="forged")
        CaseEvent.objects.filter(case=cases[0], seq=2).delete()
    message = verify()
    assert "2 case(s)" in message
    assert f"First: 案件 {cases[0].number} 第 2 条事件" in message


@pytest.mark.django_db
def test_cases_without_events_are_fine(demo_org: None, cases: list[Case]) -> None:
    # A case from before the workflow existed: no events, no head.
    report = Report.objects.create(channel="web", source="web_form", key_id="t2", wrapped_key=b"x", body_ct=b"x")
    Case.objects.create(report=report)
    assert audit_verify(chunk_size=1).ok


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_of_one_case_keep_one_chain(demo_org: None) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs row locks")
    case = new_case()
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(10):
                with transaction.atomic():
                    event_append(case=Case.objects.get(pk=case.pk), kind="note", from_status="", to_status="",
                                 payload={"writer": n, "i": i})
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    summary = audit_verify()
    assert summary.ok and summary.events == 2 + 40
    assert list(CaseEvent.objects.filter(case=case).values_list("seq", flat=True)) == list(range(1, 43))


@pytest.mark.django_db(transaction=True)
def test_the_command_exits_non_zero_when_broken(demo_org: None) -> None:
    case = new_case()
    command = [sys.executable, "manage.py", "verify_audit"]
    ok = subprocess.run(command, cwd=BASE_DIR, env=child_env(), capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "intact" in ok.stdout
    with owner_tampering():
        CaseEvent.objects.filter(case=case, seq=1).update(kind="forged")
    broken = subprocess.run(command, cwd=BASE_DIR, env=child_env(), capture_output=True, text=True, timeout=120)
    assert broken.returncode == 1
    assert f"案件 {case.number} 第 1 条" in broken.stderr


@pytest.mark.parametrize("size", ["0", "-5", "x"])
def test_a_chunk_size_below_one_is_refused(size: str) -> None:
    with pytest.raises(CommandError):
        call_command("verify_audit", "--chunk-size", size)
