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
        return user is not None and user.is_authenticated and not staff_auth.otp_pending(user)

    # Evaluated only by the staff base template.
    return {"staff_ready": ready}
