from django.db import migrations
from django.db import models


class Migration(migrations.Migration):

    dependencies = [
        ('image_importer', '0002_trust_attempts_worker'),
    ]

    operations = [
        migrations.AddField(
            model_name='importjob',
            name='project_name',
            field=models.CharField(blank=True, max_length=255),
        ),
    ]
