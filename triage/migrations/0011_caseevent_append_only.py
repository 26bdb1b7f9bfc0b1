"""The case event log refuses UPDATE and DELETE in the database itself (PostgreSQL).

The hash chain (triage.audit) detects a rewritten event after the fact; this trigger stops
the rewrite in the first place for anyone who is not the table's owner: the application's
own connection, a mistaken bulk update, an admin action, a psql session with the app role.
Disabling it takes `ALTER TABLE … DISABLE TRIGGER`, which needs ownership of the table and
is itself visible in the server's DDL log. TRUNCATE is left alone (it needs the table's
owner too, and the test runner's flush uses it).

SQLite (the embedded development default) gets no trigger: Django flushes SQLite tables
with DELETE, so the trigger would break every transactional test there, and nobody runs
production on SQLite.
"""

from django.db import migrations

FUNCTION = "triage_caseevent_append_only"
TRIGGER = "triage_caseevent_append_only"

CREATE = [
    f"CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"RAISE EXCEPTION 'triage_caseevent is append-only: %% of event %% refused', TG_OP, OLD.id "
    f"USING ERRCODE = 'restrict_violation'; END $$",
    f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE OR DELETE ON triage_caseevent "
    f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()",
]
DROP = [f"DROP TRIGGER IF EXISTS {TRIGGER} ON triage_caseevent", f"DROP FUNCTION IF EXISTS {FUNCTION}()"]


def install(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        for sql in CREATE:
            schema_editor.execute(sql)


def remove(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        for sql in DROP:
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("triage", "0010_dashboard_figures")]

    operations = [migrations.RunPython(install, remove)]
