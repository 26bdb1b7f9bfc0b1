"""Admin building blocks the apps share: the read-only record admin, and the page that
shows a new secret once (an API token, a webhook signing key) while the database keeps
only a hash or a sealed copy."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _

Text = str | Promise


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """A record kept by the services: shown, never typed in, edited or deleted here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def shown_once(request: HttpRequest, model_admin: admin.ModelAdmin, *, title: Text, intro: Text,  # type: ignore[type-arg]
               secrets: list[tuple[str, str]], notes: list[Text]) -> TemplateResponse:
    """The page: `secrets` as (what, value) rows, then the notes. Admin views are sent with
    no-store (never_cache), so the browser does not keep it either."""
    opts = model_admin.opts
    return TemplateResponse(request, "admin/shown_once.html", {
        **model_admin.admin_site.each_context(request), "opts": opts, "title": title, "intro": intro,
        "secrets": secrets, "notes": [_("这些内容只显示这一次：离开此页后，任何人（包括管理员）都无法再查看。"), *notes],
        "back_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
    })
