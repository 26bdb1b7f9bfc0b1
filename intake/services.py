"""Write paths of intake: one submission service for all four channels, messages,
ratings, review requests, identity reveal and key rotation."""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from intake import crypto, handoff
from intake.attachments import AttachmentRejected, CleanFile, sanitize_upload
from intake.models import (
    AccessKind,
    AccessRecord,
    Area,
    Attachment,
    Channel,
    Feedback,
    IdempotencyRecord,
    MatterType,
    Message,
    MessageDirection,
    MessageKind,
    Rating,
    Report,
    ReporterIdentity,
    ReviewRequest,
    Source,
)
from intake.validators import check_year, normalize_id_card, normalize_mobile, normalize_phone

logger = logging.getLogger(__name__)

MAX_REPRESENTATIVES = 5  # 信访工作条例: a group visit sends at most five representatives
MAX_NAME_CHARS = 50  # a person's name as any form takes it
MAX_SHORT_FIELD = 500
MAX_MESSAGE_CHARS = 5000


class SubmissionError(Exception):
    """Bad input, as field -> messages (Chinese); nothing was stored."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before for a different request."""


@dataclass(frozen=True)
class UploadInput:
    name: str
    data: bytes


@dataclass(frozen=True)
class IdentityInput:
    name: str = ""
    mobile: str = ""
    id_number: str = ""
    sms_opt_in: bool = False


@dataclass(frozen=True)
class IdempotencyClaim:
    scope: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class SubmissionResult:
    report: Report
    receipt: str | None
    replayed: bool = False


@dataclass
class ReportInput:
    """Everything any channel can say about a report; the service validates it all."""

    channel: str
    source: str
    body: str
    title: str = ""
    matter_type: str = ""
    area_code: str = ""
    place_detail: str = ""
    occurred: str = ""
    accused: str = ""
    identity: IdentityInput | None = None
    attachments: Sequence[UploadInput] = ()
    postmarked_on: date | None = None
    visitor_count: int | None = None
    representatives: Sequence[str] = ()
    call_started_at: datetime | None = None
    call_duration_seconds: int | None = None
    caller_number: str = ""
    received_at: datetime | None = None
    extra_errors: dict[str, list[str]] = field(default_factory=dict)


# --- sealing helpers ------------------------------------------------------------------


def _seal(dk: bytes, table: str, row_id: uuid.UUID, name: str, text: str) -> bytes:
    return crypto.seal_text(dk, text, aad=crypto.field_aad(table=table, row_id=str(row_id), field=name))


def _seal_optional(dk: bytes, table: str, row_id: uuid.UUID, name: str, text: str) -> bytes | None:
    return _seal(dk, table, row_id, name, text) if text else None


def report_data_key(report: Report) -> bytes:
    return crypto.unwrap_data_key(report.wrapped_key, key_id=report.key_id, owner=f"report:{report.pk}")


def new_receipt_code() -> str:
    return f"{secrets.randbelow(10**16):016d}"


# --- validation -----------------------------------------------------------------------


def _plausible(data: ReportInput, name: str, add: Callable[[str, str], None]) -> Any:
    """The date field `name` of `data` if it lies in the years anyone can mean, else None
    with a field error."""
    value = getattr(data, name)
    if value is not None:
        try:
            check_year(value)
        except ValidationError as exc:
            add(name, exc.messages[0])
            return None
    return value


