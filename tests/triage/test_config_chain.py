"""The admin's change record is sealed into a hash chain: an entry edited or deleted in the
database afterwards shows on the auditor's change record, in verify_audit and in the
nightly full verification."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from tests.tamper import owner_tampering
from triage.audit import audit_run_execute, config_verify
from triage.models import AuditRun, ConfigChainHead, ConfigChangeSeal, ReplyTemplate

pytestmark = pytest.mark.django_db


def _add_templates(admin_client: Client, *titles: str) -> None:
    for title in titles:
        response = admin_client.post("/admin/triage/replytemplate/add/",
                                     {"title": title, "body": "您好！", "position": 9, "is_active": "on"})
        assert response.status_code == 302


def _chain_status(auditor: Client) -> str:
    page = auditor.get("/staff/audit/changes/").content.decode()
    return page.split('id="chain-status"', 1)[1].split("</div>", 1)[0]


def test_every_admin_change_is_sealed_as_it_is_made(admin_client: Client, auditor: Client) -> None:
    _add_templates(admin_client, "模板一", "模板二")
    entries = list(LogEntry.objects.order_by("pk").values_list("pk", flat=True))
    assert entries and list(ConfigChangeSeal.objects.values_list("entry_id", flat=True)) == entries
    head = ConfigChainHead.objects.get()
    assert head.seq == len(entries) and head.head == ConfigChangeSeal.objects.get(seq=head.seq).hash
    assert config_verify() == (len(entries), 0, [])
    assert f"全部 {len(entries)} 条变更记录都已封存入哈希链" in _chain_status(auditor)


def test_a_bulk_deletion_is_sealed_by_the_end_of_its_request(admin_client: Client) -> None:
    _add_templates(admin_client, "甲", "乙", "丙")
    ids = list(ReplyTemplate.objects.filter(title__in=["甲", "乙", "丙"]).values_list("pk", flat=True))
    response = admin_client.post("/admin/triage/replytemplate/", {"action": "delete_selected", "post": "yes",
                                                                  "_selected_action": ids})
    assert response.status_code == 302
    # Django writes these three entries with bulk_create (no signal): the middleware sealed them.
    assert LogEntry.objects.filter(action_flag=3).count() == 3
    assert ConfigChangeSeal.objects.count() == LogEntry.objects.count()


def test_an_edited_entry_is_caught(admin_client: Client, auditor: Client) -> None:
    _add_templates(admin_client, "模板一", "模板二")
    entry = LogEntry.objects.order_by("pk").first()
    assert entry is not None
    LogEntry.objects.filter(pk=entry.pk).update(object_repr="别的对象")
    checked, broken, problems = config_verify()
    assert checked == LogEntry.objects.count()
    assert broken == 1 and problems == [problems[0]]
    assert f"配置变更记录 #{entry.pk}" in problems[0] and "内容被修改" in problems[0]
    status = _chain_status(auditor)
    assert "发现 1 处变更记录被修改或删除" in status and f"#{entry.pk}" in status


def test_a_deleted_entry_and_a_cut_tail_are_caught(admin_client: Client) -> None:
    _add_templates(admin_client, "一", "二", "三")
    first, *_rest, last = list(LogEntry.objects.order_by("pk"))
    LogEntry.objects.filter(pk=first.pk).delete()
    _checked, broken, problems = config_verify()
    assert broken == 1 and f"#{first.pk}" in problems[0] and "已被删除" in problems[0]
    # The last entry and its link removed together: the head no longer matches.
    LogEntry.objects.filter(pk=last.pk).delete()
    with owner_tampering("triage_configchangeseal"):
        ConfigChangeSeal.objects.filter(entry_id=last.pk).delete()
    _checked, broken, problems = config_verify()
    assert broken == 2 and "链尾与链头不符" in problems[-1]


def test_the_links_refuse_update_and_delete_on_postgresql(admin_client: Client) -> None:
    from django.db import DatabaseError, connection, transaction

    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL's")
    _add_templates(admin_client, "模板一")
    for change in (lambda q: q.update(hash="0" * 64), lambda q: q.delete()):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            change(ConfigChangeSeal.objects.all())


def test_verify_audit_and_the_full_run_report_the_change_record(admin_client: Client) -> None:
    _add_templates(admin_client, "模板一")
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "intact" in out.getvalue() and "config_changes=" in out.getvalue()
    entry = LogEntry.objects.order_by("pk").first()
    assert entry is not None
    LogEntry.objects.filter(pk=entry.pk).update(change_message="[]")
    with pytest.raises(CommandError, match="1 change-record link") as failure:
        call_command("verify_audit", stdout=StringIO(), stderr=StringIO())
    assert failure.value.returncode == 1 and f"#{entry.pk}" in str(failure.value)
    run = AuditRun.objects.create()
    done = audit_run_execute(run.pk)
    assert done is not None and done.state == "broken" and done.config_broken == 1 and done.broken_cases == 0
    assert done.config_changes == LogEntry.objects.count() and any(f"#{entry.pk}" in p for p in done.problems)


def test_an_account_that_made_changes_is_deactivated_not_deleted(admin_client: Client, django_user_model: Any) -> None:
    other = django_user_model.objects.create_superuser("admin2", password="admin-password-123")
    LogEntry.objects.log_actions(user_id=other.pk, queryset=[other], action_flag=2, change_message="[]",
                                 single_object=True)
    page = admin_client.post(f"/admin/auth/user/{other.pk}/delete/", {"post": "yes"})
    assert page.status_code == 200 and "请停用该账号，不要删除" in page.content.decode()
    assert django_user_model.objects.filter(pk=other.pk).exists()
    assert config_verify()[1] == 0


@pytest.mark.django_db(transaction=True)
def test_the_migration_seals_the_entries_written_before_it(demo_org: None, django_user_model: Any) -> None:
    from tests.conftest import migrate_to

    user = django_user_model.objects.create_user("old-admin", password="x-password-123")
    try:
        migrate_to([("triage", "0020_field_labels")])
        # bulk_create: no post_save, whose receiver needs the chain's tables.
        LogEntry.objects.bulk_create([LogEntry(user_id=user.pk, object_id=str(n), object_repr=f"旧变更{n}",
                                               action_flag=2, change_message="[]") for n in range(3)])
        migrate_to([("triage", "0021_config_change_chain")])
    finally:
        migrate_to([])
    assert ConfigChangeSeal.objects.count() == 3 and ConfigChainHead.objects.get().seq == 3
    assert config_verify() == (3, 0, [])
