"""Simulating someone who rewrites the event log with the table owner's rights: the
append-only trigger (PostgreSQL, triage migrations 0011 and 0021) is switched off around the edit,
as such a person would have to, and switched back on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


@contextmanager
def owner_tampering(table: str = "triage_caseevent") -> Iterator[None]:
    """Around an edit of an append-only table (triage_caseevent, triage_configchangeseal):
    its trigger, named after the table, is off."""
    trigger = f"{table}_append_only"
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        # ALTER TABLE refuses while the transaction has deferred foreign-key checks pending.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
