from django.utils.translation import gettext_lazy as _

import horizon


class ImageImports(horizon.Panel):
    name = _('Image Imports')
    slug = 'image_imports'
    permissions = ('openstack.services.image',)
    policy_rules = (('image', 'context_is_admin'),)
