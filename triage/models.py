"""Departments, staff placement and the case that follows each report."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from intake.models import Area, MatterType, Report
from intake.validators import parse_id
from triage.dashboard_models import (
    Alert,
    AlertKind,
    CaseFigures,
    FiguresDay,
    FiguresDirty,
    FiguresVersion,
    PublishedCase,
    WorkdayIndex,
)

# Workflow models live in their own module; imported here so Django registers them.
from triage.workflow_models import (
    AuditRun,
    CalendarOverride,
    CaseEvent,
    ConfigChainHead,
    ConfigChangeSeal,
    Deadline,
    DeadlineKind,
    DeadlinePolicy,
    DeadlineUnit,
    Priority,
)

__all__ = [
    "CLOSED_STATES",
    "Alert",
    "AlertKind",
    "Area",
    "AuditRun",
    "CalendarOverride",
    "Case",
    "CaseEvent",
    "CaseFigures",
    "CaseStatus",
    "Category",
    "ClassifierModel",
    "ConfigChainHead",
    "ConfigChangeSeal",
    "Correction",
    "Deadline",
    "DeadlineKind",
    "DeadlinePolicy",
    "DeadlineUnit",
    "Department",
    "DepartmentKind",
    "FiguresDay", "FiguresDirty", "FiguresVersion",
    "Priority",
    "PublishedCase",
    "ReplyTemplate",
    "Report",
    "RuleKind",
    "StaffProfile",
    "TermRule",
    "WorkdayIndex",
]


class DepartmentKind(models.TextChoices):
    GOVERNMENT = "government", _("人民政府/街道办/村（居）委会")
    DISCIPLINE = "discipline", _("纪委监委")
    FUNCTIONAL = "functional", _("职能部门")
    PETITION = "petition", _("信访局/12345")


class Department(models.Model):
    """A unit in the tree: city, district/county, township/street, village/community."""

    code = models.CharField(_("编码"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    short_name = models.CharField(_("简称"), max_length=40, blank=True)
    kind = models.CharField(_("类型"), max_length=12, choices=DepartmentKind.choices)
    area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="departments", verbose_name=_("辖区"))
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children", verbose_name=_("上级")
    )
    level = models.PositiveSmallIntegerField(_("层级"))
    # Materialised path of ancestor ids ("/1/5/17/") for sub-tree scoping in one query.
    path = models.CharField(max_length=255, editable=False, db_index=True)
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        ordering = ["path"]
        verbose_name = _("部门")
        verbose_name_plural = _("部门")

    def __str__(self) -> str:
        return self.name

    def save(self, *args: object, **kwargs: object) -> None:
        if self.level in (None, 0):
            self.level = self.area.level
        super().save(*args, **kwargs)  # type: ignore[arg-type]
        path = f"{self.parent.path if self.parent else '/'}{self.pk}/"
        if path != self.path:
            self.path = path
            Department.objects.filter(pk=self.pk).update(path=path)


class StaffProfile(models.Model):
    """Where a staff user works; roles are Django groups."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile", verbose_name=_("用户"),
    )
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="staff", verbose_name=_("部门"))

    class Meta:
        verbose_name = _("工作人员")
        verbose_name_plural = _("工作人员")

    def __str__(self) -> str:
        return f"{self.user} @ {self.department}"


class CaseStatus(models.TextChoices):
    RECEIVED = "received", _("已登记")
    AWAITING_TRIAGE = "awaiting_triage", _("待分流")
    ASSIGNED = "assigned", _("已交办")
    ACCEPTED = "accepted", _("已受理")
    NOT_ACCEPTED = "not_accepted", _("不予受理")
    IN_PROGRESS = "in_progress", _("办理中")
    DRAFTED = "drafted", _("拟办结")
    IN_REVIEW = "in_review", _("审核中")
    CLOSED = "closed", _("已办结")
    RATED = "rated", _("已评价")
    ARCHIVED = "archived", _("归档")


CLOSED_STATES = frozenset({CaseStatus.NOT_ACCEPTED, CaseStatus.CLOSED, CaseStatus.RATED, CaseStatus.ARCHIVED})


class Category(models.Model):
    """A first-level category (城乡建设, 劳动和社会保障, …) and the functional department
    that normally handles it at each level (by department code suffix, e.g. "zj")."""

    name = models.CharField(_("名称"), max_length=40, unique=True)
    # The classifier's label for this category (the training data's `label` column, and what
    # corrections to it are trained as). Fixed once set, so the name can be reworded freely
    # without cutting the category off from the model's predictions.
    model_label = models.CharField(_("模型标签"), max_length=40, unique=True)
    department_suffix = models.CharField(_("对口部门编码后缀"), max_length=20, blank=True)
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("类别")
        verbose_name_plural = _("类别")

    def __str__(self) -> str:
        # The default names have translations (triage/defaults.py); names added later show as entered.
        return gettext(self.name)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.model_label:
            self.model_label = self.name
        super().save(*args, **kwargs)


