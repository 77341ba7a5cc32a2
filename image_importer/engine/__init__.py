"""Import pipeline: plain Python, no Django or Celery imports."""
