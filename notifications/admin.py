"""Admin: webhook endpoints, preferences, the notification and delivery log, and the
dead-letter box with its retry action."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from intake.admin_pages import Text, shown_once
from notifications.models import DeadLetter, Delivery, Notification, NotificationPreference, WebhookEndpoint
from notifications.services import dead_letters_retry


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The signing key is made here and shown once, when the endpoint is added or its key
    replaced (action 更换签名密钥); it is stored sealed and no page shows it again."""

    list_display = ["name", "url", "is_active", "kinds"]
    list_filter = ["is_active"]
    fields = ["name", "url", "is_active", "kinds"]
    actions = ["replace_secret"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # a typed host without scheme

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool) -> None:
        if not change:
            obj._new_secret = obj.new_secret()  # type: ignore[attr-defined]  # for response_add, never stored
        super().save_model(request, obj, form, change)

    def response_add(self, request: HttpRequest, obj: WebhookEndpoint, post_url_continue: str | None = None) -> HttpResponse:
        return _secrets_page(request, self, [(obj, obj.__dict__.pop("_new_secret"))], title=_("Webhook 接收端已添加"))

    @admin.action(description=_("更换签名密钥"), permissions=["change"])
    def replace_secret(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> HttpResponse:
        shown = []
        for endpoint in queryset:
            secret = endpoint.new_secret()
            endpoint.save(update_fields=["secret_sealed"])
            self.log_change(request, endpoint, str(_("更换签名密钥")))
            shown.append((endpoint, secret))
        return _secrets_page(request, self, shown, title=_("已更换签名密钥"))


def _secrets_page(request: HttpRequest, model_admin: WebhookEndpointAdmin, shown: list[tuple[WebhookEndpoint, str]],
                  *, title: Text) -> HttpResponse:
    return shown_once(
        request, model_admin, title=title, intro=_("以下接收端的签名密钥："),
        secrets=[(f"{endpoint.name}（{endpoint.url}）", secret) for endpoint, secret in shown],
        notes=[_("请现在把密钥交给接收方，填入其验签设置（见 README“Receiving webhooks”）。"
                 "更换后，旧密钥签名的通知不再通过验签。")],
    )


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
