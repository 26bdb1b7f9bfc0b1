"""The hash chain over the admin's change record (triage/audit.py): its tables, its head
row, the entries written so far sealed in id order, as they stand today, and on PostgreSQL
the same append-only trigger as the case events' (0011) on its links."""

from django.db import migrations, models


def seal_existing(apps, schema_editor):  # type: ignore[no-untyped-def]
    from triage.audit import GENESIS, _ENTRY_FIELDS, _entry_hash

    log_entry = apps.get_model("admin", "LogEntry")
    seal = apps.get_model("triage", "ConfigChangeSeal")
    seq, head = 0, GENESIS
    seals = []
    for row in log_entry.objects.order_by("pk").values_list(*_ENTRY_FIELDS).iterator(chunk_size=2000):
        seq += 1
        digest = _entry_hash(seq, row, head)
        seals.append(seal(seq=seq, entry_id=row[0], prev_hash=head, hash=digest))
        head = digest
    seal.objects.bulk_create(seals, batch_size=2000)
    apps.get_model("triage", "ConfigChainHead").objects.create(pk=1, seq=seq, head=head)


def unseal(apps, schema_editor):  # type: ignore[no-untyped-def]
    apps.get_model("triage", "ConfigChangeSeal").objects.all().delete()
    apps.get_model("triage", "ConfigChainHead").objects.all().delete()


TRIGGER = FUNCTION = "triage_configchangeseal_append_only"


def install_trigger(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"RAISE EXCEPTION 'triage_configchangeseal is append-only: %% of link %% refused', TG_OP, OLD.seq "
            f"USING ERRCODE = 'restrict_violation'; END $$")
        schema_editor.execute(f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE OR DELETE ON triage_configchangeseal "
                              f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()")


def remove_trigger(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON triage_configchangeseal")
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")


class Migration(migrations.Migration):

    dependencies = [
        ("admin", "0003_logentry_add_action_flag_choices"),
        ('triage', '0020_field_labels'),
    ]

    operations = [
        migrations.CreateModel(
            name='ConfigChainHead',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('seq', models.PositiveIntegerField(default=0)),
                ('head', models.CharField(default='0000000000000000000000000000000000000000000000000000000000000000', max_length=64)),
            ],
        ),
        migrations.CreateModel(
            name='ConfigChangeSeal',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('seq', models.PositiveIntegerField(unique=True)),
                ('entry_id', models.BigIntegerField(unique=True)),
                ('prev_hash', models.CharField(max_length=64)),
                ('hash', models.CharField(max_length=64)),
            ],
            options={
                'ordering': ['seq'],
            },
        ),
        migrations.AddField(
            model_name='auditrun',
            name='config_broken',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='auditrun',
            name='config_changes',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(seal_existing, unseal),
        migrations.RunPython(install_trigger, remove_trigger),
    ]