QUEUE_REASONS = {
    "low_confidence": _("分类把握不足"),
    "no_department": _("未能确定承办部门"),
    "conflicting_rules": _("分流规则冲突"),
    "triage_failed": _("自动分流多次失败"),
    "returned": _("承办部门退回"),
}


class Case(models.Model):
    """The handling of one report. Everything here may be stored in the clear."""

    # Usually one case per report; a report raising several separate matters is split into
    # more cases (split_from set), each with its own category and department.
    report = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="cases", verbose_name=_("来件"))
    split_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="splits", verbose_name=_("拆分自")
    )
    status = models.CharField(_("状态"), max_length=20, choices=CaseStatus.choices, default=CaseStatus.RECEIVED)
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.PROTECT, related_name="cases", verbose_name=_("承办部门")
    )
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)
    triaged_at = models.DateTimeField(_("分流时间"), null=True, blank=True)
    due_at = models.DateTimeField(_("办理期限"), null=True, blank=True)
    closed_at = models.DateTimeField(_("办结时间"), null=True, blank=True)
    # What triage decided, and why (no report text: only model and rule terms).
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.PROTECT, related_name="cases", verbose_name=_("类别")
    )
    matter_type = models.CharField(_("事项类型"), max_length=16, choices=MatterType.choices, blank=True)
    violation = models.CharField(_("违纪类型"), max_length=30, blank=True)
    urgent = models.BooleanField(_("紧急"), default=False, db_index=True)
    confidence = models.FloatField(_("置信度"), null=True, blank=True)
    triage_explanation = models.JSONField(_("分流依据"), default=dict, blank=True)
    model_version = models.CharField(_("模型版本"), max_length=40, blank=True)
    queue_reason = models.CharField(_("转人工原因"), max_length=40, blank=True)
    # SimHash of the report's tokens (a number, no text), split in four 16-bit bands so
    # near-duplicates are found with indexed equality look-ups.
    fingerprint = models.BigIntegerField(_("相似指纹"), null=True, blank=True)
    fp_band0 = models.IntegerField(_("指纹分段一"), null=True, blank=True, db_index=True)
    fp_band1 = models.IntegerField(_("指纹分段二"), null=True, blank=True, db_index=True)
    fp_band2 = models.IntegerField(_("指纹分段三"), null=True, blank=True, db_index=True)
    fp_band3 = models.IntegerField(_("指纹分段四"), null=True, blank=True, db_index=True)
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="duplicates", verbose_name=_("重复于")
    )
    # Workflow (triage/workflow.py): flags and pending requests beside the status.
    priority = models.CharField(_("紧急程度"), max_length=10, choices=Priority.choices, default=Priority.ORDINARY)
    supervised = models.BooleanField(_("督办"), default=False, db_index=True)
    supervised_at = models.DateTimeField(_("督办时间"), null=True, blank=True)
    suspended_at = models.DateTimeField(_("挂起时间"), null=True, blank=True)
    suspend_reason = models.CharField(_("挂起原因"), max_length=20, blank=True)
    transfer_to = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.PROTECT, related_name="incoming_transfers",
        verbose_name=_("转办至"),
    )
    misroute_count = models.PositiveSmallIntegerField(_("退回分流次数"), default=0)
    review_round = models.PositiveSmallIntegerField(_("复查轮次"), default=0)
    # Response times for the dashboards, stored once, when they happen.
    acknowledged_at = models.DateTimeField(_("受理时间"), null=True, blank=True)
    first_reply_at = models.DateTimeField(_("首次答复时间"), null=True, blank=True)
    time_to_acknowledge = models.DurationField(_("受理用时"), null=True, blank=True)
    time_to_first_reply = models.DurationField(_("首次答复用时"), null=True, blank=True)
    time_to_close = models.DurationField(_("办结用时"), null=True, blank=True)
    # Head of this case's event chain (triage/audit.py): a deleted last event shows.
    audit_seq = models.PositiveIntegerField(_("审计链序号"), default=0)
    audit_head = models.CharField(_("审计链末端哈希"), max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("案件")
        verbose_name_plural = _("案件")
        indexes = [
            models.Index(fields=["status", "created_at"], name="case_status_created"),
            # The handler console's order (selectors.CONSOLE_ORDER): a page is read off the index.
            models.Index(fields=["-urgent", "-supervised", "due_at", "id"], name="case_console_order"),
        ]
        permissions = [("triage_case", "Can work the human triage queue")]
        constraints = [
            # The worker, the sweeper and the citizen pages find a report's case by report id.
            models.UniqueConstraint(
                fields=["report"], condition=models.Q(split_from__isnull=True), name="one_primary_case_per_report"
            )
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def queue_reason_label(self) -> str:
        """Why triage left the case to a person, in words (the code is stored)."""
        return str(QUEUE_REASONS.get(self.queue_reason, self.queue_reason))

    @property
    def number(self) -> str:
        """Case number read to citizens and staff: QF + year + sequence."""
        year = timezone.localtime(self.created_at).year
        return f"QF{year}{self.pk:08d}"

    @staticmethod
    def id_in_number(number: str) -> int | None:
        """The id a typed case number names (its sequence), or None when it is not shaped
        like one. Whether the year matches is the caller's check, against `number`."""
        number = number.strip().upper()
        if not number.startswith("QF") or parse_id(number[2:6]) is None:
            return None
        return parse_id(number[6:])


class ClassifierModel(models.Model):
    """A trained, versioned classifier with its metrics; exactly one is active."""

    version = models.CharField(_("版本"), max_length=40, unique=True)
    created_at = models.DateTimeField(_("训练时间"), default=timezone.now)
    is_active = models.BooleanField(_("当前使用"), default=False)
    metrics = models.JSONField(_("评估指标"), default=dict)
    data_hash = models.CharField(_("训练数据摘要"), max_length=64)
    n_train = models.PositiveIntegerField(_("训练样本数"), default=0)
    n_corrections = models.PositiveIntegerField(_("人工更正数"), default=0)
    training_seconds = models.FloatField(_("训练用时（秒）"), default=0)
    # The fitted pipeline (pickle, zlib; joblib before). Kept in the database so every
    # worker host sees it; training and evaluation read it, serving does not.
    artifact = models.BinaryField(_("模型文件"))
    # The pipeline compiled for serving (triage.serving: numpy arrays, loaded without
    # scikit-learn). Empty for a model saved before serving models: compiled on first load.
    serving = models.BinaryField(_("服务用模型文件"), null=True, blank=True, editable=False)
    # Set when old versions' artifacts were dropped to bound storage (each version is
    # ~50 MB): the row, its metrics and data hash stay for the record; it cannot be activated.
    pruned_at = models.DateTimeField(_("模型文件清理时间"), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("分类模型")
        verbose_name_plural = _("分类模型")
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=models.Q(is_active=True), name="one_active_model")
        ]

    def __str__(self) -> str:
        return self.version


class RuleKind(models.TextChoices):
    ROUTE = "route", _("分流规则（关键词/地点→部门）")
    MATTER = "matter", _("事项类型")
    VIOLATION = "violation", _("违纪类型")
    URGENCY = "urgency", _("紧急")


class TermRule(models.Model):
    """Admin-editable weighted term rules: routing, type of matter, violation, urgency."""

    kind = models.CharField(_("规则类型"), max_length=10, choices=RuleKind.choices)
    term = models.CharField(_("关键词"), max_length=40)
    label = models.CharField(_("结论"), max_length=40, blank=True, help_text=_("事项类型、违纪类型或类别名称"))
    weight = models.FloatField(_("权重"), default=1.0)
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.CASCADE, related_name="+", verbose_name=_("部门")
    )
    area = models.ForeignKey(
        Area, null=True, blank=True, on_delete=models.CASCADE, related_name="+", verbose_name=_("限定地点")
    )
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        ordering = ["kind", "label", "term"]
        verbose_name = _("分流规则")
        verbose_name_plural = _("分流规则")

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.term} → {self.label or self.department}"


