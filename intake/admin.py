"""Admin: the place gazetteer, the audit of content access (reports stay encrypted), staff
authenticators (removed, never read) and API tokens (shown once, then only their hash is kept)."""

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.timezone import localtime, now
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from intake.admin_pages import ReadOnlyAdmin, shown_once
from intake.models import AccessRecord, Area, EnrolmentWindow, ServiceToken, StaffAuthenticator
from intake.staff_auth import has_authenticator, issue_key, open_enrolment, token_refusal


@admin.register(Area)
class AreaAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("full_name", "code", "level", "aliases")
    list_filter = ("level",)
    search_fields = ("name", "code", "aliases")


@admin.register(AccessRecord)
class AccessRecordAdmin(ReadOnlyAdmin):
    """Written only by the services that show content or an identity: never typed in,
    edited or deleted here (a hand-made record would stand in the log as a real view).
    The auditor's desk (/staff/audit/) is where the log is read by case number."""

    list_display = ("at", "user", "kind", "reason_")
    list_filter = ("kind",)
    list_select_related = ("user",)
    search_fields = ("user__username",)
    fields = list_display

    @admin.display(description=_("理由"))
    def reason_(self, record: AccessRecord) -> str:
        return record.reason or "—"


# django-otp's device admin shows each seed in hex and serves a QR code of it: whoever can
# open it could copy a department head's second factor. It is replaced by the list below.
if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)


@admin.register(StaffAuthenticator)
class StaffAuthenticatorAdmin(ReadOnlyAdmin):
    """Who has an authenticator and when it was last used. Enrolment is the user's own
    (at sign-in); when a phone is lost or replaced the administrator deletes the device,
    which opens the user's enrolment window, and the user adds a new one at the next
    sign-in. The removal is in the auditor's change record (/staff/audit/changes/) like
    any other admin change."""

    list_display = ("owner", "device_name", "in_use", "added", "last_used")
    list_filter = ("confirmed",)
    list_select_related = ("user",)
    search_fields = ("user__username", "user__first_name")
    fields = list_display
    readonly_fields = fields
    ordering = ("user__username", "pk")

    @admin.display(description=_("用户"), ordering="user__username")
    def owner(self, device: StaffAuthenticator) -> str:
        return str(device.user.get_username())

    @admin.display(description=_("名称"))
    def device_name(self, device: StaffAuthenticator) -> str:
        return str(device.name)

    @admin.display(description=_("已启用"), boolean=True, ordering="confirmed")
    def in_use(self, device: StaffAuthenticator) -> bool:
        return bool(device.confirmed)

    @admin.display(description=_("添加时间"), ordering="created_at")
    def added(self, device: StaffAuthenticator) -> Any:
        return device.created_at

    @admin.display(description=_("最近使用"), ordering="last_used_at")
    def last_used(self, device: StaffAuthenticator) -> Any:
        return device.last_used_at

    def get_queryset(self, request: HttpRequest) -> QuerySet[StaffAuthenticator]:
        return super().get_queryset(request).defer("key")

    has_delete_permission = admin.ModelAdmin.has_delete_permission  # removing a lost device is its one action

    def delete_model(self, request: HttpRequest, obj: StaffAuthenticator) -> None:
        super().delete_model(request, obj)
        self._reopen(request, [obj])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[StaffAuthenticator]) -> None:
        devices = list(queryset.select_related("user"))
        super().delete_queryset(request, queryset)
        self._reopen(request, devices)

    def _reopen(self, request: HttpRequest, devices: list[StaffAuthenticator]) -> None:
        """Whoever lost their last authenticator may enrol a new one for the window's length."""
        users = {device.user_id: device.user for device in devices if device.confirmed}
        for user in users.values():
            if not has_authenticator(user):
                until = open_enrolment(user)
                self.message_user(request, _("%(user)s 可在 %(until)s 前登录并绑定新的身份验证器。") % {
                    "user": user.get_username(), "until": localtime(until).strftime("%Y-%m-%d %H:%M")})


@admin.register(EnrolmentWindow)
class EnrolmentWindowAdmin(ReadOnlyAdmin):
    """Who may enrol an authenticator with the password alone, and until when. Windows open
    by themselves (a new account that needs a code, a role that needs one, a removed
    device) or through the user list's action 开放身份验证器登记; deleting one closes it."""

    list_display = ("user", "opened_at", "open_until", "is_open")
    list_select_related = ("user",)
    search_fields = ("user__username", "user__first_name")
    fields = list_display
    readonly_fields = fields

    @admin.display(description=_("可登记"), boolean=True)
    def is_open(self, window: EnrolmentWindow) -> bool:
        return bool(window.open_until > now())

    has_delete_permission = admin.ModelAdmin.has_delete_permission  # closing a window early


class ServiceTokenForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = ServiceToken
        fields = ("user", "name")
        help_texts = {"user": _("对接系统专用的账号（不须两步验证的账号）。")}

    def clean_user(self) -> Any:
        user = self.cleaned_data.get("user")
        refusal = token_refusal(user) if user is not None else None
        if refusal:
            raise forms.ValidationError(refusal)
        return user


@admin.register(ServiceToken)
class ServiceTokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """A new token is shown once, on the page after 保存, and never again: the database
    keeps a keyed hash. A lost or leaked token is deleted (revoked) and a new one made."""

    form = ServiceTokenForm
    list_display = ("name", "user", "prefix", "created_at", "last_used_at")
    list_select_related = ("user",)
    search_fields = ("name", "user__username", "prefix")
    readonly_fields = ("prefix", "created_at", "last_used_at")

    def get_fields(self, request: HttpRequest, obj: ServiceToken | None = None) -> Any:
        return ("user", "name") if obj is None else ("name", "user", "prefix", "created_at", "last_used_at")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ServiceToken, form: Any, change: bool) -> None:
        obj._plain_key = issue_key(obj)  # type: ignore[attr-defined]  # for response_add, never stored
        super().save_model(request, obj, form, change)

    def response_add(self, request: HttpRequest, obj: ServiceToken, post_url_continue: str | None = None) -> HttpResponse:
        return shown_once(
            request, self, title=_("接口令牌已建立"),
            intro=_("已为账号 %(user)s 建立接口令牌“%(name)s”。") % {"user": obj.user.get_username(), "name": obj.name},
            secrets=[(str(_("令牌")), obj.__dict__.pop("_plain_key"))],
            notes=[_("请现在把它复制到对接系统的设置中（请求头 Authorization: Token 令牌）。系统只保存它的摘要；"
                     "遗失或泄露时，删除这个令牌并新建一个。")],
        )
