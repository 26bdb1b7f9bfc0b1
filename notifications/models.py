"""Notifications: what we tell whom, on which channel, whether it went out, and the
settings behind it (staff preferences, webhook endpoints, the dead-letter box).

A notification stores references (case, department, deadline kind, due time) and never
text: subject and body are rendered from them when sent or shown (notifications.render),
so no report content, identity or receipt can end up in this table.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from intake import crypto


class Kind(models.TextChoices):
    CASE_ASSIGNED = "case_assigned", _("新案件交办")
    TRANSFER_OFFERED = "transfer_offered", _("转办待接收")
    CITIZEN_ANSWERED = "citizen_answered", _("反映人已答复")
    DUE_SOON = "due_soon", _("临期提醒")
    OVERDUE = "overdue", _("超期提醒")
    ESCALATED = "escalated", _("超期督促")
    APPROVAL_WAITING = "approval_waiting", _("待审批")
    DECIDED = "decided", _("审批结果")
    SUPERVISED = "supervised", _("督办")
    DIGEST_DAILY = "digest_daily", _("每日汇总")
    DIGEST_WEEKLY = "digest_weekly", _("每周汇总")
    CITIZEN_NEWS = "citizen_news", _("办理进展短信")


class Channel(models.TextChoices):
    IN_APP = "in_app", _("站内通知")
    EMAIL = "email", _("电子邮件")
    WEBHOOK = "webhook", _("Webhook")
    SMS = "sms", _("短信")


class Status(models.TextChoices):
    PENDING = "pending", _("待发送")
    HELD = "held", _("免打扰暂缓")
    SENT = "sent", _("已发送")
    DEAD = "dead", _("发送失败")
    SKIPPED = "skipped", _("无需发送")


WEBHOOK_SECRET_AAD = crypto.field_aad(table="notifications_webhookendpoint", row_id="*", field="secret")


class WebhookEndpoint(models.Model):
    """Another government system that receives signed notices (see README: 通知 Webhook)."""

    name = models.CharField(_("名称"), max_length=60)
    url = models.URLField(_("地址"), max_length=300)
    # The shared HMAC key, sealed (intake.crypto.seal_secret); the receiver holds the same one.
    # Shown once, in the admin, when the endpoint is made or its key replaced.
    secret_sealed = models.CharField(max_length=200, editable=False)
    is_active = models.BooleanField(_("启用"), default=True)
    # Comma-separated kinds ("due_soon,overdue"); empty: every kind but digests and SMS.
    kinds = models.CharField(_("订阅类型"), max_length=300, blank=True, help_text=_("逗号分隔；留空表示全部"))

    class Meta:
        ordering = ["name"]
        verbose_name = _("Webhook 接收端")
        verbose_name_plural = _("Webhook 接收端")

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.secret_sealed:
            self.new_secret()  # a key nobody has seen: the admin replaces it to show one
        super().save(*args, **kwargs)

    def new_secret(self) -> str:
        """Give the endpoint a new random signing key (sealed here, saved by the caller) and
        return it, to be shown once and typed into the receiver."""
        secret = secrets.token_urlsafe(32)
        self.secret_sealed = crypto.seal_secret(secret.encode(), aad=WEBHOOK_SECRET_AAD)
        return secret

    def signing_key(self) -> str:
        return crypto.open_secret(self.secret_sealed, aad=WEBHOOK_SECRET_AAD).decode()

    def wants(self, kind: str) -> bool:
        return not self.kinds or kind in {k.strip() for k in self.kinds.split(",")}


class Notification(models.Model):
    """One notice to one recipient (a staff user, a webhook endpoint or a reporter's phone).
    A staff user's notice is one row whatever channels they chose: `in_app` shows it in
    the notification centre, and `channel` is how it also leaves the system (e-mail), or
    `in_app` when it does not. `key` is deterministic (what happened, to which clock or
    event, which recipient), so a rescan, a retry or a second beat creates it once.
    Status, attempts and sent time are those of the outgoing channel."""

    key = models.CharField(_("事件键"), max_length=160)
    kind = models.CharField(_("类型"), max_length=24, choices=Kind.choices)
    channel = models.CharField(_("渠道"), max_length=10, choices=Channel.choices)
    in_app = models.BooleanField(_("站内通知"), default=False)
    # No database constraint: its check per row at commit was the largest single cost of the
    # deadline scan (about 1.6 s of CPU at 200,000 open cases, for 200 users). Rows are only
    # ever written from a join on existing active users in the same statement, and a user
    # deleted through the ORM takes their notices along (Django applies on_delete itself).
    # The one gap, a user deleted while a scan that saw them commits, leaves a notice nobody
    # can see and the sender skips (no recipient). The inbox index (recipient first) serves
    # the lookups by recipient.
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                                  related_name="notifications", verbose_name=_("接收人"), db_index=False,
                                  db_constraint=False)
    # Indexed for webhook rows only (see Meta): the other rows have none.
    endpoint = models.ForeignKey(WebhookEndpoint, null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="notifications", db_index=False, verbose_name=_("接收端"))
    case = models.ForeignKey("triage.Case", null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                             verbose_name=_("案件"))
    # A copy of the case's department (or a transfer's target) when the notice was made, for
    # display. No database constraint or index: its check per row at commit cost the deadline
    # scan about 0.9 s at 200,000 open cases, and departments are not deleted while a case refers
    # to them (PROTECT); a department deleted through the ORM still sets this to NULL
    # (Django applies on_delete itself). Nothing looks notices up by department.
    department = models.ForeignKey("triage.Department", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("承办部门"), db_constraint=False, db_index=False)
    deadline_kind = models.CharField(_("期限类型"), max_length=20, blank=True)
    due_at = models.DateTimeField(_("到期时间"), null=True, blank=True)
    level = models.PositiveSmallIntegerField(_("级别"), default=0)  # escalation step
    urgent = models.BooleanField(_("紧急"), default=False)
    # Counts (digests) and ids only.
    data = models.JSONField(_("数据"), default=dict, blank=True)
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    next_attempt_at = models.DateTimeField(_("下次发送时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)
    read_at = models.DateTimeField(_("已读时间"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("通知")
        verbose_name_plural = _("通知")
        # The deadline scan inserts hundreds of thousands of rows at once: every index here
        # is one a reader needs. A constraint, not unique=True, so PostgreSQL gets no second
        # (pattern-ops) index on the key.
        constraints = [models.UniqueConstraint(fields=["key"], name="notification_key_unique")]
        indexes = [
            models.Index(fields=["recipient", "in_app", "read_at"], name="notification_inbox"),
            # Only what may still be sent; sent rows leave the index.
            models.Index(fields=["status", "next_attempt_at"], name="notification_due_sends",
                         condition=models.Q(status__in=[Status.PENDING, Status.HELD])),
            models.Index(fields=["endpoint"], name="notification_endpoint",
                         condition=models.Q(endpoint__isnull=False)),
        ]

    def __str__(self) -> str:
        return self.key


class Delivery(models.Model):
    """One attempt to send a notification (the delivery log)."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="deliveries")
    attempt = models.PositiveSmallIntegerField()
    at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # The error class and, for HTTP, the status line: never the message body.
    error = models.CharField(max_length=200, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-at"]
        verbose_name = _("投递记录")
        verbose_name_plural = _("投递记录")


class DeadLetter(models.Model):
    """A notification that failed every attempt; an admin can send it again."""

    notification = models.OneToOneField(
        Notification, on_delete=models.CASCADE, related_name="dead_letter", verbose_name=_("通知"),
    )
    created_at = models.DateTimeField(_("进入时间"), default=timezone.now)
    error = models.CharField(_("错误"), max_length=200, blank=True)
    retried_at = models.DateTimeField(_("重发时间"), null=True, blank=True)
    retried_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("重发人"))

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("死信")
        verbose_name_plural = _("死信")

    def __str__(self) -> str:
        return str(self.notification)


class NotificationPreference(models.Model):
    """A staff user's channels and quiet hours (Asia/Shanghai). Urgent cases ignore quiet
    hours; in-app notices are silent and always kept."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference", verbose_name=_("用户"),
    )
    email = models.BooleanField(_("电子邮件"), default=True)
    in_app = models.BooleanField(_("站内通知"), default=True)
    quiet_start = models.TimeField(_("免打扰开始"), null=True, blank=True)
    quiet_end = models.TimeField(_("免打扰结束"), null=True, blank=True)

    class Meta:
        verbose_name = _("通知设置")
        verbose_name_plural = _("通知设置")

    def __str__(self) -> str:
        return str(self.user)


class Escalation(models.Model):
    """One step of the ladder reached by one clock in one period (the clock's extensions so
    far); unique, so the step (and its case event) happens once however often the scan runs,
    and a pause or a calendar change that moves the due time does not repeat it."""

    deadline = models.ForeignKey("triage.Deadline", on_delete=models.CASCADE, related_name="+")
    case = models.ForeignKey("triage.Case", on_delete=models.CASCADE, related_name="+")
    level = models.PositiveSmallIntegerField()
    due_at = models.DateTimeField()  # when the clock was due as the step was reached
    extended_amount = models.PositiveIntegerField(default=0)  # the clock's extended_amount then
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("超期升级")
        verbose_name_plural = _("超期升级")
        constraints = [models.UniqueConstraint(fields=["deadline", "extended_amount", "level"],
                                               name="one_escalation_per_period_step")]
