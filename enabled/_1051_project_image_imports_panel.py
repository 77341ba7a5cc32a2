# The slug of the panel to be added to HORIZON_CONFIG. Required.
PANEL = 'image_imports'
# The slug of the dashboard the PANEL associated with. Required.
PANEL_DASHBOARD = 'project'
# The slug of the panel group the PANEL is associated with.
PANEL_GROUP = 'compute'

# Python panel class of the PANEL to be added.
ADD_PANEL = ('image_importer.dashboards.project.image_imports.panel.'
             'ImageImports')
ADD_INSTALLED_APPS = ['image_importer']
# Polling and the cancel confirmation's wording (both panels' tables).
ADD_JS_FILES = ['image_importer/js/image_imports.js']
