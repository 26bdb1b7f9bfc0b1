"""Admin: the place gazetteer and the audit of content access (reports stay encrypted)."""

from django.contrib import admin

from intake.models import AccessRecord, Area


@admin.register(Area)
class AreaAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("full_name", "code", "level", "aliases")
    list_filter = ("level",)
    search_fields = ("name", "code", "aliases")


@admin.register(AccessRecord)
class AccessRecordAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("at", "user", "kind", "report", "reason")
    list_filter = ("kind",)

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False
