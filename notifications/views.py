"""The in-app notification centre (/staff/notifications/) and the user's settings."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from intake.validators import parse_id
from notifications import render as notice
from notifications.models import NotificationPreference
from notifications.services import inbox, notifications_mark_read


@login_required
def center(request: HttpRequest) -> HttpResponse:
    page = Paginator(inbox(request.user), 30).get_page(request.GET.get("page"))  # type: ignore[arg-type]
    # In the centre the case is a link on this site, not the e-mail's absolute address.
    # Following it marks the notice read (notifications-open).
    items = [
        (n, notice.render(n, link=False), reverse("notifications-open", args=[n.pk]) if n.case_id else "")
        for n in page.object_list
    ]
    return render(request, "notifications/center.html", {"page": page, "items": items})


@login_required
@require_GET
def open_case(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Follow a notice to its case: the notice counts as read (one's own notices only)."""
    n = inbox(request.user).filter(pk=notification_id, case__isnull=False).first()  # type: ignore[arg-type]
    if n is None or n.case_id is None:
        raise Http404
    notifications_mark_read(user=request.user, ids=[n.pk])  # type: ignore[arg-type]
    return redirect(notice.case_path(n.case_id))


@login_required
@require_POST
def mark_read(request: HttpRequest) -> HttpResponse:
    ids = [i for i in map(parse_id, request.POST.getlist("id")) if i is not None]
    notifications_mark_read(user=request.user, ids=ids or None)  # type: ignore[arg-type]
    return redirect("notifications")


class PreferenceForm(forms.ModelForm):  # type: ignore[type-arg]
    quiet_start = forms.TimeField(label=gettext_lazy("免打扰开始"), required=False,
                                  widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    quiet_end = forms.TimeField(label=gettext_lazy("免打扰结束"), required=False,
                                widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))

    class Meta:
        model = NotificationPreference
        fields = ["email", "in_app", "quiet_start", "quiet_end"]

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if self.has_error("quiet_start") or self.has_error("quiet_end"):
            return data  # a time that is not one already says so; "fill in both" would mislead
        if bool(data.get("quiet_start")) != bool(data.get("quiet_end")):
            raise forms.ValidationError(_("请同时填写免打扰的开始和结束时间，或都不填。"))
        return data


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    pref, _created = NotificationPreference.objects.get_or_create(user=request.user)  # type: ignore[misc]
    form = PreferenceForm(request.POST or None, instance=pref)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("通知设置已保存。"))
        return redirect("notifications")
    return render(request, "notifications/preferences.html", {"form": form}, status=400 if form.is_bound else 200)
