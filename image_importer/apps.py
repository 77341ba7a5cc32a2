from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ImageImporterConfig(AppConfig):
    name = 'image_importer'
    verbose_name = _('Image Importer')
    default_auto_field = 'django.db.models.BigAutoField'
