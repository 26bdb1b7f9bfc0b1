"""Admin: the place gazetteer and the audit of content access (reports stay encrypted)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from intake.models import AccessRecord, Area


@admin.register(Area)
class AreaAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("full_name", "code", "level", "aliases")
    list_filter = ("level",)
    search_fields = ("name", "code", "aliases")


@admin.register(AccessRecord)
class AccessRecordAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Written only by the services that show content or an identity: never typed in,
    edited or deleted here (a hand-made record would stand in the log as a real view).
    The auditor's desk (/staff/audit/) is where the log is read by case number."""

    list_display = ("when", "viewer", "what", "reason_")
    list_filter = ("kind",)
    list_select_related = ("user",)
    search_fields = ("user__username",)
    fields = ("when", "viewer", "what", "reason_")
    readonly_fields = fields

    @admin.display(description=_("时间"), ordering="at")
    def when(self, record: AccessRecord) -> Any:
        return record.at

    @admin.display(description=_("查阅人"), ordering="user__username")
    def viewer(self, record: AccessRecord) -> str:
        return record.user.get_username()

    @admin.display(description=_("类型"), ordering="kind")
    def what(self, record: AccessRecord) -> str:
        return record.get_kind_display()

    @admin.display(description=_("理由"))
    def reason_(self, record: AccessRecord) -> str:
        return record.reason or "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
