"""Migration 0005: a report's case becomes a foreign key with one primary case per report,
on whichever database the suite runs (PostgreSQL in CI, SQLite by default)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from tests.conftest import migrate_to
from tests.factories import submit

BEFORE = [("triage", "0004_case_triage_permission")]
AFTER = [("triage", "0005_case_split")]


@pytest.mark.django_db(transaction=True)
def test_0005_keeps_cases_and_allows_split_parts_but_one_primary_case(demo_org: None) -> None:
    report_id = submit().report.pk
    try:
        apps = migrate_to(BEFORE)
        Case = apps.get_model("triage", "Case")
        case = Case.objects.get(report_id=report_id)
        case.status = "awaiting_triage"
        case.save()
        with pytest.raises(IntegrityError), transaction.atomic():  # 0004: one case per report
            Case.objects.create(report_id=report_id, status="assigned")

        apps = migrate_to(AFTER)
        Case = apps.get_model("triage", "Case")
        Correction = apps.get_model("triage", "Correction")
        case = Case.objects.get(report_id=report_id)
        assert case.status == "awaiting_triage" and case.split_from_id is None
        Case.objects.create(report_id=report_id, split_from_id=case.pk, status="assigned")
        Case.objects.create(report_id=report_id, split_from_id=case.pk, status="assigned")
        assert Case.objects.filter(report_id=report_id).count() == 3
        with pytest.raises(IntegrityError), transaction.atomic():  # still one primary case
            Case.objects.create(report_id=report_id, status="assigned")
        assert [f.name for f in Correction._meta.get_fields() if f.name in {"kind", "note"}] == ["kind", "note"]
    finally:
        migrate_to([])  # back to the latest schema for the tests after this one
