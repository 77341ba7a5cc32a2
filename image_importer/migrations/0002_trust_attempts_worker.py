from django.db import migrations
from django.db import models


class Migration(migrations.Migration):

    dependencies = [
        ('image_importer', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='importjob',
            name='trust_id',
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name='importjob',
            name='attempts',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='importjob',
            name='worker',
            field=models.CharField(blank=True, max_length=255),
        ),
    ]
