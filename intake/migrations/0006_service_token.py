"""API tokens kept as keyed hashes (ServiceToken) instead of DRF's authtoken table, which
holds every token in the clear and whose admin lists them. Tokens made before keep working:
each is hashed into a ServiceToken and its plain row deleted (the app is no longer
installed; its table, if there is one, is left empty). Going back cannot restore them."""

import datetime

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone
from django.utils.dateparse import parse_datetime


def take_over_drf_tokens(apps, schema_editor):  # type: ignore[no-untyped-def]
    connection = schema_editor.connection
    if "authtoken_token" not in connection.introspection.table_names():
        return
    from intake.staff_auth import token_hash

    service_token = apps.get_model("intake", "ServiceToken")
    with connection.cursor() as cursor:
        cursor.execute("SELECT key, user_id, created FROM authtoken_token")
        rows = cursor.fetchall()
        for key, user_id, created in rows:
            if isinstance(created, str):  # SQLite: text, in UTC
                created = parse_datetime(created)
            if created is not None and timezone.is_naive(created):
                created = timezone.make_aware(created, datetime.timezone.utc)
            service_token.objects.create(user_id=user_id, name="迁移前建立的接口令牌", key_hash=token_hash(key),
                                         prefix=key[:8], created_at=created or timezone.now())
        cursor.execute("DELETE FROM authtoken_token")


class Migration(migrations.Migration):

    dependencies = [
        ('intake', '0005_staff_authenticator'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ServiceToken',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(help_text='例如：12345话务系统来电推送。', max_length=100, verbose_name='用途')),
                ('key_hash', models.CharField(editable=False, max_length=64, unique=True)),
                ('prefix', models.CharField(editable=False, max_length=12, verbose_name='令牌开头')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name='创建时间')),
                ('last_used_at', models.DateTimeField(blank=True, editable=False, null=True, verbose_name='最近使用')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='service_tokens', to=settings.AUTH_USER_MODEL, verbose_name='服务账号')),
            ],
            options={
                'verbose_name': '接口令牌',
                'verbose_name_plural': '接口令牌',
                'ordering': ['user__username', 'created_at'],
            },
        ),
        migrations.RunPython(take_over_drf_tokens, migrations.RunPython.noop),
    ]
