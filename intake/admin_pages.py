"""An admin page that shows a new secret once (an API token, a webhook signing key): the
database keeps only a hash or a sealed copy, and no later page shows it again."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _

Text = str | Promise


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
