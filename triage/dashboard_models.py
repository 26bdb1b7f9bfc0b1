"""Models the leadership dashboards, early warning and the public page read or write:
the working-day index (SQL counts working days with it), alerts and published summaries."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Coalesce, Now
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


# The deadline kinds the dashboards rate, as column prefixes of `CaseFigures`
# (acceptance_notice, handle, transfer).
FIGURE_KINDS = (("acceptance_notice", "notice"), ("handle", "handle"), ("transfer", "transfer"))


# What a drill-down reads of a CaseFigures row (selectors.figure_flag_q): the case, the
# dimensions, and the flags the case row does not hold itself (clocks, ratings, reviews).
DRILL_COLUMNS = ["case_id", "department_id", "channel", "category_id", "matter_type", "is_primary", "rating",
                 "review_requested", "extensions",
                 *(f"{p}_{c}" for _k, p in FIGURE_KINDS for c in ("late", "ok", "due", "paused_late"))]


class CaseFigures(models.Model):
    """What the dashboards count about one case (not RECEIVED), in one narrow row: the
    filter dimensions, the flags each figure counts, the deadline outcome per rated kind,
    the working-day durations and the classifier terms. Maintained from the case tables
    (`triage.dashboard_summary`): database triggers queue every changed case in
    `FiguresDirty`, a refresh recomputes those rows; `manage.py dashboard_rebuild` recomputes
    all. Nothing here is content: the same fields the case row holds in the clear.

    Clock outcomes that depend on "now" are stored as the instant they turn late (the due
    time of a running clock), so a figure as of any time is still one aggregate."""

    case_id = models.BigIntegerField(primary_key=True)
    created_at = models.DateTimeField(db_index=True)
    department_id = models.IntegerField(null=True)
    channel = models.CharField(max_length=10)
    category_id = models.IntegerField(null=True)
    matter_type = models.CharField(max_length=16)
    is_primary = models.BooleanField()  # not a split part: ratings and topics count once per report
    is_open = models.BooleanField()  # status in OPEN_STATES (the backlog)
    due_at = models.DateTimeField(null=True)
    suspended_at = models.DateTimeField(null=True)
    closed_at = models.DateTimeField(null=True, db_index=True)
    supervised = models.BooleanField()
    routed = models.BooleanField()
    misrouted = models.BooleanField()
    reopened = models.BooleanField()
    duplicate = models.BooleanField()
    review_requested = models.BooleanField()
    extensions = models.IntegerField()  # extensions granted on the case's clocks (not cancelled)
    clocks_ok = models.IntegerField()  # clocks of the rated kinds met in time
    clocks_late = models.IntegerField()  # ... met after their due time
    # Per rated kind: a clock met late; one met in time; the running clock's due time; a
    # clock paused after its due time (late for as long as it stays paused).
    notice_late = models.BooleanField()
    notice_ok = models.BooleanField()
    notice_due = models.DateTimeField(null=True)
    notice_paused_late = models.BooleanField()
    handle_late = models.BooleanField()
    handle_ok = models.BooleanField()
    handle_due = models.DateTimeField(null=True)
    handle_paused_late = models.BooleanField()
    transfer_late = models.BooleanField()
    transfer_ok = models.BooleanField()
    transfer_due = models.DateTimeField(null=True)
    transfer_paused_late = models.BooleanField()
    rating = models.CharField(max_length=12, blank=True)  # the report's rating, on its primary case only
    rated_at = models.DateTimeField(null=True, db_index=True)
    # Working days from receipt to acknowledgement, first reply and (first) close.
    days_to_acknowledge = models.FloatField(null=True)
    days_to_first_reply = models.FloatField(null=True)
    days_to_close = models.FloatField(null=True)
    terms = models.JSONField(null=True)  # classifier terms (frequent words), primary cases only

    class Meta:
        indexes = [
            models.Index(fields=["department_id", "created_at"], name="figures_department_created"),
            # The backlog (open cases, any age) and the clocks running now: read from the index alone.
            models.Index(fields=["department_id", "created_at"], condition=models.Q(is_open=True), name="figures_open",
                         include=["channel", "category_id", "matter_type", "due_at", "suspended_at"]),
            models.Index(fields=["created_at"], name="figures_running",
                         condition=models.Q(notice_due__isnull=False) | models.Q(handle_due__isnull=False)
                         | models.Q(transfer_due__isnull=False),
                         include=["department_id", "channel", "category_id", "matter_type",
                                  *(f"{p}_{c}" for _k, p in FIGURE_KINDS for c in ("late", "ok", "due", "paused_late"))]),
            # Topics of a week: the primary cases that have terms, from the index alone.
            models.Index(fields=["created_at"], name="figures_terms",
                         condition=models.Q(is_primary=True, terms__isnull=False),
                         include=["department_id", "channel", "category_id", "matter_type", "terms"]),
            # Percentiles of a period: an index-only scan.
            models.Index(fields=["created_at"], name="figures_durations",
                         include=["department_id", "channel", "category_id", "matter_type", "days_to_acknowledge",
                                  "days_to_first_reply", "days_to_close"]),
            # The console's drill-down from a figure (selectors.figure_flag_q): the cases of a
            # period with a flag, from the index alone, instead of the case rows.
            models.Index(fields=["created_at"], name="figures_drill", include=DRILL_COLUMNS),
        ]

    def __str__(self) -> str:
        return f"figures of case {self.case_id}"


class FiguresDirty(models.Model):
    """A case whose `CaseFigures` row is out of date: written by database triggers on the
    case, deadline, feedback and review-request tables, consumed by the refresh."""

    id = models.BigAutoField(primary_key=True)
    case_id = models.BigIntegerField()
    queued_at = models.DateTimeField(db_default=Now())

    def __str__(self) -> str:
        return f"case {self.case_id} queued {self.queued_at}"


class FiguresDay(models.Model):
    """CaseFigures summed per local day, department, channel, category and matter type: the
    counts of the cases received that day, and the cases closed and the ratings given that
    day (the weekly trend). Clock outcomes here are the settled ones (a clock met, or paused
    past due); a clock still running is judged against now from CaseFigures. Recomputed for
    the days a refresh touched (`triage.dashboard_figures`)."""

    day = models.DateField()
    # False: summed over channel, category and matter type (those stored blank).
    detail = models.BooleanField()
    department_id = models.IntegerField(null=True)
    channel = models.CharField(max_length=10)
    category_id = models.IntegerField(null=True)
    matter_type = models.CharField(max_length=16)
    # Cases received this day.
    received = models.IntegerField()
    closed = models.IntegerField()
    supervised = models.IntegerField()
    routed = models.IntegerField()
    misrouted = models.IntegerField()
    reopened = models.IntegerField()
    duplicate = models.IntegerField()
    review_requested = models.IntegerField()
    extensions = models.IntegerField()
    extended = models.IntegerField()
    clocks_ok = models.IntegerField()
    clocks_late = models.IntegerField()  # met late, or paused past due
    notice_late = models.IntegerField()  # cases whose clocks of the kind count late whatever the time
    notice_ok = models.IntegerField()  # ... on time, with no clock of the kind still running
    handle_late = models.IntegerField()
    handle_ok = models.IntegerField()
    transfer_late = models.IntegerField()
    transfer_ok = models.IntegerField()
    satisfied = models.IntegerField()
    basically = models.IntegerField()
    unsatisfied = models.IntegerField()
    # Cases closed this day, and ratings given this day (and how many satisfied or basically).
    closed_on = models.IntegerField()
    rated_on = models.IntegerField()
    rated_good_on = models.IntegerField()

    class Meta:
        # The whole key (NULL as 0, so equality finds a group): the refresh's moves look each
        # changed group up by it; a page reads a range of days of one detail level.
        indexes = [models.Index(F("detail"), F("day"), Coalesce(F("department_id"), Value(0)), F("channel"),
                                Coalesce(F("category_id"), Value(0)), F("matter_type"), name="figuresday_key")]

    def __str__(self) -> str:
        return f"{self.day} {self.department_id}"


class FiguresVersion(models.Model):
    """One row: a token replaced in the same transaction as any change to the figures, so a
    result computed from them can be cached under it and is exact while it is current."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    token = models.CharField(max_length=32)

    def __str__(self) -> str:
        return self.token
