"""Helpers that build realistic reports through the real service."""

from __future__ import annotations

import io
from typing import Any

from intake.models import Channel, Source
from intake.services import IdentityInput, ReportInput, SubmissionResult, UploadInput, report_submit

SAMPLE_BODY = "东城区东关街道文化路小区楼道堆放杂物多年，物业不清理，存在消防隐患，请相关部门督促整改。"


def png_bytes(text: str = "") -> bytes:
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    if text:
        info.add_text("Author", text)
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def submit(**overrides: Any) -> SubmissionResult:
    fields: dict[str, Any] = {"channel": Channel.WEB, "source": Source.WEB_FORM, "body": SAMPLE_BODY}
    fields.update(overrides)
    if isinstance(fields.get("identity"), dict):
        fields["identity"] = IdentityInput(**fields["identity"])
    fields["attachments"] = [UploadInput(name=n, data=d) for n, d in fields.get("attachments", [])]
    return report_submit(data=ReportInput(**fields))
