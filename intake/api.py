"""REST API v1: anonymous submission, status and messages by receipt (in the body,
never the URL), and staff-channel intake for clerks and hotline systems."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from intake import abuse, crypto, handoff
from intake.models import Channel, MatterType, Report, Source
from intake.selectors import report_by_receipt, report_thread
from intake.services import (
    IdempotencyClaim,
    IdempotencyConflict,
    IdentityInput,
    ReportInput,
    SubmissionError,
    SubmissionResult,
    UploadInput,
    report_submit,
    reporter_message_post,
)
from intake.validators import check_year, format_receipt, normalize_receipt, year_range_error

IDEMPOTENCY_HEADER = OpenApiParameter(
    name="Idempotency-Key",
    type=str,
    location=OpenApiParameter.HEADER,
    required=False,
    description="A client-chosen unique key (8-200 characters); a retry with the same key and body creates no second report.",
)


class TextField(serializers.CharField):
    """A JSON string. A number or boolean is refused rather than turned into text: a
    16-digit receipt or a phone number sent as a number has already lost digits."""

    default_error_messages = {"not_text": _lazy("须为文本（JSON 字符串），不能是数字或布尔值。")}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_text")
        return str(super().to_internal_value(data))


class AttachmentSerializer(serializers.Serializer):
    name = TextField(max_length=255, required=False, allow_blank=True, default="")
    content_base64 = TextField()

    def validate_content_base64(self, value: str) -> bytes:
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise serializers.ValidationError(_("附件内容不是有效的 Base64。")) from None


class IdentitySerializer(serializers.Serializer):
    name = TextField(max_length=50, required=False, allow_blank=True, default="")
    mobile = TextField(max_length=20, required=False, allow_blank=True, default="")
    id_number = TextField(max_length=20, required=False, allow_blank=True, default="")
    sms_opt_in = serializers.BooleanField(required=False, default=False)


class ReportSubmitSerializer(serializers.Serializer):
    matter_type = serializers.ChoiceField(choices=MatterType.choices, required=False, allow_blank=True, default="")
    area_code = TextField(max_length=12, required=False, allow_blank=True, default="")
    place_detail = TextField(max_length=500, required=False, allow_blank=True, default="")
    title = TextField(max_length=500, required=False, allow_blank=True, default="")
    body = TextField(max_length=20000, trim_whitespace=True)
    occurred = TextField(max_length=500, required=False, allow_blank=True, default="")
    accused = TextField(max_length=500, required=False, allow_blank=True, default="")
    identity = IdentitySerializer(required=False, allow_null=True, default=None)
    attachments = AttachmentSerializer(many=True, required=False, default=list)


class MomentField(serializers.DateTimeField):
    """A date and time within the years anyone can mean (DRF runs Django validators)."""

    default_validators = [check_year]

    def to_internal_value(self, value: Any) -> Any:
        try:
            return super().to_internal_value(value)
        except OverflowError as exc:  # DRF's time-zone step on a naive time at the start of Python's range
            raise serializers.ValidationError(year_range_error().messages) from exc


class DayField(serializers.DateField):
    """A date within the years anyone can mean."""

    default_validators = [check_year]


class StaffReportSerializer(ReportSubmitSerializer):
    channel = serializers.ChoiceField(choices=[Channel.LETTER, Channel.VISIT, Channel.CALL])
    received_at = MomentField(required=False, allow_null=True, default=None)
    postmarked_on = DayField(required=False, allow_null=True, default=None)
    visitor_count = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1)
    representatives = serializers.ListField(
        child=TextField(max_length=50), required=False, default=list, max_length=20
    )
    caller_number = TextField(max_length=20, required=False, allow_blank=True, default="")
    call_started_at = MomentField(required=False, allow_null=True, default=None)
    call_duration_seconds = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=0)


class ReceiptSerializer(serializers.Serializer):
    receipt = TextField(max_length=40)

    def validate_receipt(self, value: str) -> str:
        # Malformed: a 400 before the look-up limits count it (see ReceiptLookupForm).
        try:
            return normalize_receipt(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None


class ReceiptMessageSerializer(ReceiptSerializer):
    body = TextField(max_length=5000)
    attachments = AttachmentSerializer(many=True, required=False, default=list)


class SubmissionResponseSerializer(serializers.Serializer):
    receipt = serializers.CharField(help_text="16 digits; shown once, keep it safe.")
    receipt_display = serializers.CharField()
    case_number = serializers.CharField()
    received_at = serializers.DateTimeField()
    channel = serializers.CharField()


def _uploads(items: list[dict[str, Any]]) -> list[UploadInput]:
    return [UploadInput(name=i.get("name", ""), data=i["content_base64"]) for i in items]


def _identity(data: dict[str, Any] | None) -> IdentityInput | None:
    # sms_opt_in counts: asking for SMS without a mobile number is an error to report, not
    # an anonymous report that silently gets no SMS.
    if not data or not any(data.get(k) for k in ("name", "mobile", "id_number", "sms_opt_in")):
        return None
    return IdentityInput(**data)


# The service names fields as the web forms do; the API's fields are `area_code` and the
# parts of `identity`.
_API_FIELDS = {"area": "area_code"}
_IDENTITY_FIELDS = frozenset(IdentitySerializer().fields)


def _api_errors(errors: dict[str, list[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, messages in errors.items():
        if name in _IDENTITY_FIELDS:
            out.setdefault("identity", {})[name] = messages
        else:
            out[_API_FIELDS.get(name, name)] = messages
    return out


def _claim(request: Request, scope: str) -> IdempotencyClaim | None:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return None
    if not 8 <= len(key) <= 200:
        raise serializers.ValidationError({"Idempotency-Key": [_("Idempotency-Key 长度应为8～200个字符。")]})
    # A keyed hash of the exact body: the same key with another body is a conflict.
    body = json.dumps(request.data, sort_keys=True, default=str, ensure_ascii=False).encode()
    fingerprint = crypto.keyed_hash("idempotency-body", hashlib.sha256(body).digest())
    return IdempotencyClaim(scope=scope, key=key, fingerprint=fingerprint)


def _created(result: SubmissionResult) -> Response:
    summary = handoff.case_summary(result.report.pk)
    assert result.receipt is not None
    payload = {
        "receipt": result.receipt,
        "receipt_display": format_receipt(result.receipt),
        "case_number": summary.number if summary else "",
        "received_at": result.report.received_at,
        "channel": result.report.channel,
    }
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    return Response(SubmissionResponseSerializer(payload).data, status=status.HTTP_201_CREATED, headers=headers)


def _submit(request: Request, data: ReportInput, *, scope: str, user: Any = None) -> Response:
    try:
        claim = _claim(request, scope)
        result = report_submit(data=data, logged_by=user, idempotency=claim)
    except SubmissionError as exc:
        return Response(_api_errors(exc.errors), status=status.HTTP_400_BAD_REQUEST)
    except IdempotencyConflict:
        return Response(
            {"Idempotency-Key": [_("该 Idempotency-Key 已用于另一内容不同的请求。")]}, status=status.HTTP_409_CONFLICT
        )
    return _created(result)


class AnonymousReportView(APIView):
    """Anonymous web submission; the response carries the receipt once."""

    authentication_classes: list[Any] = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(request=ReportSubmitSerializer, responses={201: SubmissionResponseSerializer}, parameters=[IDEMPOTENCY_HEADER])
    def post(self, request: Request) -> Response:
        serializer = ReportSubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if not abuse.allow_submission():
            return Response({"detail": _("当前提交人数较多，请稍后再试。")}, status=status.HTTP_429_TOO_MANY_REQUESTS)
        d = serializer.validated_data
        data = ReportInput(
            channel=Channel.WEB,
            source=Source.API,
            matter_type=d["matter_type"],
            area_code=d["area_code"],
            place_detail=d["place_detail"],
            title=d["title"],
            body=d["body"],
            occurred=d["occurred"],
            accused=d["accused"],
            identity=_identity(d["identity"]),
            attachments=_uploads(d["attachments"]),
        )
        return _submit(request, data, scope="anonymous")


_CHANNEL_PERMS = {Channel.LETTER: "intake.log_letter", Channel.VISIT: "intake.log_visit", Channel.CALL: "intake.log_call"}


class StaffReportView(APIView):
    """Staff channels (letters, visits, calls) and hotline systems, by token."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=StaffReportSerializer, responses={201: SubmissionResponseSerializer}, parameters=[IDEMPOTENCY_HEADER])
    def post(self, request: Request) -> Response:
        serializer = StaffReportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        d = serializer.validated_data
        if not request.user.has_perm(_CHANNEL_PERMS[d["channel"]]):
            raise PermissionDenied(_("您没有登记该渠道来件的权限。"))
        data = ReportInput(
            channel=d["channel"],
            source=Source.API,
            matter_type=d["matter_type"],
            area_code=d["area_code"],
            place_detail=d["place_detail"],
            title=d["title"],
            body=d["body"],
            occurred=d["occurred"],
            accused=d["accused"],
            identity=_identity(d["identity"]),
            attachments=_uploads(d["attachments"]),
            received_at=d["received_at"],
            postmarked_on=d["postmarked_on"],
            visitor_count=d["visitor_count"],
            representatives=d["representatives"],
            caller_number=d["caller_number"],
            call_started_at=d["call_started_at"],
            call_duration_seconds=d["call_duration_seconds"],
        )
        return _submit(request, data, scope=f"user:{request.user.pk}", user=request.user)


