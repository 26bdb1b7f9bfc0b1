"""Signals triage sends so that later layers (notifications) can follow cases without
triage importing them."""

from django.dispatch import Signal

# Sent inside the transaction that appended them, with `events` (a list of CaseEvent,
# already saved). Receivers may write in that transaction; anything that leaves the
# system belongs in transaction.on_commit.
case_events_appended = Signal()
