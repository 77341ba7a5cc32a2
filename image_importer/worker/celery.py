"""The Celery application of the import worker.

Start it with::

    DJANGO_SETTINGS_MODULE=openstack_dashboard.settings \
        celery -A image_importer.worker worker --beat

(the same settings as the dashboard, so it shares the job database and the
encryption key). With no ``IMAGE_IMPORTER['BROKER_URL']`` the embedded
broker keeps messages in a SQLite file under ``STATE_DIR``: no server is
needed,
and the job table plus the sweeper recover anything a message loses.
"""

import os

import celery

from image_importer import conf
from image_importer.worker import broker

os.environ.setdefault('DJANGO_SETTINGS_MODULE',
                      'openstack_dashboard.settings')


def celery_config():
    broker_url = conf.get('BROKER_URL')
    options = dict(conf.get('BROKER_TRANSPORT_OPTIONS'))
    # Beat's schedule (a pickle) lives here whatever the broker: private.
    state_dir = conf.private_dir('STATE_DIR')
    if not broker_url:
        # A SQLite file through kombu's SQLAlchemy transport: messages are
        # written in transactions. (kombu's filesystem transport lets a
        # worker read a message file before it is written, and the worker
        # dies on it.)
        database = os.path.join(state_dir, 'broker.sqlite3')
        broker_url = broker.ALIAS + '+sqlite:///' + database
    return {
        'broker_url': broker_url,
        'broker_transport_options': options,
        'broker_connection_retry_on_startup': True,
        'task_ignore_result': True,
        # A message only says "run job X" and is acknowledged when a worker
        # takes it, so a multi-hour import is never cut by RabbitMQ's
        # consumer_timeout or redelivered after Redis's visibility timeout.
        # If the worker dies, the job's lease runs out and the sweeper
        # queues it again: the job table, not the broker, is the truth.
        'task_acks_late': False,
        'worker_prefetch_multiplier': 1,
        # On Redis a worker takes a message only when a process is free,
        # so none waits unacknowledged behind a long job (Celery supports
        # this for Redis only; see docs/operations.md for RabbitMQ).
        'worker_disable_prefetch': broker_url.startswith(
            ('redis://', 'rediss://')),
        # A job past JOB_TIMEOUT gets SoftTimeLimitExceeded and fails with
        # a message (cleaning up after itself); one that ignores it is
        # killed a few minutes later, and its lease brings it back to the
        # sweeper, which fails it after MAX_ATTEMPTS.
        'task_soft_time_limit': conf.get('JOB_TIMEOUT'),
        'task_time_limit': conf.get('JOB_TIMEOUT') + 300,
        'worker_hijack_root_logger': False,
        'beat_schedule_filename': os.path.join(state_dir, 'beat-schedule'),
        'beat_schedule': {
            'sweep': {'task': 'image_importer.tasks.sweep',
                      'schedule': conf.get('SWEEP_INTERVAL')},
            'subscriptions': {
                'task': 'image_importer.tasks.check_subscriptions',
                'schedule': conf.get('SUBSCRIPTION_CHECK_INTERVAL')},
        },
    }


app = celery.Celery('image_importer', include=['image_importer.worker.tasks'])
app.conf.update(celery_config())
