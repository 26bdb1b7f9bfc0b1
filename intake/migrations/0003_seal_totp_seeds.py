"""Seal the TOTP seeds already stored in plain hex (see intake/otp_seeds.py)."""

from django.db import migrations


def seal(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    from intake import crypto
    from intake.otp_seeds import seal_seed

    device = apps.get_model("otp_totp", "TOTPDevice")
    for row in device.objects.using(schema_editor.connection.alias).only("id", "user_id", "key").iterator():
        if row.key and not crypto.is_sealed_secret(row.key):
            device.objects.filter(pk=row.pk).update(key=seal_seed(row.key, user_id=row.user_id))


def unseal(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    from intake import crypto
    from intake.otp_seeds import open_seed

    device = apps.get_model("otp_totp", "TOTPDevice")
    for row in device.objects.using(schema_editor.connection.alias).only("id", "user_id", "key").iterator():
        if crypto.is_sealed_secret(row.key):
            device.objects.filter(pk=row.pk).update(key=open_seed(row.key, user_id=row.user_id))


class Migration(migrations.Migration):
    dependencies = [("intake", "0002_message_internal_kind"), ("otp_totp", "0003_add_timestamps")]

    operations = [migrations.RunPython(seal, unseal)]
