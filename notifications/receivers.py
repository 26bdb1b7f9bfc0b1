"""Receivers of triage's signals: case events become notifications in their transaction."""

from __future__ import annotations

from typing import Any

from notifications.services import notify_case_events


def case_events_appended(sender: Any, *, events: list[Any], **kwargs: Any) -> None:
    notify_case_events(events)
