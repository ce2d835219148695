"""Merchants the legacy import creates carry ``needs_setup`` and a ``setup_note`` (no login user yet, maybe
no known Blink username); a tip recipient the import could not resolve keeps an empty ``wallet_id``."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0006_growth_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='merchant',
            name='needs_setup',
            field=models.BooleanField(default=False, help_text='An operator still has to complete this merchant'),
        ),
        migrations.AddField(
            model_name='merchant',
            name='setup_note',
            field=models.CharField(blank=True, default='', help_text='What is missing, and why', max_length=255),
        ),
        migrations.AlterField(
            model_name='staff',
            name='wallet_id',
            field=models.CharField(blank=True, max_length=100),
        ),
    ]
