"""Read paths of intake: receipts, and decrypted views for authorised readers."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.core.cache import cache

from intake import crypto
from intake.models import Area, Attachment, Message, MessageKind, Report
from intake.services import report_data_key
from intake.validators import normalize_receipt


def report_by_receipt(code: str) -> Report | None:
    """The report a receipt belongs to, or None: wrong and unknown look the same."""
    try:
        digits = normalize_receipt(code)
    except Exception:  # noqa: BLE001 - any malformed input is simply "not found"
        return None
    return Report.objects.filter(receipt_hash=crypto.receipt_hash(digits)).first()


@dataclass(frozen=True)
class AttachmentInfo:
    id: str
    name: str
    kind: str
    mime: str
    size: int


@dataclass(frozen=True)
class ReportContent:
    title: str
    body: str
    accused: str
    area_code: str
    area_name: str
    place_detail: str
    occurred: str
    representatives: list[str] = field(default_factory=list)
    attachments: list[AttachmentInfo] = field(default_factory=list)


@dataclass(frozen=True)
class MessageView:
    id: str
    direction: str
    kind: str
    kind_label: str
    body: str
    created_at: datetime
    attachments: list[AttachmentInfo]
    visible_to_reporter: bool = True
    author: str = ""


def _open(dk: bytes, blob: bytes | memoryview | None, *, table: str, row_id: object, name: str) -> str:
    if blob is None:
        return ""
    return crypto.open_text(dk, bytes(blob), aad=crypto.field_aad(table=table, row_id=str(row_id), field=name))


def _attachment_infos(dk: bytes, attachments: list[Attachment]) -> list[AttachmentInfo]:
    return [
        AttachmentInfo(
            id=str(a.pk),
            name=_open(dk, a.name_ct, table="attachment", row_id=a.pk, name="name"),
            kind=a.kind,
            mime=a.mime,
            size=a.size,
        )
        for a in attachments
    ]


def report_content(report: Report) -> ReportContent:
    """Decrypt a report in memory. Callers that show it to a person record the access."""
    dk = report_data_key(report)
    place = json.loads(_open(dk, report.place_ct, table="report", row_id=report.pk, name="place") or "{}")
    area_code = place.get("area", "")
    area_name = ""
    if area_code:
        area = Area.objects.filter(code=area_code).only("full_name", "name").first()
        area_name = str(area) if area else ""
    attachments = list(report.attachments.filter(message__isnull=True).order_by("created_at"))
    return ReportContent(
        title=_open(dk, report.title_ct, table="report", row_id=report.pk, name="title"),
        body=_open(dk, report.body_ct, table="report", row_id=report.pk, name="body"),
        accused=_open(dk, report.accused_ct, table="report", row_id=report.pk, name="accused"),
        area_code=area_code,
        area_name=area_name,
        place_detail=place.get("detail", ""),
        occurred=_open(dk, report.occurred_ct, table="report", row_id=report.pk, name="occurred"),
        attachments=_attachment_infos(dk, attachments),
    )


@dataclass(frozen=True)
class ReportText:
    """What triage reads of a report: its words and chosen place, nothing else."""

    title: str
    body: str
    accused: str
    area_code: str
    place_detail: str


def report_text(report: Report) -> ReportText:
    """Decrypt the fields triage reads, in memory, with no further queries (no place name,
    no attachments): the batch worker calls this for every report it triages."""
    dk = report_data_key(report)
    place = json.loads(_open(dk, report.place_ct, table="report", row_id=report.pk, name="place") or "{}")
    return ReportText(
        title=_open(dk, report.title_ct, table="report", row_id=report.pk, name="title"),
        body=_open(dk, report.body_ct, table="report", row_id=report.pk, name="body"),
        accused=_open(dk, report.accused_ct, table="report", row_id=report.pk, name="accused"),
        area_code=place.get("area", ""),
        place_detail=place.get("detail", ""),
    )


def report_thread(report: Report, *, for_reporter: bool) -> list[MessageView]:
    dk = report_data_key(report)
    messages = (Message.objects.filter(report=report).select_related("author").prefetch_related("attachments")
                .order_by("created_at"))
    if for_reporter:
        messages = messages.filter(visible_to_reporter=True).exclude(kind=MessageKind.INTERNAL)
    return [
        MessageView(
            id=str(m.pk),
            direction=m.direction,
            kind=m.kind,
            kind_label=str(m.get_kind_display()),
            body=_open(dk, m.body_ct, table="message", row_id=m.pk, name="body"),
            created_at=m.created_at,
            attachments=_attachment_infos(dk, list(m.attachments.all())),
            visible_to_reporter=m.visible_to_reporter,
            author="" if for_reporter or m.author is None else m.author.get_username(),
        )
        for m in messages
    ]


def attachment_open(attachment: Attachment) -> tuple[str, bytes]:
    """The decrypted name and bytes of an attachment."""
    dk = report_data_key(attachment.report)
    aad = crypto.field_aad
    name = crypto.open_text(dk, bytes(attachment.name_ct), aad=aad(table="attachment", row_id=str(attachment.pk), field="name"))
    data = crypto.open_sealed(
        dk, bytes(attachment.content_ct), aad=aad(table="attachment", row_id=str(attachment.pk), field="content")
    )
    return name, data


logger = logging.getLogger(__name__)
_AREA_CHOICES_KEY = "intake:area-choices:v1"
AREA_CACHE_SECONDS = 300


def area_choices() -> list[tuple[str, str]]:
    """All places for a select, indented by level; cached, forgotten when a place changes."""
    choices: list[tuple[str, str]] | None = cache.get(_AREA_CHOICES_KEY)
    if choices is None:
        rows = Area.objects.order_by("code").values_list("code", "full_name", "level")
        choices = [(code, ("\u3000" * (level - 1)) + full_name) for code, full_name, level in rows]
        cache.set(_AREA_CHOICES_KEY, choices, AREA_CACHE_SECONDS)
    return choices


def forget_area_choices() -> None:
    """Drop the cached place list and the cached blank citizen form that shows it."""
    from django.conf import settings
    from django.core.cache.utils import make_template_fragment_key

    keys = [_AREA_CHOICES_KEY]
    keys += [make_template_fragment_key("citizen_report_form", [code]) for code, _name in settings.LANGUAGES]
    try:
        cache.delete_many(keys)
    except Exception:  # noqa: BLE001 - e.g. the cache table not created yet; entries expire anyway
        logger.warning("Could not drop cached place list; it expires within %d s.", AREA_CACHE_SECONDS)
