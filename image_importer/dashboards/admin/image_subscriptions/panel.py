from django.utils.translation import gettext_lazy as _

import horizon


class ImageSubscriptions(horizon.Panel):
    name = _('Image Subscriptions')
    slug = 'image_subscriptions'
    permissions = ('openstack.services.image',)
    policy_rules = (('image', 'context_is_admin'),)
