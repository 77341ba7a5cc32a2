"""Horizon enabled files of horizon-image-importer (see README)."""
