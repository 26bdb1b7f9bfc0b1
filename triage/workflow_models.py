"""Models of the case workflow: the hash-chained event log, deadline policies, running
deadlines and the working-day calendar overrides. Imported by `triage.models`."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from intake.validators import check_year


class Priority(models.TextChoices):
    EMERGENCY = "emergency", _("特急")
    URGENT = "urgent", _("紧急")
    ORDINARY = "ordinary", _("一般")
    COMPLEX = "complex", _("复杂")


class DeadlineKind(models.TextChoices):
    TRANSFER = "transfer", _("登记交办")
    ACCEPTANCE_NOTICE = "acceptance_notice", _("受理告知")
    HANDLE = "handle", _("办理")
    REVIEW = "review", _("复查/复核")


class DeadlineUnit(models.TextChoices):
    WORKING_DAYS = "working_days", _("工作日")
    CALENDAR_DAYS = "calendar_days", _("自然日")
    HOURS = "hours", _("小时")


class CaseEvent(models.Model):
    """One step of a case, in a per-case hash chain (see `triage.audit`).

    Rows are append-only: nothing in the code updates or deletes them, on PostgreSQL a
    trigger refuses both (migration 0011), and `manage.py verify_audit` finds any row that
    was changed anyway.
    """

    case = models.ForeignKey("triage.Case", on_delete=models.PROTECT, related_name="events", verbose_name=_("案件"))
    # 1, 2, 3, … within the case; the global order of writing is the id.
    seq = models.PositiveIntegerField(_("序号"))
    kind = models.CharField(_("动作"), max_length=32)
    from_status = models.CharField(_("原状态"), max_length=20, blank=True)
    to_status = models.CharField(_("新状态"), max_length=20, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("操作人")
    )
    # "staff", "citizen" or "system": who acted when there is no staff user.
    actor_kind = models.CharField(_("操作方"), max_length=10, default="staff")
    # Ids, numbers and codes only: never report content, reasons' text or identity.
    payload = models.JSONField(_("内容"), default=dict, blank=True)
    at = models.DateTimeField(_("时间"), default=timezone.now)
    prev_hash = models.CharField(_("前一事件哈希"), max_length=64)
    hash = models.CharField(_("哈希"), max_length=64)

    class Meta:
        ordering = ["case_id", "seq"]
        verbose_name = _("案件事件")
        verbose_name_plural = _("案件事件")
        constraints = [models.UniqueConstraint(fields=["case", "seq"], name="case_event_seq_unique")]

    def __str__(self) -> str:
        return f"{self.case_id}#{self.seq} {self.kind}"


class ConfigChainHead(models.Model):
    """The head of the hash chain over the admin's change record (one row): appends lock
    it, and a deleted last link no longer matches it (triage/audit.py)."""

    seq = models.PositiveIntegerField(default=0)
    head = models.CharField(max_length=64, default="0" * 64)


class ConfigChangeSeal(models.Model):
    """One link of that chain: the hash of one admin LogEntry (who, when, what object, which
    fields) and of the link before it. No foreign key: a deleted entry leaves its link."""

    seq = models.PositiveIntegerField(unique=True)
    entry_id = models.BigIntegerField(unique=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]


class AuditRun(models.Model):
    """One verification of every case's event chain by the worker: asked for on the
    auditor's desk (too many cases to check within a request) or nightly by beat. Holds
    counts, case numbers, event ids and the heads digest only."""

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cases = models.PositiveIntegerField(default=0)
    events = models.PositiveBigIntegerField(default=0)
    broken_cases = models.PositiveIntegerField(default=0)
    config_changes = models.PositiveIntegerField(default=0)  # admin change-record entries checked
    config_broken = models.PositiveIntegerField(default=0)  # of those, edited, deleted or inserted ones
    problems = models.JSONField(default=list, blank=True)  # the first problems, as sentences naming numbers
    heads_digest = models.CharField(max_length=64, blank=True)
    failure = models.CharField(max_length=200, blank=True)  # why it did not finish: BROKER_DOWN or an error's class

    BROKER_DOWN = "broker_down"

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("办理记录全面校验")
        verbose_name_plural = _("办理记录全面校验")

    def __str__(self) -> str:
        return f"{self.requested_at:%Y-%m-%d %H:%M} {self.state}"

    @property
    def state(self) -> str:
        if self.failure:
            return "failed"
        if self.finished_at is None:
            return "running" if self.started_at else "queued"
        return "intact" if self.broken_cases == 0 and self.config_broken == 0 else "broken"


class DeadlinePolicy(models.Model):
    """How long one step may take, for cases matching channel, matter type and priority
    (blank = any). The most specific active row wins (see `triage.deadlines`)."""

    name = models.CharField(_("依据"), max_length=60)
    kind = models.CharField(_("期限类型"), max_length=20, choices=DeadlineKind.choices)
    channel = models.CharField(_("渠道"), max_length=10, blank=True)
    matter_type = models.CharField(_("事项类型"), max_length=16, blank=True)
    priority = models.CharField(_("紧急程度"), max_length=10, choices=Priority.choices, blank=True)
    amount = models.PositiveIntegerField(_("时限"))
    unit = models.CharField(_("单位"), max_length=14, choices=DeadlineUnit.choices, default=DeadlineUnit.WORKING_DAYS)
    named_reporter_only = models.BooleanField(_("仅对实名反映人"), default=False)
    max_extensions = models.PositiveSmallIntegerField(_("可延期次数"), default=0)
    max_extension_amount = models.PositiveIntegerField(_("每次延期上限"), default=0, help_text=_("与时限同一单位"))
    is_active = models.BooleanField(_("启用"), default=True)
    note = models.CharField(_("说明"), max_length=200, blank=True)

    class Meta:
        ordering = ["kind", "channel", "matter_type", "priority"]
        verbose_name = _("期限规则")
        verbose_name_plural = _("期限规则")

    def __str__(self) -> str:
        return f"{self.name}: {self.get_kind_display()} {self.amount} {self.get_unit_display()}"


class Deadline(models.Model):
    """A running (or finished) clock of one kind on one case."""

    case = models.ForeignKey("triage.Case", on_delete=models.CASCADE, related_name="deadlines")
    kind = models.CharField(_("期限类型"), max_length=20, choices=DeadlineKind.choices)
    policy = models.ForeignKey(DeadlinePolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # A copy of the policy's terms when the clock started: later policy edits do not move it.
    amount = models.PositiveIntegerField()
    unit = models.CharField(max_length=14, choices=DeadlineUnit.choices)
    started_at = models.DateTimeField()
    due_at = models.DateTimeField(_("到期时间"), db_index=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    # Measured in the unit's own clock: working seconds for working days, else wall seconds.
    paused_seconds = models.BigIntegerField(default=0)
    extensions = models.PositiveSmallIntegerField(default=0)
    extended_amount = models.PositiveIntegerField(default=0)
    requested_extension = models.PositiveIntegerField(null=True, blank=True)
    met_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at"]
        verbose_name = _("期限")
        verbose_name_plural = _("期限")
        constraints = [
            models.UniqueConstraint(
                fields=["case", "kind"],
                condition=models.Q(met_at__isnull=True, cancelled_at__isnull=True),
                name="one_open_deadline_per_kind",
            )
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.get_kind_display()} → {self.due_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.met_at is None and self.cancelled_at is None


class CalendarOverride(models.Model):
    """A local holiday or working day, or a day of a year `chinesecalendar` does not cover.
    Consulted before the package."""

    # Within the plausible years: a day at the ends of Python's range would make the
    # deadline recalculation that follows every change fail after the row was saved.
    date = models.DateField(_("日期"), unique=True, validators=[check_year])
    is_workday = models.BooleanField(_("工作日"))
    note = models.CharField(_("说明"), max_length=100, blank=True)

    class Meta:
        ordering = ["date"]
        verbose_name = _("节假日调整")
        verbose_name_plural = _("节假日调整")

    def __str__(self) -> str:
        return f"{self.date} {'工作日' if self.is_workday else '休息日'}"
