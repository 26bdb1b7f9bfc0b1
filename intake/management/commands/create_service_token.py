"""Make an API token for an integration's service account and print it, once."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from intake.staff_auth import TokenError, create_service_token


class Command(BaseCommand):
    help = (
        "Make an API token for a service account (one that needs no TOTP step) and print it as the only "
        "line of output. Only its keyed hash is stored: it cannot be shown again."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="what the token is for, e.g. the telephony push")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']!r}")
        try:
            _token, key = create_service_token(user=user, name=options["name"])
        except TokenError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(key)
