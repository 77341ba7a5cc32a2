from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('image_importer', '0007_subscriptions'),
    ]

    operations = [
        migrations.AddField(
            model_name='subscription',
            name='result_params',
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
