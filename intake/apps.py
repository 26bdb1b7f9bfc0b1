"""App configuration for intake."""

from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntakeConfig(AppConfig):
    name = "intake"
    verbose_name = _("受理")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from intake.models import Area

        def forget_places(sender: Any, **kwargs: Any) -> None:
            from django.db import transaction

            from intake.selectors import forget_area_choices

            # After commit: a cache problem must never undo or break the place edit.
            transaction.on_commit(forget_area_choices)

        post_save.connect(forget_places, sender=Area, weak=False, dispatch_uid="intake.forget_places_save")
        post_delete.connect(forget_places, sender=Area, weak=False, dispatch_uid="intake.forget_places_delete")

        from django.contrib.auth.signals import user_logged_in

        def mark_session(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
            from intake.staff_auth import session_started

            if request is not None and hasattr(request, "session"):
                session_started(request.session)

        user_logged_in.connect(mark_session, weak=False, dispatch_uid="intake.mark_session")

        from intake import otp_seeds

        otp_seeds.connect()

        from intake.staff_auth import connect_enrolment_windows

        connect_enrolment_windows()

        from django.db import connection

        if connection.vendor == "sqlite":
            _store_sqlite_datetimes_in_utc()


def _store_sqlite_datetimes_in_utc() -> None:
    """SQLite (the embedded default) keeps datetimes as text, in UTC, without an offset: the
    ORM writes them so. A datetime passed to raw SQL (the set-based deadline scan, the
    digests, the dashboards) went through Django's adapter, which writes it as
    `isoformat(" ")` with its offset: a Shanghai-time bound "2026-10-25 23:59:59+08:00"
    then compared as text with "2026-10-25 16:29:59" and an escalation came eight hours
    early. Registered after Django's own adapter (loaded with the backend), this one
    writes what the ORM writes; PostgreSQL compares timestamps, not text."""
    import sqlite3
    from datetime import UTC, datetime

    def adapt(value: datetime) -> str:
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(" ")

    sqlite3.register_adapter(datetime, adapt)
