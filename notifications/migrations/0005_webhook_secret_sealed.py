"""Webhook signing keys sealed at rest (intake.crypto.seal_secret), shown once in the admin
instead of on every visit to an endpoint's page. Existing keys are sealed as they are, so
receivers keep verifying; going back opens them again."""

from django.db import migrations, models

# The same as notifications.models.WEBHOOK_SECRET_AAD (a migration does not import models).
AAD = b"qingfeng/field/v1|notifications_webhookendpoint|*|secret"


def seal(apps, schema_editor):  # type: ignore[no-untyped-def]
    from intake import crypto

    endpoint = apps.get_model("notifications", "WebhookEndpoint")
    for row in endpoint.objects.all():
        if not crypto.is_sealed_secret(row.secret_sealed):
            row.secret_sealed = crypto.seal_secret(row.secret_sealed.encode(), aad=AAD)
            row.save(update_fields=["secret_sealed"])


def unseal(apps, schema_editor):  # type: ignore[no-untyped-def]
    from intake import crypto

    endpoint = apps.get_model("notifications", "WebhookEndpoint")
    for row in endpoint.objects.all():
        if crypto.is_sealed_secret(row.secret_sealed):
            row.secret_sealed = crypto.open_secret(row.secret_sealed, aad=AAD).decode()
            row.save(update_fields=["secret_sealed"])


class Migration(migrations.Migration):
    dependencies = [("notifications", "0004_field_labels")]

    operations = [
        migrations.RenameField(model_name="webhookendpoint", old_name="secret", new_name="secret_sealed"),
        migrations.AlterField(
            model_name="webhookendpoint",
            name="secret_sealed",
            field=models.CharField(editable=False, max_length=200),
        ),
        migrations.RunPython(seal, unseal),
    ]
