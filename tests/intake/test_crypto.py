"""Tests for envelope encryption: tampering, swapped rows and key rotation."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.db import connection

from intake import crypto
from intake.models import Report
from intake.selectors import report_content
from intake.services import rotate_keys
from tests.factories import submit


def test_it_round_trips_a_sealed_field() -> None:
    dk = crypto.new_data_key()
    aad = crypto.field_aad(table="report", row_id="r1", field="body")
    assert crypto.open_text(dk, crypto.seal_text(dk, "举报内容", aad=aad), aad=aad) == "举报内容"


def test_it_refuses_a_ciphertext_moved_to_another_field() -> None:
    dk = crypto.new_data_key()
    blob = crypto.seal_text(dk, "x", aad=crypto.field_aad(table="report", row_id="r1", field="body"))
    with pytest.raises(crypto.DecryptionError):
        crypto.open_text(dk, blob, aad=crypto.field_aad(table="report", row_id="r1", field="title"))


@pytest.mark.django_db
def test_it_fails_loudly_on_a_tampered_ciphertext(demo_org: None) -> None:
    report = submit().report
    blob = bytearray(bytes(Report.objects.get(pk=report.pk).body_ct))
    blob[-1] ^= 0x01
    Report.objects.filter(pk=report.pk).update(body_ct=bytes(blob))
    with pytest.raises(crypto.DecryptionError):
        report_content(Report.objects.get(pk=report.pk))


@pytest.mark.django_db
def test_it_fails_loudly_when_rows_are_swapped(demo_org: None) -> None:
    first, second = submit().report, submit(body="另一件事情：西城区白沙镇下洋村道路坑洼严重，雨天无法通行。").report
    a, b = Report.objects.get(pk=first.pk), Report.objects.get(pk=second.pk)
    # Swap the body ciphertexts, then also the wrapped keys: neither opens.
    Report.objects.filter(pk=a.pk).update(body_ct=bytes(b.body_ct))
    with pytest.raises(crypto.DecryptionError):
        report_content(Report.objects.get(pk=a.pk))
    Report.objects.filter(pk=a.pk).update(body_ct=bytes(a.body_ct), wrapped_key=bytes(b.wrapped_key))
    with pytest.raises(crypto.DecryptionError):
        report_content(Report.objects.get(pk=a.pk))


@pytest.mark.django_db
def test_rotate_keys_rewraps_everything_and_keeps_reports_readable(demo_org: None, settings: Any) -> None:
    old_key = base64.b64encode(b"\x01" * 32).decode()
    new_key = base64.b64encode(b"\x09" * 32).decode()
    settings.QINGFENG_KEYS = f"t1:{old_key}"
    crypto.reset_keyring_cache()
    try:
        ids = [submit(identity={"name": "张三", "mobile": "13800138000"}).report.pk for _ in range(7)]
        settings.QINGFENG_KEYS = f"t9:{new_key},t1:{old_key}"
        crypto.reset_keyring_cache()
        progress = rotate_keys(batch_size=3)
        assert progress.rewrapped == 14  # 7 reports and 7 identities
        assert set(Report.objects.values_list("key_id", flat=True)) == {"t9"}
        # The old key can now go: everything opens with the new key alone.
        settings.QINGFENG_KEYS = f"t9:{new_key}"
        crypto.reset_keyring_cache()
        for pk in ids:
            assert "消防隐患" in report_content(Report.objects.get(pk=pk)).body
        assert rotate_keys().rewrapped == 0  # resumable: a second run finds nothing left
    finally:
        crypto.reset_keyring_cache()


@pytest.mark.django_db
def test_receipt_is_stored_only_as_a_peppered_hash(demo_org: None) -> None:
    result = submit()
    assert result.receipt and len(result.receipt) == 16 and result.receipt.isdigit()
    stored = Report.objects.get(pk=result.report.pk).receipt_hash
    assert stored == crypto.receipt_hash(result.receipt)
    assert result.receipt not in stored
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM intake_report WHERE receipt_hash = %s", [result.receipt])
        assert cursor.fetchone()[0] == 0
