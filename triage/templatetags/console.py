"""Template filters of the handler console."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def time_left(value: timedelta | None) -> str:
    """A duration as days and hours ("2天5小时"), or how long overdue ("已超 1天3小时")."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    overdue = seconds < 0
    seconds = abs(seconds)
    days, hours, minutes = seconds // 86400, seconds % 86400 // 3600, seconds % 3600 // 60
    if days:
        text = _("%(d)d天%(h)d小时") % {"d": days, "h": hours}
    elif hours:
        text = _("%(h)d小时%(m)d分") % {"h": hours, "m": minutes}
    else:
        text = _("%(m)d分钟") % {"m": minutes}
    return _("已超 %(t)s") % {"t": text} if overdue else text


@register.filter
def workdays(value: float | None) -> str:
    """Whole working days left besides the rest of today ("合 9 个工作日"): the limits are
    counted in them, and a holiday makes them fewer than the wall days."""
    if value is None:
        return ""
    if value < 1:
        return _("不足 1 个工作日")
    return _("合 %(n)d 个工作日") % {"n": int(value)}


@register.filter
def waited(value: float | None) -> str:
    """How long an open case without a running clock has waited, in working days."""
    if value is None:
        return ""
    if value < 1:
        return _("已等待不足 1 个工作日")
    return _("已等待 %(n)d 个工作日") % {"n": int(value)}
