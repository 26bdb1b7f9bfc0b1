"""Migration 0002: a staff notice's in-app row and e-mail row become one row with a key
without the channel, on whichever database the suite runs (PostgreSQL in CI, SQLite by
default)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from tests.conftest import migrate_to

BEFORE = [("notifications", "0001_initial")]
AFTER = [("notifications", "0002_one_notice_per_recipient")]


@pytest.mark.django_db(transaction=True)
def test_0002_merges_the_channel_rows_of_a_staff_notice() -> None:
    now = timezone.now()
    try:
        apps = migrate_to(BEFORE)
        User = apps.get_model("auth", "User")
        Notification = apps.get_model("notifications", "Notification")
        both, mail_only, app_only = (User.objects.create(username=n) for n in ("both", "mail-only", "app-only"))

        def row(key: str, channel: str, **fields: Any) -> None:
            Notification.objects.create(key=key, kind="due_soon", channel=channel, created_at=now, **fields)

        row(f"due_soon:d1.0.0:in_app:{both.pk}", "in_app", recipient_id=both.pk, status="sent", sent_at=now, read_at=now)
        row(f"due_soon:d1.0.0:email:{both.pk}", "email", recipient_id=both.pk, status="dead", attempts=3)
        row(f"due_soon:d1.0.0:email:{mail_only.pk}", "email", recipient_id=mail_only.pk, status="sent", sent_at=now)
        row(f"due_soon:d1.0.0:in_app:{app_only.pk}", "in_app", recipient_id=app_only.pk, status="sent", sent_at=now)
        row("due_soon:d1.0.0:webhook:4", "webhook")
        row("citizen_news:e9:sms", "sms")

        apps = migrate_to(AFTER)
        Notification = apps.get_model("notifications", "Notification")
        rows = {n.key: (n.channel, n.in_app, n.status, n.read_at is not None) for n in Notification.objects.all()}
        assert rows == {
            f"due_soon:d1.0.0:user:{both.pk}": ("email", True, "dead", True),  # the send state of the e-mail
            f"due_soon:d1.0.0:user:{mail_only.pk}": ("email", False, "sent", False),
            f"due_soon:d1.0.0:user:{app_only.pk}": ("in_app", True, "sent", False),
            "due_soon:d1.0.0:webhook:4": ("webhook", False, "pending", False),
            "citizen_news:e9:sms": ("sms", False, "pending", False),
        }
        with pytest.raises(IntegrityError), transaction.atomic():  # the key stays unique
            row(f"due_soon:d1.0.0:user:{both.pk}", "in_app", recipient_id=both.pk)
    finally:
        migrate_to([])  # back to the latest schema for the tests after this one
