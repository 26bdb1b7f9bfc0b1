"""Template context for the staff pages: whether to offer the handler console."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest


def console(request: HttpRequest) -> dict[str, Callable[[], bool]]:
    """`console_nav`, evaluated only by templates that show it (the staff pages)."""

    def shown() -> bool:
        from triage.console_views import CONSOLE_ROLES
        from triage.workflow import roles_of

        user: Any = getattr(request, "user", None)
        return bool(user is not None and user.is_authenticated and roles_of(user) & CONSOLE_ROLES)

    def dashboard_shown() -> bool:
        from triage.dashboard_views import DASHBOARD_ROLES
        from triage.workflow import roles_of

        user: Any = getattr(request, "user", None)
        return bool(user is not None and user.is_authenticated
                    and (user.is_superuser or roles_of(user) & DASHBOARD_ROLES))

    return {"console_nav": shown, "dashboard_nav": dashboard_shown}
