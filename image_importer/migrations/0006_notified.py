from django.db import migrations, models


class Migration(migrations.Migration):
    """Adds ``notified``: jobs that ended before it count as told (their
    users are not sent a message for each), new ones are not."""

    dependencies = [
        ('image_importer', '0005_find_checksum'),
    ]

    operations = [
        migrations.AddField(
            model_name='importjob',
            name='notified',
            field=models.BooleanField(default=True),
        ),
        migrations.AlterField(
            model_name='importjob',
            name='notified',
            field=models.BooleanField(default=False),
        ),
    ]
