"""Staff sign-in: password (throttled per username), then a TOTP code for the roles that
need one (`intake.staff_auth.otp_required`), with enrolment of the authenticator on the
first sign-in."""

from __future__ import annotations

import base64
import io
from typing import Any

import django_otp
from django import forms
from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods
from django_otp.plugins.otp_totp.models import TOTPDevice

from intake import staff_auth
from intake.validators import normalize_digits

LOCKED_MESSAGE = gettext_lazy("登录失败次数过多，该账号已暂时锁定，请15分钟后再试。")


class StaffLoginForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": gettext_lazy("用户名或密码不正确。"),
        "locked": LOCKED_MESSAGE,
    }

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        # Checked before the password is: a locked account gets no answer about it.
        if username and staff_auth.login_locked(username):
            raise forms.ValidationError(self.error_messages["locked"], code="locked")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            if username and staff_auth.login_failed(username) >= settings.LOGIN_MAX_FAILURES:
                raise forms.ValidationError(self.error_messages["locked"], code="locked") from None
            raise
        staff_auth.login_succeeded(username)
        return cleaned


class StaffLoginView(auth_views.LoginView):
    template_name = "intake/staff/login.html"
    form_class = StaffLoginForm
    redirect_authenticated_user = False

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)  # login(); intake.apps marks the session's start
        user = self.request.user
        if staff_auth.otp_required(user):
            step = "otp-setup" if not _confirmed_device(user) else "otp-verify"
            return _to_step(step, self.get_success_url())
        return response


class TokenForm(forms.Form):
    token = forms.CharField(label=gettext_lazy("动态验证码"), min_length=6, max_length=8,
                            widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                                          "autofocus": True}))

    def clean_token(self) -> str:
        token = normalize_digits(self.cleaned_data["token"])
        if not (token.isascii() and token.isdigit()):
            raise forms.ValidationError(_("验证码应为6位数字。"))
        return token


def _confirmed_device(user: Any) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


# The unconfirmed authenticator this session is enrolling. Each session gets its own seed:
# someone else signing in with the same password during the window sees a different one,
# and the owner's is deleted with the others only when one of them is confirmed.
ENROL_DEVICE_KEY = "qf_enrol_device"
_PENDING_KEPT = 5  # unconfirmed devices kept per user (the oldest go first)


def _session_device(request: HttpRequest) -> TOTPDevice:
    user = request.user
    pk = request.session.get(ENROL_DEVICE_KEY)
    device = TOTPDevice.objects.filter(pk=pk, user=user, confirmed=False).first() if pk else None
    if device is None:
        older = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").values_list("pk", flat=True)
        TOTPDevice.objects.filter(pk__in=list(older[_PENDING_KEPT - 1:])).delete()
        device = TOTPDevice.objects.create(user=user, name=_("身份验证器"), confirmed=False)  # type: ignore[misc]
        request.session[ENROL_DEVICE_KEY] = device.pk
    return device


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return str(settings.LOGIN_REDIRECT_URL)


def _to_step(name: str, next_url: str) -> HttpResponseRedirect:
    from urllib.parse import urlencode

    from django.urls import reverse

    return HttpResponseRedirect(f"{reverse(name)}?{urlencode({'next': next_url})}")


def _token_failed(request: HttpRequest, form: TokenForm) -> HttpResponse | None:
    """Count a wrong code against the username; at the limit the session ends."""
    username = request.user.get_username()
    if staff_auth.login_failed(username) >= settings.LOGIN_MAX_FAILURES:
        logout(request)
        return render(request, "intake/staff/login.html",
                      {"form": StaffLoginForm(request), "locked": LOCKED_MESSAGE}, status=403)
    form.add_error("token", _("验证码不正确或已使用，请输入身份验证器上的最新验证码。"))
    return None


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def otp_verify(request: HttpRequest) -> HttpResponse:
    """The second step of every sign-in of a user who needs a code."""
    device = _confirmed_device(request.user)
    next_url = _safe_next(request)
    if device is None:
        return _to_step("otp-setup", next_url)
    if request.user.is_verified():  # type: ignore[union-attr]
        return redirect(next_url)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if staff_auth.login_locked(request.user.get_username()):
            logout(request)
            return render(request, "intake/staff/login.html",
                          {"form": StaffLoginForm(request), "locked": LOCKED_MESSAGE}, status=403)
        if device.verify_token(form.cleaned_data["token"]):
            django_otp.login(request, device)
            staff_auth.login_succeeded(request.user.get_username())
            return redirect(next_url)
        locked = _token_failed(request, form)
        if locked is not None:
            return locked
    return render(request, "intake/staff/otp_verify.html", {"form": form, "next": next_url})


def _qr_data_uri(url: str) -> str:
    """The otpauth:// URL as an SVG QR code, drawn here (nothing is sent anywhere)."""
    from django_otp.qr import write_qrcode_image

    out = io.BytesIO()
    write_qrcode_image(url, out)
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode()


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def otp_setup(request: HttpRequest) -> HttpResponse:
    """First sign-in of a user who needs a code: add the authenticator, confirm one code.
    Only inside the user's enrolment window (intake.models.EnrolmentWindow)."""
    next_url = _safe_next(request)
    user = request.user
    if not user.is_authenticated:  # login_required has sent everyone else away
        return redirect(settings.LOGIN_URL)
    if _confirmed_device(user) is not None:
        # Replacing an enrolled authenticator is an administrator's job (admin site), so a
        # stolen password alone can never register the thief's own device.
        return _to_step("otp-verify", next_url)
    open_until = staff_auth.enrolment_open_until(user)
    if open_until is None:
        return render(request, "intake/staff/otp_closed.html", status=403)
    device = _session_device(request)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["token"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            staff_auth.enrolment_done(user)
            request.session.pop(ENROL_DEVICE_KEY, None)
            django_otp.login(request, device)
            staff_auth.login_succeeded(user.get_username())
            return redirect(next_url)
        locked = _token_failed(request, form)
        if locked is not None:
            return locked
    secret = base64.b32encode(device.bin_key).decode()
    context = {
        "form": form, "next": next_url, "qr": _qr_data_uri(device.config_url), "open_until": open_until,
        "secret": " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)),
    }
    return render(request, "intake/staff/otp_setup.html", context)
