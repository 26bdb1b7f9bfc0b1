"""Admin: departments, categories, routing and term rules, classifier versions."""

from typing import Any

from django.contrib import admin

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


@admin.register(TermRule)
class TermRuleAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("kind", "term", "label", "weight", "department", "area", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("term", "label")


@admin.register(ClassifierModel)
class ClassifierModelAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("version", "is_active", "created_at", "n_train", "n_corrections", "training_seconds")
    exclude = ("artifact",)
    readonly_fields = ("version", "metrics", "data_hash", "n_train", "n_corrections", "training_seconds", "created_at")


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("__str__", "status", "department", "category", "urgent", "confidence", "created_at")
    list_filter = ("status", "urgent", "category")
    raw_id_fields = ("report", "duplicate_of", "department")
    readonly_fields = ("fingerprint", "fp_band0", "fp_band1", "fp_band2", "fp_band3", "triage_explanation")


admin.site.register(StaffProfile)
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
