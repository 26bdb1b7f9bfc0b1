"""Template context for the staff pages: whether to offer the handler console and the
dashboards, and the years whose holidays are missing from the working-day calendar."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest


def console(request: HttpRequest) -> dict[str, Callable[[], object]]:
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

    from triage.workdays import calendar_gaps_cached

    # Evaluated only by the staff base template, for a signed-in user.
    return {"console_nav": shown, "dashboard_nav": dashboard_shown, "calendar_gaps": calendar_gaps_cached}
