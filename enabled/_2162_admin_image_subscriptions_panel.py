# The slug of the panel to be added to HORIZON_CONFIG. Required.
PANEL = 'image_subscriptions'
# The slug of the dashboard the PANEL associated with. Required.
PANEL_DASHBOARD = 'admin'
# The slug of the panel group the PANEL is associated with.
PANEL_GROUP = 'compute'

# Python panel class of the PANEL to be added.
ADD_PANEL = ('image_importer.dashboards.admin.image_subscriptions.panel.'
             'ImageSubscriptions')
# The app itself is added by _1051_project_image_imports_panel.py.
