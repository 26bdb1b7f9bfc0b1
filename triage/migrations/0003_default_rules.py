"""Load the documented default categories and term rules (admins edit them later)."""

from django.db import migrations


def load(apps, schema_editor):  # type: ignore[no-untyped-def]
    from triage.defaults import CATEGORIES, MATTER_TERMS, URGENCY_TERMS, VIOLATION_TERMS

    category = apps.get_model("triage", "Category")
    rule = apps.get_model("triage", "TermRule")
    for name, suffix in CATEGORIES:
        category.objects.get_or_create(name=name, defaults={"department_suffix": suffix})
    if rule.objects.exists():
        return
    rows = [rule(kind="matter", label=label, term=term, weight=weight) for label, term, weight in MATTER_TERMS]
    rows += [rule(kind="violation", label=label, term=term, weight=weight) for label, term, weight in VIOLATION_TERMS]
    rows += [rule(kind="urgency", label="urgent", term=term, weight=1.0) for term in URGENCY_TERMS]
    rule.objects.bulk_create(rows)


class Migration(migrations.Migration):
    dependencies = [("triage", "0002_category_case_confidence_case_duplicate_of_and_more")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
