"""Template context for the staff pages: whether the signed-in user has passed every step
of signing in (a user who still owes a TOTP code sees no staff navigation)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest


def staff(request: HttpRequest) -> dict[str, Callable[[], bool]]:
    def ready() -> bool:
        from intake import staff_auth

        user: Any = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return False
        return not staff_auth.otp_required(user) or bool(getattr(user, "is_verified", lambda: False)())

    # Evaluated only by the staff base template.
    return {"staff_ready": ready}
