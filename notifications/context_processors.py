"""The unread count of the in-app notification centre, for the staff base template."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject


def unread_notifications(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from notifications.services import unread_count

    # Lazy: pages that do not show the count do not query it.
    return {"notifications_unread": SimpleLazyObject(lambda: unread_count(user))}  # type: ignore[arg-type]
