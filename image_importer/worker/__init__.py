"""The import worker: the Celery application (``celery``, started as
``celery -A image_importer.worker worker``), its tasks (``tasks``, thin
adapters from a job id), the run of one job (``runner``, with its
``heartbeat`` and ``workdir``), the ``sweeper`` and the embedded
``broker``."""