class CorrectionKind(models.TextChoices):
    CORRECT = "correct", _("更正")
    SPLIT = "split", _("拆分")


class Correction(models.Model):
    """A human correction of triage: who, when, why. Plain corrections are used by the next
    training; split records are not (a part's category does not label the whole text)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="corrections", verbose_name=_("案件"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("更正人"))
    at = models.DateTimeField(_("更正时间"), default=timezone.now)
    old_category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("原类别"),
    )
    new_category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("新类别"),
    )
    old_department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("原部门"),
    )
    new_department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("新部门"),
    )
    reason = models.CharField(_("原因"), max_length=500)
    kind = models.CharField(_("类型"), max_length=10, choices=CorrectionKind.choices, default=CorrectionKind.CORRECT)
    # Which part of the report a split case covers, for its department; no personal details.
    note = models.CharField(_("说明"), max_length=200, blank=True)

    class Meta:
        ordering = ["-at"]
        verbose_name = _("分流更正")
        verbose_name_plural = _("分流更正")



class ReplyTemplate(models.Model):
    """A starting text for a handler's reply (admin-editable); the handler adapts it."""

    title = models.CharField(_("名称"), max_length=60)
    body = models.TextField(_("内容"), max_length=5000)
    position = models.PositiveSmallIntegerField(_("排序"), default=0)
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("答复模板")
        verbose_name_plural = _("答复模板")

    def __str__(self) -> str:
        return self.title
