"""Category.model_label: the classifier's label for a category, apart from its display name
(existing categories keep their name as their label, which is what the model was trained on)."""

from django.db import migrations, models
from django.db.models import F


def fill(apps, schema_editor):  # type: ignore[no-untyped-def]
    apps.get_model("triage", "Category").objects.update(model_label=F("name"))


class Migration(migrations.Migration):
    dependencies = [("triage", "0018_calendaroverride_date_years")]

    operations = [
        migrations.AddField(
            model_name="category",
            name="model_label",
            field=models.CharField(max_length=40, null=True, verbose_name="模型标签"),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="category",
            name="model_label",
            field=models.CharField(max_length=40, unique=True, verbose_name="模型标签"),
        ),
    ]
