"""The console's drill-down reads a figure's cases from one covering index of CaseFigures.
Built CONCURRENTLY on PostgreSQL (the figures refresh keeps writing meanwhile), so this
migration runs outside a transaction."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.migrations.operations import AddIndex

DRILL_COLUMNS = (
    "case_id", "department_id", "channel", "category_id", "matter_type", "is_primary", "rating", "review_requested",
    "extensions", "notice_late", "notice_ok", "notice_due", "notice_paused_late", "handle_late", "handle_ok",
    "handle_due", "handle_paused_late", "transfer_late", "transfer_ok", "transfer_due", "transfer_paused_late",
)


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL; a plain CREATE INDEX elsewhere (SQLite)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("triage", "0012_audit_runs"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="casefigures",
            index=models.Index(fields=["created_at"], include=DRILL_COLUMNS, name="figures_drill"),
        ),
    ]
