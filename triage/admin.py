"""Admin: departments, categories, routing and term rules, classifier versions, and the
user page with the staff member's department next to their roles (groups)."""

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

from intake.models import MatterType
from triage.models import (
    CalendarOverride,
    Case,
    CaseEvent,
    Category,
    ClassifierModel,
    Correction,
    DeadlinePolicy,
    Department,
    ReplyTemplate,
    RuleKind,
    StaffProfile,
    TermRule,
)


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "code", "kind", "level", "area", "is_active")
    list_filter = ("kind", "level", "is_active")
    search_fields = ("name", "code")


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "department_suffix", "is_active")


PLACE_GOVERNMENT = "place_government"  # the 结论 of a routing rule that sends to the place's government (decide.py)


class TermRuleForm(forms.ModelForm):  # type: ignore[type-arg]
    """What 结论 means depends on the kind of rule; a rule that can never take effect is
    refused here rather than silently ignored by triage."""

    class Meta:
        model = TermRule
        fields = ("kind", "term", "label", "weight", "department", "area", "is_active")
        help_texts = {
            "label": _("事项类型规则：填事项类型代码（accusation 检举控告、complaint 投诉、help 求助、suggestion 建议、"
                       "consultation 咨询）；违纪类型规则：填违纪类型名称；分流规则：选择部门，或填 place_government "
                       "表示转交所涉地点的政府（乡镇/街道、村/社区）；紧急规则：可不填。"),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind, label, department = data.get("kind"), (data.get("label") or "").strip(), data.get("department")
        data["label"] = label
        if kind == RuleKind.MATTER and label not in MatterType.values:
            self.add_error("label", _("事项类型规则的结论必须是以下代码之一：%(codes)s。")
                           % {"codes": "、".join(MatterType.values)})
        elif kind == RuleKind.VIOLATION and not label:
            self.add_error("label", _("请填写违纪类型名称。"))
        elif kind == RuleKind.ROUTE:
            if department is None and label != PLACE_GOVERNMENT:
                self.add_error("department", _("分流规则须选择部门，或在结论中填写 place_government。"))
            elif department is not None and label == PLACE_GOVERNMENT:
                self.add_error("label", _("已选择部门时结论不能为 place_government，二者只能选其一。"))
        return data


@admin.register(TermRule)
class TermRuleAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = TermRuleForm
    list_display = ("kind", "term", "label", "weight", "department", "area", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("term", "label")


@admin.register(ClassifierModel)
class ClassifierModelAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("version", "is_active", "created_at", "n_train", "n_corrections", "training_seconds", "pruned_at")
    exclude = ("artifact",)
    readonly_fields = ("version", "metrics", "data_hash", "n_train", "n_corrections", "training_seconds", "created_at",
                       "pruned_at")


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("__str__", "status", "department", "category", "urgent", "confidence", "created_at")
    list_filter = ("status", "urgent", "category")
    raw_id_fields = ("report", "duplicate_of", "department")
    readonly_fields = ("fingerprint", "fp_band0", "fp_band1", "fp_band2", "fp_band3", "triage_explanation")


@admin.register(StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("user", "department")
    list_select_related = ("user", "department")
    search_fields = ("user__username", "department__name")


class StaffProfileInline(admin.StackedInline):  # type: ignore[type-arg]
    """A user's roles alone scope nothing: without a department a handler sees no cases."""

    model = StaffProfile
    can_delete = False


def _role_labels() -> dict[str, str]:
    from triage.demo import ROLES

    return {role.group: str(role.label) for role in ROLES}


class StaffUserAdmin(UserAdmin):  # type: ignore[type-arg]
    inlines = [StaffProfileInline]
    list_display = ("username", "first_name", "is_active", "is_staff", "department", "roles")
    list_select_related = ("staff_profile__department",)

    @admin.display(description=_("部门"))
    def department(self, user: Any) -> str:
        profile = getattr(user, "staff_profile", None)
        return str(profile.department) if profile else "—"

    @admin.display(description=_("角色"))
    def roles(self, user: Any) -> str:
        labels = _role_labels()
        return "、".join(sorted(labels.get(g.name, g.name) for g in user.groups.all()))

    def formfield_for_manytomany(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        """The group picker names the workflow roles as the rest of the console does."""
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name == "groups" and field is not None:
            labels = _role_labels()
            field.label_from_instance = lambda group: labels.get(group.name, group.name)  # type: ignore[method-assign,assignment]
        return field

    def get_queryset(self, request: Any) -> Any:
        return super().get_queryset(request).prefetch_related("groups")


User = get_user_model()
admin.site.unregister(User)
admin.site.register(User, StaffUserAdmin)
admin.site.register(Correction)


@admin.register(DeadlinePolicy)
class DeadlinePolicyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "kind", "channel", "matter_type", "priority", "amount", "unit", "max_extensions",
                    "max_extension_amount", "named_reporter_only", "is_active")
    list_filter = ("kind", "unit", "is_active")


@admin.register(CalendarOverride)
class CalendarOverrideAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("date", "is_workday", "note")
    date_hierarchy = "date"


@admin.register(CaseEvent)
class CaseEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only: the chain is append-only."""

    list_display = ("case", "seq", "kind", "from_status", "to_status", "actor", "at")
    list_filter = ("kind",)
    raw_id_fields = ("case", "actor")

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(ReplyTemplate)
class ReplyTemplateAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("title", "position", "is_active")
    list_editable = ("position", "is_active")
    search_fields = ("title",)
