"""Models the leadership dashboards, early warning and the public page read or write:
the working-day index (SQL counts working days with it), alerts and published summaries."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class WorkdayIndex(models.Model):
    """One calendar day: whether it is a working day and how many working days precede it
    in the table. Working days between two instants are then a difference of ordinals plus
    the working fractions of the end days, computed in SQL (see `triage.dashboard`).
    Rebuilt from `WorkCalendar` when a holiday override changes; never edited by hand."""

    date = models.DateField(primary_key=True)
    is_workday = models.BooleanField()
    ordinal = models.IntegerField()

    class Meta:
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {self.ordinal}{'' if self.is_workday else ' rest'}"


class AlertKind(models.TextChoices):
    PLACE = "place", _("地点反映量异常上升")
    DEPARTMENT = "department", _("部门反映量异常上升")
    TOPIC = "topic", _("话题异常上升")
    ACCUSED_UNIT = "accused_unit", _("同一单位被集中检举控告")


class Alert(models.Model):
    """实时预警: an unusual rise the scanner found. Counts and codes only, never content;
    one row per subject and week (re-scans update it)."""

    kind = models.CharField(_("预警类型"), max_length=16, choices=AlertKind.choices)
    # What rose: an area code, a department id, a topic term (one that occurs in ≥ 5 reports).
    subject = models.CharField(_("对象"), max_length=60)
    subject_label = models.CharField(_("对象名称"), max_length=120)
    week_start = models.DateField(_("统计周"))
    count = models.PositiveIntegerField(_("本期数量"))
    baseline = models.FloatField(_("此前周均"))
    raised_at = models.DateTimeField(default=timezone.now, db_index=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-raised_at"]
        verbose_name = _("预警")
        verbose_name_plural = _("预警")
        constraints = [
            models.UniqueConstraint(fields=["kind", "subject", "week_start"], name="one_alert_per_subject_week")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.subject_label} {self.count}"


class PublishedCase(models.Model):
    """A case summary written for publication (典型案例 / 曝光), shown on the public page once a
    head publishes it. The text is checked to hold no identity before it is saved."""

    case = models.ForeignKey("triage.Case", on_delete=models.PROTECT, related_name="publications")
    department = models.ForeignKey("triage.Department", on_delete=models.PROTECT, related_name="publications",
                                   verbose_name=_("部门"))
    title = models.CharField(_("标题"), max_length=80)
    summary = models.TextField(_("摘要"), max_length=2000)
    published_at = models.DateTimeField(_("发布时间"), null=True, blank=True, db_index=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-published_at", "-created_at"]
        verbose_name = _("公开案例")
        verbose_name_plural = _("公开案例")

    def __str__(self) -> str:
        return self.title
