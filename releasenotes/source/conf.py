# Sphinx configuration of horizon-image-importer's release notes, built
# from releasenotes/notes/ by reno's Sphinx extension:
#   sphinx-build -b html releasenotes/source releasenotes/build/html

extensions = ['reno.sphinxext']

project = 'horizon-image-importer Release Notes'
copyright = 'horizon-image-importer developers'
master_doc = 'index'
source_suffix = '.rst'
exclude_patterns = []
templates_path = ['_templates']
html_static_path = ['_static']
html_theme = 'alabaster'
# Release notes carry their own version numbers (from git tags).
version = ''
release = ''
