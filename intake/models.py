"""What was received and from whom: reports, attachments, messages, receipts.

Every sensitive column is ciphertext (`*_ct`) sealed by `intake.crypto` under the
report's own data key; the clear columns are only those DESIGN.md allows.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice


class Channel(models.TextChoices):
    WEB = "web", _("网上")
    LETTER = "letter", _("来信")
    VISIT = "visit", _("来访")
    CALL = "call", _("来电")


class Source(models.TextChoices):
    WEB_FORM = "web_form", _("网上表单")
    STAFF_FORM = "staff_form", _("工作人员录入")
    API = "api", _("接口")


class MatterType(models.TextChoices):
    ACCUSATION = "accusation", _("检举控告")
    COMPLAINT = "complaint", _("投诉")
    HELP = "help", _("求助")
    SUGGESTION = "suggestion", _("建议")
    CONSULTATION = "consultation", _("咨询")


class AreaLevel(models.IntegerChoices):
    CITY = 1, _("市")
    COUNTY = 2, _("区/县")
    TOWNSHIP = 3, _("乡镇/街道")
    VILLAGE = 4, _("村/社区")


class Area(models.Model):
    """The place gazetteer (行政区划): city, district/county, township/street, village."""

    code = models.CharField(_("区划代码"), max_length=12, unique=True)
    name = models.CharField(_("名称"), max_length=60)
    level = models.PositiveSmallIntegerField(_("层级"), choices=AreaLevel.choices)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children", verbose_name=_("上级地区"),
    )
    full_name = models.CharField(_("全称"), max_length=200, editable=False)
    aliases = models.CharField(_("别名"), max_length=200, blank=True, help_text=_("以逗号分隔"))

    class Meta:
        ordering = ["code"]
        verbose_name = _("行政区划")
        verbose_name_plural = _("行政区划")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(level=1, parent__isnull=True) | models.Q(level__gt=1, parent__isnull=False),
                name="area_parent_matches_level",
            )
        ]

    def __str__(self) -> str:
        return self.full_name or self.name

    def save(self, *args: object, **kwargs: object) -> None:
        self.full_name = f"{self.parent.full_name}{self.name}" if self.parent_id and self.parent else self.name
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class Report(models.Model):
    """One received report, from any channel. Content columns are ciphertext."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    channel = models.CharField(_("渠道"), max_length=10, choices=Channel.choices)
    source = models.CharField(_("来源"), max_length=12, choices=Source.choices)
    matter_type = models.CharField(_("事项类型"), max_length=16, choices=MatterType.choices, blank=True)
    received_at = models.DateTimeField(_("收到时间"), default=timezone.now, db_index=True)
    logged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    is_named = models.BooleanField(_("实名"), default=False)
    # Envelope: the data key wrapped by the key-encryption key `key_id`.
    key_id = models.CharField(max_length=32)
    wrapped_key = models.BinaryField()
    title_ct = models.BinaryField(null=True)
    body_ct = models.BinaryField()
    accused_ct = models.BinaryField(null=True)
    place_ct = models.BinaryField(null=True)
    occurred_ct = models.BinaryField(null=True)
    details_ct = models.BinaryField(null=True)  # channel details that may identify (representatives)
    receipt_hash = models.CharField(max_length=64, unique=True, null=True, editable=False)
    # Channel facts that identify no one.
    postmarked_on = models.DateField(_("邮戳日期"), null=True, blank=True)
    visitor_count = models.PositiveSmallIntegerField(_("来访人数"), null=True, blank=True)
    call_started_at = models.DateTimeField(_("来电时间"), null=True, blank=True)
    call_duration_seconds = models.PositiveIntegerField(_("通话时长（秒）"), null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("来件")
        verbose_name_plural = _("来件")
        permissions = [
            ("log_letter", "Can log letters"),
            ("log_visit", "Can log visits"),
            ("log_call", "Can log calls"),
            ("view_report_content", "Can read report content (audited)"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(visitor_count__isnull=True) | models.Q(visitor_count__gte=1),
                name="report_visitor_count_positive",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.received_at:%Y-%m-%d %H:%M}"


class ReporterIdentity(models.Model):
    """A named reporter's identity: its own data key, apart from the content."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    report = models.OneToOneField(Report, on_delete=models.CASCADE, related_name="identity")
    key_id = models.CharField(max_length=32)
    wrapped_key = models.BinaryField()
    data_ct = models.BinaryField()
    sms_opt_in = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("举报人身份")
        verbose_name_plural = _("举报人身份")
        permissions = [("reveal_identity", "Can reveal a named reporter's identity, with a reason")]


class MessageDirection(models.TextChoices):
    TO_REPORTER = "to_reporter", _("致反映人")
    FROM_REPORTER = "from_reporter", _("反映人来信")


class MessageKind(models.TextChoices):
    QUESTION = "question", _("询问")
    ANSWER = "answer", _("答复补充")
    REPLY = "reply", _("办理答复")
    NOTICE = "notice", _("告知")
    NOTE = "note", _("留言")
    # A handler's internal note or reason: sealed like every message, never shown to the reporter.
    INTERNAL = "internal", _("内部备注")


class Message(models.Model):
    """The thread between the reporter and the handlers of a report."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=16, choices=MessageDirection.choices)
    kind = models.CharField(max_length=10, choices=MessageKind.choices)
    body_ct = models.BinaryField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A handler's reply becomes visible only when the workflow releases it.
    visible_to_reporter = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name = _("消息")
        verbose_name_plural = _("消息")


class AttachmentKind(models.TextChoices):
    IMAGE = "image", _("图片")
    PDF = "pdf", _("PDF")
    DOCUMENT = "document", _("文档")
    AUDIO = "audio", _("音频")


class Attachment(models.Model):
    """A sanitized file, sealed under its report's data key (bytes and name)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="attachments")
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    kind = models.CharField(max_length=10, choices=AttachmentKind.choices)
    mime = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    name_ct = models.BinaryField()
    content_ct = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]
        verbose_name = _("附件")
        verbose_name_plural = _("附件")


class Rating(models.TextChoices):
    SATISFIED = "satisfied", _("满意")
    BASICALLY_SATISFIED = "basically", _("基本满意")
    UNSATISFIED = "unsatisfied", _("不满意")


class Feedback(models.Model):
    """The reporter's rating of the outcome."""

    report = models.OneToOneField(Report, on_delete=models.CASCADE, related_name="feedback")
    rating = models.CharField(_("评价"), max_length=12, choices=Rating.choices)
    comment_ct = models.BinaryField(null=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("评价")
        verbose_name_plural = _("评价")


class ReviewRequest(models.Model):
    """The reporter's request for a review (复查) of the outcome."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="review_requests")
    reason_ct = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("复查申请")
        verbose_name_plural = _("复查申请")


class AccessKind(models.TextChoices):
    VIEW_CONTENT = "view_content", _("查看内容")
    REVEAL_IDENTITY = "reveal_identity", _("查看身份")
    DOWNLOAD_ATTACHMENT = "download_attachment", _("下载附件")


class AccessRecord(models.Model):
    """Audit of every human view of content or identity."""

    report = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="access_records", verbose_name=_("来件"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("查阅人"))
    kind = models.CharField(_("类型"), max_length=24, choices=AccessKind.choices)
    reason = models.CharField(_("理由"), max_length=500, blank=True)
    at = models.DateTimeField(_("时间"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at"]
        verbose_name = _("查阅记录")
        verbose_name_plural = _("查阅记录")


class IdempotencyRecord(models.Model):
    """A creation request already carried out, found again by its Idempotency-Key.

    The key is stored only as a keyed hash, the response (it holds the receipt) sealed
    under a key derived from the client's own Idempotency-Key.
    """

    key_hash = models.CharField(max_length=64)
    scope = models.CharField(max_length=40)  # "anonymous" or "user:<id>"
    fingerprint = models.CharField(max_length=64)
    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="+")
    response_ct = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key_hash"], name="idempotency_unique_key")]


class ServiceToken(models.Model):
    """An API token of an integration's service account (the telephony system, another
    government system). Only a keyed hash of the token is stored: it is shown once, when
    made (intake/staff_auth.py), and whoever reads the database or the admin cannot use it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="service_tokens",
                             verbose_name=_("服务账号"))
    name = models.CharField(_("用途"), max_length=100, help_text=_("例如：12345话务系统来电推送。"))
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The token's first characters, to tell tokens apart in the list and in a system's settings.
    prefix = models.CharField(_("令牌开头"), max_length=12, editable=False)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["user__username", "created_at"]
        verbose_name = _("接口令牌")
        verbose_name_plural = _("接口令牌")

    def __str__(self) -> str:
        return f"{self.name}（{self.prefix}…）"


class StaffAuthenticator(TOTPDevice):
    """A staff member's authenticator (django-otp's TOTP device), as the admin shows it:
    who has one and since when, to be removed when a phone is lost; never its seed
    (intake/admin.py). Seeds are opened and sealed for this class too (intake/otp_seeds.py)."""

    class Meta:
        proxy = True
        verbose_name = _("身份验证器")
        verbose_name_plural = _("身份验证器")


class EnrolmentWindow(models.Model):
    """Until when a staff member who needs a TOTP code may add an authenticator with the
    password alone. Without a window a stolen password would let its holder register their
    own device first, at any time before the owner's first sign-in or after a lost phone is
    removed. A window opens by itself when an account is created, when an account gains a
    role that needs a code, and when its last authenticator is removed; an administrator
    opens one again (admin user list, or `manage.py open_enrolment`) for someone who let it
    pass. Enrolling closes it. Length: settings.TOTP_ENROLMENT_HOURS (intake/staff_auth.py)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
                                related_name="enrolment_window", verbose_name=_("用户"))
    opened_at = models.DateTimeField(_("开放时间"), default=timezone.now)
    open_until = models.DateTimeField(_("登记截止"))

    class Meta:
        ordering = ["-open_until"]
        verbose_name = _("验证器登记期限")
        verbose_name_plural = _("验证器登记期限")

    def __str__(self) -> str:
        return str(self.user)
