"""Receivers of triage's signals: case events become notifications in their transaction."""

from __future__ import annotations

from typing import Any

from notifications.services import notify_case_events


def case_events_appended(sender: Any, *, events: list[Any], cases_current: bool = False, **kwargs: Any) -> None:
    # cases_current: the sender saved each event's case as it is in memory (no reload needed).
    notify_case_events(events, cases={e.case_id: e.case for e in events} if cases_current else None)
