"""Admin: webhook endpoints, preferences, the notification and delivery log, and the
dead-letter box with its retry action."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from notifications.models import DeadLetter, Delivery, Notification, NotificationPreference, WebhookEndpoint
from notifications.services import dead_letters_retry


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "url", "is_active", "kinds"]
    list_filter = ["is_active"]


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["user", "email", "in_app", "quiet_start", "quiet_end"]
    raw_id_fields = ["user"]


class DeliveryInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Delivery
    extra = 0
    can_delete = False
    readonly_fields = ["attempt", "at", "ok", "status_code", "error", "duration_ms"]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["created_at", "kind", "channel", "in_app", "recipient", "endpoint", "case", "status", "attempts",
                    "sent_at"]
    list_filter = ["status", "channel", "in_app", "kind"]
    search_fields = ["key"]
    raw_id_fields = ["recipient", "case", "department", "endpoint"]
    readonly_fields = [f.name for f in Notification._meta.fields]
    inlines = [DeliveryInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # notifications are made by the services, with their unique keys


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["created_at", "notification", "error", "retried_at", "retried_by"]
    list_filter = ["retried_at"]
    readonly_fields = ["notification", "created_at", "error", "retried_at", "retried_by"]
    actions = ["retry"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a dead letter is a send that failed for good, never typed in

    @admin.action(description=_("重新发送所选通知"))
    def retry(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        count = dead_letters_retry(dead_letter_ids=queryset.values_list("pk", flat=True), user=request.user)  # type: ignore[arg-type]
        self.message_user(request, _("已重新排队 %(n)d 条通知。") % {"n": count}, messages.SUCCESS)