def _report_for_receipt(request: Request) -> Report | Response:
    serializer = ReceiptSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    if not abuse.allow_receipt_lookup():
        return Response({"detail": _("查询过于频繁，请稍后再试。")}, status=status.HTTP_429_TOO_MANY_REQUESTS)
    report = report_by_receipt(serializer.validated_data["receipt"])
    if report is None:
        abuse.record_failed_lookup()
        return Response({"detail": _("未找到与该查询码对应的记录。")}, status=status.HTTP_404_NOT_FOUND)
    return report


class StatusView(APIView):
    """Status and the visible thread of the case a receipt belongs to."""

    authentication_classes: list[Any] = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(request=ReceiptSerializer, responses={200: dict})
    def post(self, request: Request) -> Response:
        found = _report_for_receipt(request)
        if isinstance(found, Response):
            return found
        summary = handoff.case_summary(found.pk)
        thread = report_thread(found, for_reporter=True)
        return Response(
            {
                "case_number": summary.number if summary else "",
                "status": summary.status if summary else "",
                "status_label": summary.status_label if summary else "",
                "department": summary.department if summary else None,
                "deadline": summary.deadline if summary else None,
                "received_at": found.received_at,
                "messages": [
                    {
                        "direction": m.direction,
                        "kind": m.kind,
                        "body": m.body,
                        "created_at": m.created_at,
                        "attachments": [{"id": a.id, "name": a.name, "mime": a.mime, "size": a.size} for a in m.attachments],
                    }
                    for m in thread
                ],
            }
        )


class ReporterMessageView(APIView):
    """The reporter adds a message (an answer to a handler's question, or more facts)."""

    authentication_classes: list[Any] = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(request=ReceiptMessageSerializer, responses={201: dict})
    def post(self, request: Request) -> Response:
        serializer = ReceiptMessageSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        found = _report_for_receipt(request)
        if isinstance(found, Response):
            return found
        try:
            message = reporter_message_post(
                report=found, text=serializer.validated_data["body"], uploads=_uploads(serializer.validated_data["attachments"])
            )
        except SubmissionError as exc:
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        return Response({"created_at": message.created_at, "kind": message.kind}, status=status.HTTP_201_CREATED)
