"""Import VM images into Glance from a URL, from the OpenStack dashboard."""
