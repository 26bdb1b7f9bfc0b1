"""The admin's rule form refuses rules triage could never apply, with a reason in Chinese."""

from __future__ import annotations

import pytest

from triage.admin import TermRuleForm
from triage.models import Department, RuleKind

pytestmark = pytest.mark.django_db


def _form(**data: object) -> TermRuleForm:
    return TermRuleForm(data={"weight": 1.0, "is_active": True, **data})


def test_a_routing_rule_needs_a_department_or_the_place_government(demo_org: None) -> None:
    department = Department.objects.get(code="379901-jt").pk
    assert _form(kind=RuleKind.ROUTE, term="路灯", label="place_government").is_valid()
    assert _form(kind=RuleKind.ROUTE, term="路灯", department=department).is_valid()
    form = _form(kind=RuleKind.ROUTE, term="路灯", label="乡镇政府")
    assert not form.is_valid() and "请选择部门" not in str(form.errors)
    assert "place_government" in form.errors["department"][0]
    both = _form(kind=RuleKind.ROUTE, term="路灯", label="place_government", department=department)
    assert not both.is_valid() and "只能选其一" in both.errors["label"][0]


def test_a_matter_rule_names_a_matter_type_code_and_a_violation_rule_a_name(demo_org: None) -> None:
    assert _form(kind=RuleKind.MATTER, term="举报", label=" accusation ").is_valid()
    wrong = _form(kind=RuleKind.MATTER, term="举报", label="检举")
    assert not wrong.is_valid() and "accusation" in wrong.errors["label"][0]
    assert not _form(kind=RuleKind.VIOLATION, term="吃空饷", label="").is_valid()
    assert _form(kind=RuleKind.VIOLATION, term="吃空饷", label="廉洁纪律").is_valid()
    assert _form(kind=RuleKind.URGENCY, term="煤气").is_valid()


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_a_calendar_override_outside_the_plausible_years_is_refused(day: str) -> None:
    from django.forms import modelform_factory

    from triage.models import CalendarOverride

    form = modelform_factory(CalendarOverride, fields=["date", "is_workday", "note"])(
        data={"date": day, "is_workday": "on", "note": "x"}
    )
    assert not form.is_valid() and "日期应在 2000 年至 2099 年之间" in str(form.errors["date"])
    assert not CalendarOverride.objects.exists()
