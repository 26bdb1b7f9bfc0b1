"""Load the demo department tree, roles and staff logins (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from triage.demo import DEMO_PASSWORD, seed_demo_users, seed_organisation, seed_roles, seed_route_rules, seed_triage_defaults


class Command(BaseCommand):
    help = "Create or update the demo place tree, departments, roles and (with --users) staff logins."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--users", action="store_true", help="also create demo staff accounts for every role")

    def handle(self, *args: Any, **options: Any) -> None:
        seed_organisation()
        seed_roles()
        seed_triage_defaults()
        seed_route_rules()
        if options["users"]:
            from django.contrib.auth import get_user_model

            from intake.staff_auth import otp_required

            for username, role, department in seed_demo_users():
                user = get_user_model().objects.get(username=username)
                totp = "  + TOTP code (authenticator enrolled at first login)" if otp_required(user) else ""
                self.stdout.write(f"{username:10} {role:8} {department}  password: {DEMO_PASSWORD}{totp}")
        self.stdout.write(self.style.SUCCESS("Demo organisation loaded."))
