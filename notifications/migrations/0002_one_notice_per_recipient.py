"""One notice row per staff recipient instead of one per channel (the deadline scan wrote
every staff notice twice), a unique constraint instead of unique=True on the key (no
pattern-ops index), and only the indexes readers need.

Existing rows are merged: a staff notice's in-app row and e-mail row become one row (the
e-mail row, with its send state, shown in the centre with the in-app row's read time), and
staff keys lose their channel ("kind:source:email:7" → "kind:source:user:7"), so a rescan
after the upgrade finds the notices already made. The recipient and department columns lose
their database constraints (see the model for why integrity holds without them)."""

from typing import Any

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def merge_channel_rows(apps: Any, schema_editor: Any) -> None:
    notification = apps.get_model("notifications", "Notification")
    rows = notification.objects.using(schema_editor.connection.alias)
    rows.filter(channel="in_app").update(in_app=True)
    in_app: dict[str, tuple[int, Any]] = {}
    for pk, key, read_at in rows.filter(channel="in_app", recipient__isnull=False).values_list("pk", "key", "read_at"):
        in_app[_staff_key(key)] = (pk, read_at)
    merged, renamed = [], []
    for row in rows.filter(channel="email", recipient__isnull=False).only("pk", "key"):
        row.key = _staff_key(row.key)
        twin = in_app.pop(row.key, None)
        if twin is not None:
            row.in_app, row.read_at = True, twin[1]
            merged.append(twin[0])
        renamed.append(row)
    for start in range(0, len(merged), 500):
        rows.filter(pk__in=merged[start:start + 500]).delete()
    rows.bulk_update(renamed, ["key", "in_app", "read_at"], batch_size=500)
    alone = [notification(pk=pk, key=key) for key, (pk, _read) in in_app.items()]
    rows.bulk_update(alone, ["key"], batch_size=500)


def _staff_key(key: str) -> str:
    prefix, _channel, user_id = key.rsplit(":", 2)
    return f"{prefix}:user:{user_id}"


class Migration(migrations.Migration):

    dependencies = [
        ('notifications', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='notification',
            name='notification_inbox',
        ),
        migrations.RemoveIndex(
            model_name='notification',
            name='notification_due_sends',
        ),
        migrations.AddField(
            model_name='notification',
            name='in_app',
            field=models.BooleanField(default=False, verbose_name='站内通知'),
        ),
        migrations.AlterField(
            model_name='notification',
            name='endpoint',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='notifications', to='notifications.webhookendpoint'),
        ),
        migrations.AlterField(
            model_name='notification',
            name='key',
            field=models.CharField(max_length=160),
        ),
        migrations.AlterField(
            model_name='notification',
            name='recipient',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='notifications', to=settings.AUTH_USER_MODEL, verbose_name='接收人'),
        ),
        migrations.AlterField(
            model_name='notification',
            name='department',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='triage.department', verbose_name='承办部门'),
        ),
        migrations.AddIndex(
            model_name='notification',
            index=models.Index(fields=['recipient', 'in_app', 'read_at'], name='notification_inbox'),
        ),
        migrations.AddIndex(
            model_name='notification',
            index=models.Index(condition=models.Q(('status__in', ['pending', 'held'])), fields=['status', 'next_attempt_at'], name='notification_due_sends'),
        ),
        migrations.AddIndex(
            model_name='notification',
            index=models.Index(condition=models.Q(('endpoint__isnull', False)), fields=['endpoint'], name='notification_endpoint'),
        ),
        migrations.AddConstraint(
            model_name='notification',
            constraint=models.UniqueConstraint(fields=('key',), name='notification_key_unique'),
        ),
        # Last: on PostgreSQL the deletes leave deferred trigger events that an ALTER TABLE
        # of the same table in this transaction would refuse.
        migrations.RunPython(merge_channel_rows, migrations.RunPython.noop),
    ]
