"""The auditor reads the configuration changes made in the admin (routing, categories,
holidays, templates, staff roles …): who changed what, when, and which fields."""

from __future__ import annotations

import pytest
from django.test import Client

from triage.models import ReplyTemplate

pytestmark = pytest.mark.django_db


def test_an_admin_edit_is_in_the_auditors_change_record(admin_client: Client, auditor: Client) -> None:
    response = admin_client.post("/admin/triage/replytemplate/add/",
                                 {"title": "测试模板", "body": "您好！", "position": 9, "is_active": "on"})
    assert response.status_code == 302
    template = ReplyTemplate.objects.get(title="测试模板")
    response = admin_client.post(f"/admin/triage/replytemplate/{template.pk}/change/",
                                 {"title": "测试模板", "body": "您好！经核查。", "position": 9, "is_active": "on"})
    assert response.status_code == 302
    assert 'id="changes-link"' in auditor.get("/staff/audit/").content.decode()
    page = auditor.get("/staff/audit/changes/").content.decode()
    rows = page.split('id="changes"', 1)[1]
    assert rows.count("admin1") == 2 and "新增" in rows and "修改" in rows and "测试模板" in rows
    assert "答复模板" in rows  # the kind of object, as the admin names it
    assert "您好！经核查。" not in page  # which fields changed, not their values
    # Filters: by the person, by the kind of object, by day (checked like the access log's).
    assert "admin1" not in auditor.get("/staff/audit/changes/?username=nobody").content.decode().split(
        'id="changes"', 1)[1]
    assert auditor.get("/staff/audit/changes/?username=ADMIN1").content.decode().count("测试模板") >= 2
    response = auditor.get("/staff/audit/changes/?since=2026-12-01&until=2026-11-01")
    assert response.status_code == 200 and "结束日期不能早于开始日期" in response.content.decode()
    assert auditor.get("/staff/audit/changes/?model=abc").status_code == 200

