# The constraint in its own migration: on PostgreSQL the rows 0006 updated and deleted must
# be committed before the table is altered again.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('notifications', '0006_escalation_per_period'),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='escalation',
            constraint=models.UniqueConstraint(fields=('deadline', 'extended_amount', 'level'),
                                               name='one_escalation_per_period_step'),
        ),
    ]
