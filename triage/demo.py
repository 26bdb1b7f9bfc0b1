"""The demo organisation: a city's place tree, its departments, roles and staff logins."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.utils.translation import gettext_noop

from intake import staff_auth
from intake.models import Area, AreaLevel
from triage.models import Department, DepartmentKind, StaffProfile

DEMO_PASSWORD = "qingfeng-demo-2026"  # noqa: S105 - printed to the operator on purpose

# code, name, aliases; children nested. Codes are fictional but shaped like 行政区划代码.
PLACES: list[tuple[str, str, str, list]] = [  # type: ignore[type-arg]
    ("379900", "清河市", "", [
        ("379901", "东城区", "", [
            ("379901001", "东关街道", "东关", [
                ("379901001001", "东关社区", "", []),
                ("379901001002", "文化路社区", "文化路", []),
            ]),
            ("379901002", "北苑街道", "北苑", [
                ("379901002001", "北苑社区", "", []),
                ("379901002002", "新华社区", "", []),
            ]),
        ]),
        ("379902", "西城区", "", [
            ("379902001", "西湖街道", "西湖", [
                ("379902001001", "湖滨社区", "湖滨", []),
                ("379902001002", "望江社区", "望江", []),
            ]),
            ("379902101", "白沙镇", "白沙", [
                ("379902101201", "白沙村", "", []),
                ("379902101202", "下洋村", "", []),
            ]),
        ]),
        ("379921", "南山县", "", [
            ("379921101", "青石镇", "青石", [
                ("379921101201", "青石村", "", []),
                ("379921101202", "石桥村", "石桥", []),
            ]),
            ("379921102", "柳河乡", "柳河", [
                ("379921102201", "柳河村", "", []),
                ("379921102202", "杨庄村", "杨庄", []),
            ]),
        ]),
    ]),
]

FUNCTIONAL = [
    ("jw", "纪委监委", DepartmentKind.DISCIPLINE),
    ("xf", "信访局", DepartmentKind.PETITION),
    ("yb", "医疗保障局", DepartmentKind.FUNCTIONAL),
    ("zj", "住房和城乡建设局", DepartmentKind.FUNCTIONAL),
    ("rs", "人力资源和社会保障局", DepartmentKind.FUNCTIONAL),
    ("jy", "教育局", DepartmentKind.FUNCTIONAL),
    ("wj", "卫生健康委员会", DepartmentKind.FUNCTIONAL),
    ("sthj", "生态环境局", DepartmentKind.FUNCTIONAL),
    ("jt", "交通运输局", DepartmentKind.FUNCTIONAL),
    ("sw", "商务局", DepartmentKind.FUNCTIONAL),
    ("scjg", "市场监督管理局", DepartmentKind.FUNCTIONAL),
]
SHORT = {"纪委监委": "纪委监委", "医疗保障局": "医保局", "住房和城乡建设局": "住建局", "人力资源和社会保障局": "人社局",
         "卫生健康委员会": "卫健委", "市场监督管理局": "市场监管局"}


@dataclass(frozen=True)
class Role:
    group: str
    label: str  # Chinese; shown through gettext
    permissions: tuple[str, ...]


ROLES = [
    Role("intake_clerk", gettext_noop("受理员"), ("intake.log_letter", "intake.log_visit", "intake.log_call")),
    Role("hotline_operator", gettext_noop("话务员"), ("intake.log_call",)),
    Role("triage_officer", gettext_noop("分流员"), ("intake.view_report_content", "triage.triage_case")),
    Role("handler", gettext_noop("承办人"), ("intake.view_report_content",)),
    Role("department_head", gettext_noop("部门负责人"), ("intake.view_report_content", "intake.reveal_identity")),
    Role("leadership", gettext_noop("领导"), ()),
    Role("auditor", gettext_noop("审计员"), ("intake.view_accessrecord",)),
]

# username, role, department code, display name
DEMO_USERS = [
    ("clerk", "intake_clerk", "379900-xf", "市信访局受理员"),
    ("operator", "hotline_operator", "379900-xf", "12345话务员"),
    ("triage", "triage_officer", "379900-xf", "市信访局分流员"),
    ("handler", "handler", "379901-zj", "东城区住建局承办人"),
    ("head", "department_head", "379901-zj", "东城区住建局负责人"),
    ("leader", "leadership", "379900-gov", "市领导"),
    ("auditor", "auditor", "379900-jw", "市纪委监委审计员"),
]


def _government_name(area: Area) -> str:
    if area.level == AreaLevel.CITY or area.level == AreaLevel.COUNTY:
        return f"{area.full_name}人民政府" if area.level == AreaLevel.CITY else f"{area.name}人民政府"
    if area.level == AreaLevel.TOWNSHIP:
        return f"{area.name}办事处" if area.name.endswith("街道") else f"{area.name}人民政府"
    return f"{area.name}居民委员会" if area.name.endswith("社区") else f"{area.name}村民委员会"


def _add_places(nodes: list, parent: Area | None, parent_dept: Department | None, level: int) -> None:  # type: ignore[type-arg]
    for code, name, aliases, children in nodes:
        area, _ = Area.objects.update_or_create(
            code=code, defaults={"name": name, "level": level, "parent": parent, "aliases": aliases}
        )
        gov, _ = Department.objects.update_or_create(
            code=f"{code}-gov",
            defaults={"name": _government_name(area), "kind": DepartmentKind.GOVERNMENT, "area": area,
                      "parent": parent_dept, "level": level},
        )
        if level <= AreaLevel.COUNTY:
            for suffix, dept_name, kind in FUNCTIONAL:
                Department.objects.update_or_create(
                    code=f"{code}-{suffix}",
                    defaults={"name": f"{area.name}{dept_name}",
                              "short_name": SHORT.get(dept_name, dept_name), "kind": kind, "area": area,
                              "parent": gov, "level": level},
                )
        _add_places(children, area, gov, level + 1)


@transaction.atomic
def seed_organisation() -> None:
    """Create or update the demo place tree and departments (idempotent)."""
    _add_places(PLACES, None, None, AreaLevel.CITY)


@transaction.atomic
def seed_triage_defaults() -> None:
    """Default categories and term rules (the same data migration 0003 loads)."""
    from triage.defaults import CATEGORIES, MATTER_TERMS, URGENCY_TERMS, VIOLATION_TERMS
    from triage.models import Category, RuleKind, TermRule

    for name, suffix in CATEGORIES:
        # By the model's label: a default category an admin renamed is not added again.
        Category.objects.get_or_create(model_label=name, defaults={"name": name, "department_suffix": suffix})
    if TermRule.objects.exclude(kind=RuleKind.ROUTE).exists():
        return
    rows = [TermRule(kind=RuleKind.MATTER, label=label, term=term, weight=weight) for label, term, weight in MATTER_TERMS]
    rows += [TermRule(kind=RuleKind.VIOLATION, label=label, term=term, weight=weight) for label, term, weight in VIOLATION_TERMS]
    rows += [TermRule(kind=RuleKind.URGENCY, label="urgent", term=term) for term in URGENCY_TERMS]
    TermRule.objects.bulk_create(rows)


DEMO_ROUTE_RULES = [
    # Village affairs go to the village committee of the reported place (level 4).
    ("村务公开", "place_government", None),
    ("村集体", "place_government", None),
    # Street lighting and community matters to the street office (level 3).
    ("路灯", "place_government", None),
]


@transaction.atomic
def seed_route_rules() -> None:
    from triage.models import RuleKind, TermRule

    for term, label, department_code in DEMO_ROUTE_RULES:
        department = Department.objects.get(code=department_code) if department_code else None
        TermRule.objects.get_or_create(kind=RuleKind.ROUTE, term=term, defaults={"label": label, "department": department})


@transaction.atomic
def seed_roles() -> dict[str, Group]:
    groups = {}
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role.group)
        perms = []
        for dotted in role.permissions:
            app_label, codename = dotted.split(".")
            perms.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.set(perms)
        groups[role.group] = group
    return groups


@transaction.atomic
def seed_demo_users(password: str = DEMO_PASSWORD) -> list[tuple[str, str, str]]:
    """Demo logins for every role; returns (username, role label, department)."""
    groups = seed_roles()
    labels = {r.group: r.label for r in ROLES}
    user_model = get_user_model()
    out = []
    for username, role, dept_code, display in DEMO_USERS:
        user, created = user_model.objects.get_or_create(username=username, defaults={"first_name": display})
        if created:
            user.set_password(password)
            user.save()
        user.groups.set([groups[role]])
        department = Department.objects.get(code=dept_code)
        StaffProfile.objects.update_or_create(user=user, defaults={"department": department})
        out.append((username, labels[role], department.name))
    admin, created = user_model.objects.get_or_create(
        username="admin", defaults={"is_staff": True, "is_superuser": True, "first_name": "系统管理员"}
    )
    if created:
        admin.set_password(password)
        admin.save()
    StaffProfile.objects.update_or_create(user=admin, defaults={"department": Department.objects.get(code="379900-gov")})
    out.append(("admin", "系统管理员", "清河市人民政府"))
    # The demo logins that need a code and have not enrolled may enrol at any later run.
    demo_users = user_model.objects.filter(username__in=[username for username, *_rest in out])
    for pk in demo_users.values_list("pk", flat=True):
        staff_auth.open_enrolment_if_needed(pk)
    return out
