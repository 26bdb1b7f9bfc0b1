"""Tests for the one submission service every channel uses."""

from __future__ import annotations

from typing import Any

import pytest

from intake.models import Attachment, Channel, IdempotencyRecord, Report, ReporterIdentity, Source
from intake.selectors import report_by_receipt, report_content
from intake.services import (
    IdempotencyClaim,
    IdempotencyConflict,
    ReportInput,
    SubmissionError,
    identity_reveal,
    report_submit,
)
from tests.factories import png_bytes, submit
from triage.models import Case, CaseStatus

pytestmark = pytest.mark.django_db


def _nothing_stored() -> bool:
    return not (Report.objects.exists() or Attachment.objects.exists() or ReporterIdentity.objects.exists()
                or Case.objects.exists())


def test_it_stores_an_encrypted_report_with_its_case(demo_org: None) -> None:
    result = submit(area_code="379901001002", accused="某物业公司", title="楼道杂物")
    report = Report.objects.get(pk=result.report.pk)
    assert report.cases.get().status == CaseStatus.RECEIVED
    content = report_content(report)
    assert content.area_name == "清河市东城区东关街道文化路社区"
    assert content.accused == "某物业公司" and content.title == "楼道杂物"
    assert report_by_receipt(result.receipt or "") == report


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"body": "太短"}, "body"),
        ({"body": "长" * 20001}, "body"),
        ({"matter_type": "bogus"}, "matter_type"),
        ({"area_code": "999999"}, "area"),
        ({"identity": {"mobile": "12345"}}, "mobile"),
        ({"identity": {"id_number": "110101199003077652"}}, "id_number"),
        ({"attachments": [("evil.jpg", b"MZ\x90\x00" + b"\x00" * 100)]}, "attachments"),
        ({"attachments": [("a.png", png_bytes())] * 6}, "attachments"),
        ({"channel": Channel.VISIT, "source": Source.STAFF_FORM, "visitor_count": 7,
          "representatives": ["甲", "乙", "丙", "丁", "戊", "己"]}, "representatives"),
        ({"channel": Channel.VISIT, "source": Source.STAFF_FORM}, "visitor_count"),
        ({"channel": Channel.CALL, "source": Source.STAFF_FORM, "caller_number": "abc"}, "caller_number"),
    ],
)
def test_it_rejects_bad_input_and_stores_nothing(demo_org: None, overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(SubmissionError) as exc:
        submit(**overrides)
    assert field in exc.value.errors
    assert all(exc.value.errors.values())
    assert _nothing_stored()


def test_it_keeps_identity_apart_and_reveals_it_only_with_a_reason(demo_org: None, django_user_model: Any) -> None:
    from django.contrib.auth.models import Permission

    result = submit(identity={"name": "李四", "mobile": "13900139000", "id_number": "11010519491231002X"})
    report = result.report
    assert report.is_named
    identity = ReporterIdentity.objects.get(report=report)
    assert identity.key_id and bytes(identity.wrapped_key) != bytes(Report.objects.get(pk=report.pk).wrapped_key)
    head = django_user_model.objects.create_user("head1", password="x-password-123")
    head.user_permissions.add(Permission.objects.get(codename="reveal_identity"))
    head = django_user_model.objects.get(pk=head.pk)
    with pytest.raises(SubmissionError):
        identity_reveal(report=report, user=head, reason="")
    revealed = identity_reveal(report=report, user=head, reason="需要联系实名举报人核实情况")
    assert revealed == {"name": "李四", "mobile": "13900139000", "id_number": "11010519491231002X"}
    assert report.access_records.filter(kind="reveal_identity", user=head).count() == 1


def test_it_refuses_to_reveal_identity_without_permission(demo_org: None, django_user_model: Any) -> None:
    report = submit(identity={"name": "王五"}).report
    handler = django_user_model.objects.create_user("plain", password="x-password-123")
    with pytest.raises(PermissionError):
        identity_reveal(report=report, user=handler, reason="想看看是谁")


def test_a_retried_submission_with_the_same_idempotency_key_creates_one_report(demo_org: None) -> None:
    claim = IdempotencyClaim(scope="anonymous", key="retry-key-0001", fingerprint="f" * 64)
    data = ReportInput(channel=Channel.WEB, source=Source.API, body="西城区望江社区路灯损坏一个月无人维修，夜间出行危险。")
    first = report_submit(data=data, idempotency=claim)
    second = report_submit(data=data, idempotency=claim)
    assert second.replayed and second.report.pk == first.report.pk and second.receipt == first.receipt
    assert Report.objects.count() == 1 and IdempotencyRecord.objects.count() == 1
    with pytest.raises(IdempotencyConflict):
        report_submit(data=data, idempotency=IdempotencyClaim(scope="anonymous", key="retry-key-0001", fingerprint="0" * 64))
    assert (first.receipt or "") not in bytes(IdempotencyRecord.objects.get().response_ct).decode("latin-1")


def test_a_stored_image_has_no_gps_exif(demo_org: None) -> None:
    import io

    from PIL import Image

    from intake.selectors import attachment_open

    exif = Image.Exif()
    exif[0x013B] = "Photographer Name"  # Artist
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (36.0, 40.0, 1.0), "E", (117.0, 0.0, 5.0)
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 120, 30)).save(buf, "JPEG", exif=exif.tobytes())
    report = submit(attachments=[("IMG_0001.jpg", buf.getvalue())]).report
    name, data = attachment_open(Attachment.objects.get(report=report))
    stored = Image.open(io.BytesIO(data))
    assert not stored.getexif().get_ifd(0x8825)
    assert b"Photographer" not in data and name.endswith(".jpg")
