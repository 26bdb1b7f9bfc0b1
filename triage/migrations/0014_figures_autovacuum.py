"""Vacuum the dashboard figures tables often (PostgreSQL).

`triage_casefigures` has one row per case and every refresh rewrites the rows of the
changed cases; at the default autovacuum thresholds (20 % of the table) a million-row
table is vacuumed only after some 200,000 rewritten rows, and until then the dashboards'
and the drill-down's index-only scans visit the heap for every dead row (measured at 1M
cases: short drill-down lists went from ~60 to 130-230 ms after refreshing 8,550 changed
cases, and back after a VACUUM). The queue table is written and emptied every minute.
"""

from django.db import migrations

TABLES = {
    "triage_casefigures": "autovacuum_vacuum_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.02, "
    "autovacuum_vacuum_insert_scale_factor = 0.01",
    "triage_figuresdirty": "autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 5000",
}


def forwards(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        for table, options in TABLES.items():
            schema_editor.execute(f"ALTER TABLE {table} SET ({options})")


def backwards(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        for table, options in TABLES.items():
            names = ", ".join(option.split("=")[0].strip() for option in options.split(","))
            schema_editor.execute(f"ALTER TABLE {table} RESET ({names})")


class Migration(migrations.Migration):
    dependencies = [("triage", "0013_figures_drill_index")]

    operations = [migrations.RunPython(forwards, backwards)]
