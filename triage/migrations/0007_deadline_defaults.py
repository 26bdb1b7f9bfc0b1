"""Load the statutory default deadline policies (admins edit them later)."""

from django.db import migrations


def load(apps, schema_editor):  # type: ignore[no-untyped-def]
    from triage.deadlines import seed_deadline_policies

    seed_deadline_policies(apps.get_model("triage", "DeadlinePolicy"))


class Migration(migrations.Migration):
    dependencies = [("triage", "0006_workflow")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
