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
