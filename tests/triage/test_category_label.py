"""A category's name is for people and can be reworded; the classifier finds it by its model
label, which is fixed once saved. Renaming a category in the admin must not cut it off
from the model's predictions, nor teach the model a second label for the same thing."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.factories import submit
from tests.triage.casework import staff
from triage import decide as d
from triage.demo import seed_triage_defaults
from triage.models import Case, Category, Department
from triage.services import triage_correct, triage_reports
from triage.training import correction_examples

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_routing")]

SCHOOL = "白沙镇中心小学强制学生购买教辅资料，老师课后有偿补课，请教育局查处。"


def _rename(client: Client, category: Category, name: str) -> None:
    response = client.post(f"/admin/triage/category/{category.pk}/change/", {
        "name": name, "department_suffix": category.department_suffix, "is_active": "on",
        "model_label": "篡改的标签",  # read-only: a posted value is ignored
    })
    assert response.status_code == 302, response.content.decode()[:2000]


def test_a_renamed_category_still_receives_the_models_predictions(admin_client: Client, active_classifier: Any) -> None:
    education = Category.objects.get(name="教育文体")
    _rename(admin_client, education, "教育和体育")
    education.refresh_from_db()
    assert (education.name, education.model_label) == ("教育和体育", "教育文体")
    assert not Category.objects.filter(name="教育文体").exists()

    decision = d.decide(text=SCHOOL, chosen_matter_type="complaint", area_code="379902101201", accused="")
    assert decision.category == education
    assert decision.department is not None and decision.department.code == "379902-jy"
    # The explanation keeps the model's label; pages show the present name.
    assert decision.explanation["category"]["label"] == "教育文体"


def test_the_change_page_shows_the_label_but_does_not_offer_to_edit_it(admin_client: Client) -> None:
    category = Category.objects.get(name="城乡建设")
    page = admin_client.get(f"/admin/triage/category/{category.pk}/change/").content.decode()
    assert "模型标签" in page and "城乡建设" in page
    assert 'name="model_label"' not in page


def test_a_new_category_takes_its_name_as_label_unless_given_one(admin_client: Client) -> None:
    response = admin_client.post("/admin/triage/category/add/", {"name": "农业农村", "model_label": "",
                                                                "department_suffix": "", "is_active": "on"})
    assert response.status_code == 302
    assert Category.objects.get(name="农业农村").model_label == "农业农村"
    response = admin_client.post("/admin/triage/category/add/", {"name": "市场监管", "model_label": "市场监督管理",
                                                                "department_suffix": "", "is_active": "on"})
    assert response.status_code == 302
    assert Category.objects.get(name="市场监管").model_label == "市场监督管理"


def test_a_new_category_cannot_take_a_renamed_categorys_label(admin_client: Client) -> None:
    _rename(admin_client, Category.objects.get(name="城乡建设"), "住房和城乡建设")
    # The old name is free as a name, but as a label it still belongs to the renamed category.
    response = admin_client.post("/admin/triage/category/add/", {"name": "城乡建设", "model_label": "",
                                                                "department_suffix": "", "is_active": "on"})
    assert response.status_code == 200
    assert "模型标签" in response.content.decode() and "已存在" in response.content.decode()
    assert Category.objects.filter(model_label="城乡建设").count() == 1
    assert not Category.objects.filter(name="城乡建设").exists()


def test_corrections_to_a_renamed_category_train_under_its_label(admin_client: Client, active_classifier: Any) -> None:
    officer = staff("officer", "triage_officer", "379900-xf")
    health = Category.objects.get(name="卫生计生")
    _rename(admin_client, health, "卫生健康")
    report = submit(body="社区养老食堂的饭菜价格太高，老人吃不起。", area_code="379901001001").report
    triage_reports([str(report.pk)])
    triage_correct(case=Case.objects.get(report=report), user=officer, category=Category.objects.get(name="卫生健康"),
                   department=Department.objects.get(code="379901-wj"), reason="养老食堂归卫健委")
    assert [e.label for e in correction_examples()] == ["卫生计生"]


def test_seeding_the_defaults_again_does_not_bring_back_a_renamed_category(admin_client: Client) -> None:
    _rename(admin_client, Category.objects.get(name="交通运输"), "交通")
    count = Category.objects.count()
    seed_triage_defaults()
    assert Category.objects.count() == count
    assert not Category.objects.filter(name="交通运输").exists()


def test_the_triage_page_names_alternatives_by_their_present_names(admin_client: Client, active_classifier: Any,
                                                                    officer: Client) -> None:
    report = submit(body="小区门口的马路天天堵车，公交站也被占了，学校放学时孩子很危险。",
                    area_code="379901001001").report
    triage_reports([str(report.pk)])
    case = Case.objects.get(report=report)
    labels = [label for label, _p in case.triage_explanation["category"]["alternatives"]]
    assert labels
    renamed = Category.objects.get(model_label=labels[0])
    _rename(admin_client, renamed, f"{renamed.name}（新）")
    page = officer.get(f"/staff/triage/{case.pk}/").content.decode()
    assert f"{labels[0]}（新）" in page


@pytest.mark.django_db(transaction=True)
def test_migration_0019_gives_every_existing_category_its_name_as_label(demo_org: None) -> None:
    from django.db import IntegrityError, transaction

    from tests.conftest import migrate_to

    try:
        apps = migrate_to([("triage", "0018_calendaroverride_date_years")])
        apps.get_model("triage", "Category").objects.create(name="后来加的类别")
        apps = migrate_to([("triage", "0019_category_model_label")])
        category = apps.get_model("triage", "Category")
        assert all(c.model_label == c.name for c in category.objects.all())
        assert category.objects.get(name="后来加的类别").model_label == "后来加的类别"
        with pytest.raises(IntegrityError), transaction.atomic():
            category.objects.create(name="另一个", model_label="城乡建设")
    finally:
        migrate_to([])