def _clean_uploads(uploads: Sequence[UploadInput], errors: dict[str, list[str]]) -> list[CleanFile]:
    """Check count, sizes and content type, and strip metadata; problems go to `errors`."""
    problems = errors.setdefault("attachments", [])
    files: list[CleanFile] = []
    if len(uploads) > settings.ATTACHMENT_MAX_COUNT:
        problems.append(_("附件最多 %(n)d 个。") % {"n": settings.ATTACHMENT_MAX_COUNT})
    elif sum(len(u.data) for u in uploads) > settings.ATTACHMENT_MAX_TOTAL_BYTES:
        problems.append(_("附件总大小不能超过 %(n)d MB。") % {"n": settings.ATTACHMENT_MAX_TOTAL_BYTES // 2**20})
    else:
        for upload in uploads:
            if len(upload.data) > settings.ATTACHMENT_MAX_BYTES:
                problems.append(_("单个附件不能超过 %(n)d MB。") % {"n": settings.ATTACHMENT_MAX_BYTES // 2**20})
                continue
            try:
                files.append(sanitize_upload(name=upload.name, data=upload.data))
            except AttachmentRejected as exc:
                problems.append(str(exc.message))
    if not problems:
        del errors["attachments"]
    return files


def _validate(data: ReportInput) -> tuple[dict[str, Any], list[CleanFile]]:
    errors: dict[str, list[str]] = {k: list(v) for k, v in data.extra_errors.items()}

    def add(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    clean: dict[str, Any] = {}
    if data.channel not in Channel.values:
        add("channel", _("渠道无效。"))
    if data.source not in Source.values:
        add("source", _("来源无效。"))
    if data.matter_type and data.matter_type not in MatterType.values:
        add("matter_type", _("事项类型无效。"))

    body = (data.body or "").strip()
    if len(body) < settings.REPORT_BODY_MIN_CHARS:
        add("body", _("请把事情经过写清楚，至少 %(n)d 个字。") % {"n": settings.REPORT_BODY_MIN_CHARS})
    elif len(body) > settings.REPORT_BODY_MAX_CHARS:
        add("body", _("内容不能超过 %(n)d 个字。") % {"n": settings.REPORT_BODY_MAX_CHARS})
    clean["body"] = body
    for name in ("title", "place_detail", "occurred", "accused"):
        value = (getattr(data, name) or "").strip()
        if len(value) > MAX_SHORT_FIELD:
            add(name, _("不能超过 %(n)d 个字。") % {"n": MAX_SHORT_FIELD})
        clean[name] = value
    for name, value in (("body", body), *((n, clean[n]) for n in ("title", "place_detail", "occurred", "accused"))):
        if "\x00" in value:
            add(name, _("含有无效字符。"))

    clean["area_code"] = ""
    if data.area_code:
        if not Area.objects.filter(code=data.area_code).exists():
            add("area", _("所选地点不存在。"))
        clean["area_code"] = data.area_code

    identity: dict[str, Any] = {}
    if data.identity is not None:
        ident = data.identity
        name = ident.name.strip()
        if len(name) > 50:
            add("name", _("姓名不能超过50个字。"))
        if name:
            identity["name"] = name
        if ident.mobile.strip():
            try:
                identity["mobile"] = normalize_mobile(ident.mobile)
            except ValidationError as exc:
                add("mobile", exc.messages[0])
        if ident.id_number.strip():
            try:
                identity["id_number"] = normalize_id_card(ident.id_number)
            except ValidationError as exc:
                add("id_number", exc.messages[0])
        if ident.sms_opt_in and not ident.mobile.strip():
            add("sms_opt_in", _("选择短信提醒需要填写手机号码。"))
        clean["sms_opt_in"] = bool(ident.sms_opt_in and identity.get("mobile"))

    if data.caller_number.strip():
        try:
            identity["caller_number"] = normalize_phone(data.caller_number)
        except ValidationError as exc:
            add("caller_number", exc.messages[0])
    representatives = [r.strip() for r in data.representatives if r and r.strip()]
    if representatives:
        identity["representatives"] = representatives
    clean["identity"] = identity

    # Channel-specific facts.
    if data.channel == Channel.VISIT:
        if data.visitor_count is None or data.visitor_count < 1:
            add("visitor_count", _("请填写来访人数。"))
        elif data.visitor_count > 1 and not representatives:
            add("representatives", _("集体访请登记代表姓名。"))
        if len(representatives) > MAX_REPRESENTATIVES:
            add("representatives", _("集体访代表不超过5人（《信访工作条例》）。"))
        if any(len(r) > MAX_NAME_CHARS for r in representatives):
            add("representatives", _("每位代表的姓名不超过 %(n)d 个字，每行一人。") % {"n": MAX_NAME_CHARS})
        if data.visitor_count is not None and data.visitor_count > 10000:
            add("visitor_count", _("来访人数不合理。"))
    elif representatives:
        add("representatives", _("只有来访可以登记代表。"))
    # Dates outside the plausible years are refused here too (every channel's form and
    # serializer already does), and the comparisons below see only plausible ones.
    received_at, postmarked_on, call_started_at = (
        _plausible(data, name, add) for name in ("received_at", "postmarked_on", "call_started_at")
    )
    if received_at and received_at > timezone.now() + timedelta(minutes=5):
        add("received_at", _("收到时间不能晚于现在。"))
    if data.channel == Channel.LETTER and postmarked_on:
        if postmarked_on > timezone.localdate():
            add("postmarked_on", _("邮戳日期不能晚于今天。"))
        elif received_at and postmarked_on > timezone.localdate(received_at):
            add("postmarked_on", _("邮戳日期不能晚于收信日期。"))
    if data.channel == Channel.CALL:
        if call_started_at and call_started_at > timezone.now() + timedelta(minutes=5):
            add("call_started_at", _("来电时间不能晚于现在。"))
        if data.call_duration_seconds is not None and not 0 <= data.call_duration_seconds <= 24 * 3600:
            add("call_duration_seconds", _("通话时长不合理。"))
    if data.channel != Channel.VISIT and data.visitor_count is not None:
        add("visitor_count", _("只有来访需要填写来访人数。"))

    files = _clean_uploads(data.attachments, errors)
    if errors:
        raise SubmissionError(errors)
    return clean, files


# --- submission -----------------------------------------------------------------------


def report_submit(*, data: ReportInput, logged_by: User | AnonymousUser | None = None,
                  idempotency: IdempotencyClaim | None = None) -> SubmissionResult:
    """Validate, encrypt and store a report from any channel, then hand it to triage.

    Report, identity, attachments and case are written in one transaction; the triage
    task (report id only) is queued after commit.
    """
    if idempotency is not None:
        replay = _idempotent_replay(idempotency)
        if replay is not None:
            return replay
    clean, files = _validate(data)
    receipt = new_receipt_code()
    receipt_hash = crypto.receipt_hash(receipt)
    report_id = uuid.uuid4()
    dk = crypto.new_data_key()
    key_id, wrapped = crypto.wrap_data_key(dk, owner=f"report:{report_id}")
    tbl = "report"
    place = json.dumps({"area": clean["area_code"], "detail": clean["place_detail"]}, ensure_ascii=False)
    report = Report(
        id=report_id,
        channel=data.channel,
        source=data.source,
        matter_type=data.matter_type,
        received_at=data.received_at or timezone.now(),
        logged_by=logged_by if isinstance(logged_by, User) else None,
        is_named=bool(clean["identity"].get("name") or clean["identity"].get("id_number")),
        key_id=key_id,
        wrapped_key=wrapped,
        title_ct=_seal_optional(dk, tbl, report_id, "title", clean["title"]),
        body_ct=_seal(dk, tbl, report_id, "body", clean["body"]),
        accused_ct=_seal_optional(dk, tbl, report_id, "accused", clean["accused"]),
        place_ct=_seal(dk, tbl, report_id, "place", place) if clean["area_code"] or clean["place_detail"] else None,
        occurred_ct=_seal_optional(dk, tbl, report_id, "occurred", clean["occurred"]),
        receipt_hash=receipt_hash,
        postmarked_on=data.postmarked_on if data.channel == Channel.LETTER else None,
        visitor_count=data.visitor_count if data.channel == Channel.VISIT else None,
        call_started_at=data.call_started_at if data.channel == Channel.CALL else None,
        call_duration_seconds=data.call_duration_seconds if data.channel == Channel.CALL else None,
    )
    # Field checks only: the primary key is a fresh UUID and the database enforces the
    # constraints, so the uniqueness/constraint queries would be pure overhead.
    report.full_clean(
        exclude=["wrapped_key", "body_ct", "receipt_hash", "key_id"], validate_unique=False, validate_constraints=False
    )
    try:
        with transaction.atomic():
            report.save(force_insert=True)
            if clean["identity"]:
                _store_identity(report, clean["identity"], sms_opt_in=clean.get("sms_opt_in", False))
            for clean_file in files:
                _store_attachment(report, dk, clean_file, message=None)
            if idempotency is not None:
                _store_idempotency(idempotency, report, receipt)
            handoff.report_submitted.send(sender=Report, report=report)
            transaction.on_commit(lambda: handoff.queue_triage(report_id))
    except IntegrityError:
        if idempotency is not None:
            # A concurrent retry with the same key won the race: answer as it did.
            replay = _idempotent_replay(idempotency)
            if replay is not None:
                return replay
        raise
    return SubmissionResult(report=report, receipt=receipt)


def _store_identity(report: Report, identity: dict[str, Any], *, sms_opt_in: bool) -> ReporterIdentity:
    # Identity has a data key of its own: access to content never implies access to it.
    row_id = uuid.uuid4()
    dk = crypto.new_data_key()
    key_id, wrapped = crypto.wrap_data_key(dk, owner=f"identity:{row_id}")
    return ReporterIdentity.objects.create(
        id=row_id,
        report=report,
        key_id=key_id,
        wrapped_key=wrapped,
        data_ct=_seal(dk, "identity", row_id, "data", json.dumps(identity, ensure_ascii=False)),
        sms_opt_in=sms_opt_in,
    )


def _store_attachment(report: Report, dk: bytes, clean_file: CleanFile, *, message: Message | None) -> Attachment:
    row_id = uuid.uuid4()
    aad = crypto.field_aad
    return Attachment.objects.create(
        id=row_id,
        report=report,
        message=message,
        kind=clean_file.kind,
        mime=clean_file.mime,
        size=len(clean_file.data),
        name_ct=crypto.seal_text(dk, clean_file.filename, aad=aad(table="attachment", row_id=str(row_id), field="name")),
        content_ct=crypto.seal(dk, clean_file.data, aad=aad(table="attachment", row_id=str(row_id), field="content")),
    )


def _idempotency_key_hash(claim: IdempotencyClaim) -> str:
    return crypto.keyed_hash("idempotency-key", f"{claim.scope}|{claim.key}".encode())


def _store_idempotency(claim: IdempotencyClaim, report: Report, receipt: str) -> None:
    box = crypto.secret_box_key(claim.key.encode(), purpose="idempotent-response")
    key_hash = _idempotency_key_hash(claim)
    IdempotencyRecord.objects.create(
        key_hash=key_hash,
        scope=claim.scope,
        fingerprint=claim.fingerprint,
        report=report,
        response_ct=crypto.seal(box, receipt.encode(), aad=f"idempotency|{key_hash}".encode()),
    )


def _idempotent_replay(claim: IdempotencyClaim) -> SubmissionResult | None:
    key_hash = _idempotency_key_hash(claim)
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)
    record = (
        IdempotencyRecord.objects.select_related("report")
        .filter(scope=claim.scope, key_hash=key_hash, created_at__gte=cutoff)
        .first()
    )
    if record is None:
        return None
    if record.fingerprint != claim.fingerprint:
        raise IdempotencyConflict
    box = crypto.secret_box_key(claim.key.encode(), purpose="idempotent-response")
    receipt = crypto.open_sealed(box, record.response_ct, aad=f"idempotency|{key_hash}".encode()).decode()
    return SubmissionResult(report=record.report, receipt=receipt, replayed=True)


def idempotency_purge(*, older_than_hours: int | None = None) -> int:
    hours = settings.IDEMPOTENCY_TTL_HOURS if older_than_hours is None else older_than_hours
    deleted, _rows = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - timedelta(hours=hours)).delete()
    return deleted


# --- the reporter's side of the thread --------------------------------------------------


def _validate_message_text(text: str, uploads: Sequence[UploadInput], *, required: bool = True) -> tuple[str, list[CleanFile]]:
    errors: dict[str, list[str]] = {}
    text = (text or "").strip()
    if required and not text and not uploads:
        errors["body"] = [_("请填写内容。")]
    if len(text) > MAX_MESSAGE_CHARS:
        errors["body"] = [_("内容不能超过 %(n)d 个字。") % {"n": MAX_MESSAGE_CHARS}]
    files = _clean_uploads(uploads, errors)
    if errors:
        raise SubmissionError(errors)
    return text, files


def message_post(*, report: Report, direction: str, kind: str, text: str,
                 uploads: Sequence[UploadInput] = (), author: User | None = None,
                 visible_to_reporter: bool = True) -> Message:
    """Add a message to a report's thread (either side), encrypted, with attachments."""
    if kind == MessageKind.INTERNAL:  # an internal note can never be released to the reporter
        visible_to_reporter = False
    body, files = _validate_message_text(text, uploads)
    dk = report_data_key(report)
    row_id = uuid.uuid4()
    with transaction.atomic():
        message = Message.objects.create(
            id=row_id,
            report=report,
            direction=direction,
            kind=kind,
            body_ct=_seal(dk, "message", row_id, "body", body),
            author=author,
            visible_to_reporter=visible_to_reporter,
        )
        for clean_file in files:
            _store_attachment(report, dk, clean_file, message=message)
        if direction == MessageDirection.FROM_REPORTER:
            handoff.reporter_message_posted.send(sender=Message, message=message)
    return message


def reporter_message_post(*, report: Report, text: str, uploads: Sequence[UploadInput] = ()) -> Message:
    summary = handoff.case_summary(report.pk)
    if summary is not None and not summary.accepts_messages:
        raise SubmissionError({"body": [_("本件已办结归档，不能再留言。如对结果有异议，请申请复查。")]})
    answered_question = report.messages.filter(
        direction=MessageDirection.TO_REPORTER, kind=MessageKind.QUESTION, visible_to_reporter=True
    ).exists()
    kind = MessageKind.ANSWER if answered_question else MessageKind.NOTE
    return message_post(report=report, direction=MessageDirection.FROM_REPORTER, kind=kind, text=text, uploads=uploads)


def feedback_give(*, report: Report, rating: str, comment: str = "") -> Feedback:
    summary = handoff.case_summary(report.pk)
    errors: dict[str, list[str]] = {}
    if summary is None or not summary.can_rate:
        errors["rating"] = [_("办结后才能评价。")]
    if rating not in Rating.values:
        errors["rating"] = [_("请选择满意、基本满意或不满意。")]
    comment = (comment or "").strip()
    if len(comment) > MAX_MESSAGE_CHARS:
        errors["comment"] = [_("内容不能超过 %(n)d 个字。") % {"n": MAX_MESSAGE_CHARS}]
    if Feedback.objects.filter(report=report).exists():
        errors["rating"] = [_("您已经评价过了。")]
    if errors:
        raise SubmissionError(errors)
    dk = report_data_key(report)
    with transaction.atomic():
        feedback = Feedback.objects.create(
            report=report,
            rating=rating,
            comment_ct=_seal_optional(dk, "feedback", report.pk, "comment", comment),
        )
        handoff.reporter_feedback_given.send(sender=Feedback, feedback=feedback)
    return feedback


def review_request(*, report: Report, reason: str) -> ReviewRequest:
    summary = handoff.case_summary(report.pk)
    errors: dict[str, list[str]] = {}
    reason = (reason or "").strip()
    if summary is None or not summary.can_request_review:
        errors["reason"] = [_("当前不能申请复查：仅在办结后 %(n)d 日内可以申请。") % {"n": settings.REVIEW_REQUEST_WINDOW_DAYS}]
    elif len(reason) < 5:
        errors["reason"] = [_("请写明申请复查的理由。")]
    elif len(reason) > MAX_MESSAGE_CHARS:
        errors["reason"] = [_("内容不能超过 %(n)d 个字。") % {"n": MAX_MESSAGE_CHARS}]
    if errors:
        raise SubmissionError(errors)
    dk = report_data_key(report)
    row_id = uuid.uuid4()
    with transaction.atomic():
        request = ReviewRequest.objects.create(
            id=row_id, report=report, reason_ct=_seal(dk, "review", row_id, "reason", reason)
        )
        handoff.reporter_review_requested.send(sender=ReviewRequest, review_request=request)
    return request


# --- staff access (always audited) ------------------------------------------------------


def identity_reveal(*, report: Report, user: User, reason: str) -> dict[str, Any]:
    """Decrypt a reporter's identity for a handler: a stated reason and an audit record."""
    reason = (reason or "").strip()
    if len(reason) < 4:
        raise SubmissionError({"reason": [_("查看举报人身份须说明理由。")]})
    if not user.has_perm("intake.reveal_identity"):  # type: ignore[attr-defined]
        raise PermissionError
    identity = ReporterIdentity.objects.filter(report=report).first()
    AccessRecord.objects.create(report=report, user=user, kind=AccessKind.REVEAL_IDENTITY, reason=reason)
    if identity is None:
        return {}
    dk = crypto.unwrap_data_key(identity.wrapped_key, key_id=identity.key_id, owner=f"identity:{identity.pk}")
    data: dict[str, Any] = json.loads(
        crypto.open_text(dk, identity.data_ct, aad=crypto.field_aad(table="identity", row_id=str(identity.pk), field="data"))
    )
    return data


def internal_note_post(*, report: Report, user: User, text: str) -> Message:
    """A staff note on a report: encrypted with its data key, never visible to the reporter."""
    return message_post(report=report, direction=MessageDirection.TO_REPORTER, kind=MessageKind.INTERNAL, text=text,
                        author=user, visible_to_reporter=False)


def reporter_sms_number(*, report: Report) -> str | None:
    """The mobile number of a named reporter who opted in to SMS notices, else None.

    For the notification sender only, at the moment it sends: the number is decrypted in
    memory and never stored or logged elsewhere. No staff member sees it, so this is not
    an identity reveal (no AccessRecord)."""
    identity = ReporterIdentity.objects.filter(report=report, sms_opt_in=True).first()
    if identity is None:
        return None
    dk = crypto.unwrap_data_key(identity.wrapped_key, key_id=identity.key_id, owner=f"identity:{identity.pk}")
    data = json.loads(
        crypto.open_text(dk, identity.data_ct, aad=crypto.field_aad(table="identity", row_id=str(identity.pk), field="data"))
    )
    mobile = str(data.get("mobile") or "").strip()
    return mobile or None


def content_view_record(*, report: Report, user: User, kind: str = AccessKind.VIEW_CONTENT,
                        reason: str = "") -> None:
    AccessRecord.objects.create(report=report, user=user, kind=kind, reason=reason)


# --- key rotation -------------------------------------------------------------------------


@dataclass
class RotationProgress:
    rewrapped: int = 0
    already_current: int = 0


def rotate_keys(*, batch_size: int = 500, progress: RotationProgress | None = None) -> RotationProgress:
    """Re-wrap every data key under the primary key-encryption key.

    Works in batches of rows still wrapped by an older key, each batch in its own
    transaction with row locks, so it can run while the site is up and resume after an
    interruption: finished rows are simply no longer selected.
    """
    progress = progress or RotationProgress()
    primary = crypto.keyring().primary_id
    models: tuple[tuple[type[Report] | type[ReporterIdentity], str], ...] = (
        (Report, "report"),
        (ReporterIdentity, "identity"),
    )
    for model, owner_prefix in models:
        while True:
            with transaction.atomic():
                rows: list[Report | ReporterIdentity] = list(
                    model.objects.select_for_update(skip_locked=True)
                    .exclude(key_id=primary)
                    .order_by("pk")
                    .only("pk", "key_id", "wrapped_key")[:batch_size]
                )
                if not rows:
                    break
                for row in rows:
                    owner = f"{owner_prefix}:{row.pk}"
                    dk = crypto.unwrap_data_key(row.wrapped_key, key_id=row.key_id, owner=owner)
                    row.key_id, row.wrapped_key = crypto.wrap_data_key(dk, owner=owner)
                    row.save(update_fields=["key_id", "wrapped_key"])
                progress.rewrapped += len(rows)
    return progress
