"""Open a staff member's window to enrol an authenticator (intake.models.EnrolmentWindow)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils.timezone import localtime

from intake import staff_auth


class Command(BaseCommand):
    help = (
        "Let a staff member who needs a TOTP code, and has no authenticator, enrol one at the next sign-in "
        "(for QINGFENG_TOTP_ENROLMENT_HOURS, or --hours). Prints the window's end."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("--hours", type=int, default=None, help="the window's length (1 to 720 hours)")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']!r}")
        hours = options["hours"]
        if hours is not None and not 1 <= hours <= 720:
            raise CommandError("--hours must be between 1 and 720")
        if not user.is_active:
            raise CommandError(f"{user.get_username()} is deactivated")
        if not staff_auth.otp_required(user):
            raise CommandError(f"{user.get_username()} signs in without a TOTP code: nothing to enrol")
        if staff_auth.has_authenticator(user):
            raise CommandError(f"{user.get_username()} has an authenticator: remove it in the admin first")
        until = staff_auth.open_enrolment(user, hours=hours)
        self.stdout.write(f"{user.get_username()} may enrol an authenticator until {localtime(until):%Y-%m-%d %H:%M %Z}")
