"""The admin cannot break the organisation or the record: the department tree stays a
tree (and a move carries its sub-tree), cases, access records, corrections and
notifications are not typed in or edited there, classifier versions are switched by
activation only, and bad input gets a Chinese reason instead of a 500."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.test import Client

from intake.models import AccessKind, AccessRecord
from tests.factories import submit
from triage.models import Case, CaseEvent, Category, ClassifierModel, Department

pytestmark = pytest.mark.django_db


def _department_data(department: Department, **changes: Any) -> dict[str, Any]:
    data = {"code": department.code, "name": department.name, "short_name": department.short_name,
            "kind": department.kind, "area": department.area_id, "parent": department.parent_id or "",
            "level": department.level, "is_active": "on"}
    return {**data, **changes}


def test_a_department_cannot_sit_under_itself_or_its_own_sub_department(admin_client: Client) -> None:
    district = Department.objects.get(code="379901-gov")
    street = Department.objects.get(code="379901001-gov")
    before = district.path
    for parent in (district, street):
        response = admin_client.post(f"/admin/triage/department/{district.pk}/change/",
                                     _department_data(district, parent=parent.pk))
        assert response.status_code == 200
        assert "上级不能是本部门或其下级部门" in response.content.decode()
    district.refresh_from_db()
    assert district.path == before


def test_moving_a_department_moves_its_sub_tree(admin_client: Client) -> None:
    street = Department.objects.get(code="379901001-gov")
    community = Department.objects.get(code="379901001001-gov")
    new_parent = Department.objects.get(code="379902-gov")
    response = admin_client.post(f"/admin/triage/department/{street.pk}/change/",
                                 _department_data(street, parent=new_parent.pk))
    assert response.status_code == 302
    street.refresh_from_db()
    community.refresh_from_db()
    assert street.path == f"{new_parent.path}{street.pk}/"
    assert community.path == f"{street.path}{community.pk}/"
    # Every path is again its parent's path plus its own id.
    for department in Department.objects.select_related("parent"):
        parent_path = department.parent.path if department.parent else "/"
        assert department.path == f"{parent_path}{department.pk}/", department


def test_the_department_list_is_in_tree_order_and_searchable(admin_client: Client) -> None:
    page = admin_client.get("/admin/triage/department/").content.decode()
    assert page.index("清河市纪委监委") < page.index("东城区人民政府") < page.index("东关街道办事处")
    found = admin_client.get("/admin/triage/department/", {"q": "东关"}).content.decode()
    assert "东关街道办事处" in found and "西城区人民政府" not in found


def test_a_category_suffix_must_name_some_department(admin_client: Client) -> None:
    response = admin_client.post("/admin/triage/category/add/", {"name": "新类别", "department_suffix": "nope",
                                                                "is_active": "on"})
    assert response.status_code == 200 and "没有编码以“-nope”结尾的部门" in response.content.decode()
    assert not Category.objects.filter(name="新类别").exists()
    ok = admin_client.post("/admin/triage/category/add/", {"name": "新类别", "department_suffix": "zj", "is_active": "on"})
    assert ok.status_code == 302 and Category.objects.filter(name="新类别").exists()
    assert "新类别" in admin_client.get("/admin/triage/category/", {"q": "新类"}).content.decode()


def test_a_case_is_read_only_in_the_admin(admin_client: Client) -> None:
    case = Case.objects.get(report=submit(body="小区物业不作为，楼道堆满杂物。").report)
    events = CaseEvent.objects.filter(case=case).count()
    page = admin_client.get(f"/admin/triage/case/{case.pk}/change/")
    assert page.status_code == 200
    assert 'name="status"' not in page.content.decode() and 'name="audit_seq"' not in page.content.decode()
    response = admin_client.post(f"/admin/triage/case/{case.pk}/change/", {"status": "closed", "audit_seq": 0})
    assert response.status_code == 403
    assert admin_client.get("/admin/triage/case/add/").status_code == 403
    assert admin_client.post(f"/admin/triage/case/{case.pk}/delete/", {"post": "yes"}).status_code == 403
    case.refresh_from_db()
    assert case.status != "closed" and CaseEvent.objects.filter(case=case).count() == events


def test_access_records_are_not_made_or_changed_in_the_admin(admin_client: Client) -> None:
    case = Case.objects.get(report=submit(body="反映村干部优亲厚友。").report)
    user = get_user_model().objects.get(username="admin1")
    record = AccessRecord.objects.create(report=case.report, user=user, kind=AccessKind.VIEW_CONTENT)
    assert admin_client.get("/admin/intake/accessrecord/add/").status_code == 403
    assert admin_client.post("/admin/intake/accessrecord/add/", {"report": case.report.pk, "user": user.pk,
                                                                "kind": "view_content"}).status_code == 403
    assert AccessRecord.objects.count() == 1
    listing = admin_client.get("/admin/intake/accessrecord/").content.decode()
    assert "查阅人" in listing and "查看内容" in listing
    assert admin_client.post(f"/admin/intake/accessrecord/{record.pk}/delete/", {"post": "yes"}).status_code == 403


@pytest.mark.parametrize("url", ["/admin/notifications/deadletter/add/", "/admin/notifications/notification/add/",
                                 "/admin/triage/correction/add/", "/admin/triage/classifiermodel/add/"])
def test_service_records_cannot_be_added_by_hand(admin_client: Client, url: str) -> None:
    assert admin_client.get(url).status_code == 403
    assert admin_client.post(url, {}).status_code == 403


def _model(version: str, *, active: bool = False, pruned: bool = False) -> ClassifierModel:
    from django.utils import timezone

    return ClassifierModel.objects.create(version=version, is_active=active, metrics={"macro_f1": 0.8},
                                          data_hash="x", artifact=b"" if pruned else b"x",
                                          pruned_at=timezone.now() if pruned else None)


def test_classifier_versions_switch_by_activation_only(admin_client: Client, monkeypatch: Any) -> None:
    active = _model("v-active", active=True)
    old = _model("v-old")
    pruned = _model("v-pruned", pruned=True)
    page = admin_client.get("/admin/triage/classifiermodel/").content.decode()
    assert "当前使用" in page and "测试集宏平均 F1" in page and "0.800" in page
    # The change page shows the version; nothing on it can be edited.
    view = admin_client.get(f"/admin/triage/classifiermodel/{active.pk}/change/").content.decode()
    assert 'name="is_active"' not in view
    assert admin_client.post(f"/admin/triage/classifiermodel/{old.pk}/change/", {"is_active": "on"}).status_code == 403

    def act(*models: ClassifierModel) -> str:
        response = admin_client.post("/admin/triage/classifiermodel/", {
            "action": "activate", "_selected_action": [m.pk for m in models]}, follow=True)
        assert response.status_code == 200
        return response.content.decode()

    assert "请只选择一个版本" in act(old, pruned)
    assert "模型文件已清理，不能启用" in act(pruned)
    activated: list[str] = []
    monkeypatch.setattr("triage.training.activate", lambda version: activated.append(version))
    assert "已启用版本 v-old" in act(old) and activated == ["v-old"]
    # In the change record the auditor reads, like any admin edit; refused activations are not.
    assert [e.get_change_message() for e in LogEntry.objects.filter(object_id=str(old.pk))] == ["设为当前使用的模型"]
    assert not LogEntry.objects.filter(object_id=str(pruned.pk)).exists()
    # The active version cannot be deleted, alone or among others; an old one can.
    assert admin_client.post(f"/admin/triage/classifiermodel/{active.pk}/delete/", {"post": "yes"}).status_code == 403

    def delete(*models: ClassifierModel) -> None:
        admin_client.post("/admin/triage/classifiermodel/", {"action": "delete_selected", "post": "yes",
                                                             "_selected_action": [m.pk for m in models]})

    delete(active, pruned)
    assert ClassifierModel.objects.filter(pk__in=[active.pk, pruned.pk]).count() == 2
    delete(pruned)
    assert ClassifierModel.objects.filter(pk=active.pk).exists()
    assert not ClassifierModel.objects.filter(pk=pruned.pk).exists()


def test_the_role_list_names_each_role_and_counts_its_members(admin_client: Client) -> None:
    from tests.triage.casework import staff

    staff("zj-one", "handler", "379901-zj")
    staff("zj-two", "handler", "379901-zj")
    page = admin_client.get("/admin/auth/group/").content.decode()
    row = next(r for r in page.split("<tr") if ">handler<" in r)
    assert "承办人" in row and ">2<" in row


def test_the_admin_is_named_and_placement_labels_are_chinese(admin_client: Client) -> None:
    index = admin_client.get("/admin/").content.decode()
    assert "清风 系统管理" in index
    user = get_user_model().objects.create_user("someone", password="x-password-123")
    page = admin_client.get(f"/admin/auth/user/{user.pk}/change/").content.decode()
    assert "工作部门" in page and ">Department" not in page


class _Headings(HTMLParser):
    """The text of every column heading and field label on an admin page."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._open: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("th", "label"):
            self._open = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "label") and self._open is not None:
            self.texts.append("".join(self._open).strip().rstrip(":：").strip())
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open.append(data)


def test_every_admin_page_names_its_columns_and_fields_in_chinese(admin_client: Client) -> None:
    from django.contrib import admin
    from django.utils.text import capfirst

    case = Case.objects.get(report=submit(body="反映村干部优亲厚友。").report)
    AccessRecord.objects.create(report=case.report, user=get_user_model().objects.get(username="admin1"),
                                kind=AccessKind.VIEW_CONTENT)
    _model("v-1", active=True)
    checked = 0
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        if meta.app_label not in ("intake", "triage", "notifications"):
            continue
        english = {capfirst(f.name.replace("_", " ")) for f in meta.concrete_fields}
        urls = [f"/admin/{meta.app_label}/{meta.model_name}/"]
        first = model_admin.get_queryset(admin_client.get("/admin/").wsgi_request).first()
        if first is not None:
            urls.append(f"/admin/{meta.app_label}/{meta.model_name}/{first.pk}/change/")
        for url in urls:
            response = admin_client.get(url)
            assert response.status_code == 200, url
            parser = _Headings()
            parser.feed(response.content.decode())
            assert not english & set(parser.texts), (url, sorted(english & set(parser.texts)))
            checked += 1
    assert checked >= 25
