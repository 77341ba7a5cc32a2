"""The Celery application of the import worker.

Start it with::

    DJANGO_SETTINGS_MODULE=openstack_dashboard.settings \
        celery -A image_importer.worker worker --beat

(the same settings as the dashboard, so it shares the job database and the
encryption key). With no ``IMAGE_IMPORTER['BROKER_URL']`` the embedded
broker keeps messages as files under ``STATE_DIR``: no server is needed,
and the job table plus the sweeper recover anything a message loses.
"""

import os

import celery

os.environ.setdefault('DJANGO_SETTINGS_MODULE',
                      'openstack_dashboard.settings')


def celery_config():
    from image_importer import conf

    broker_url = conf.get('BROKER_URL')
    options = dict(conf.get('BROKER_TRANSPORT_OPTIONS'))
    state_dir = conf.get('STATE_DIR')
    if not broker_url:
        queue_dir = os.path.join(state_dir, 'broker')
        os.makedirs(queue_dir, exist_ok=True)
        broker_url = 'filesystem://'
        options.update(data_folder_in=queue_dir, data_folder_out=queue_dir,
                       store_processed=False)
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
        'worker_hijack_root_logger': False,
        'beat_schedule_filename': os.path.join(state_dir, 'beat-schedule'),
        'beat_schedule': {
            'sweep': {'task': 'image_importer.tasks.sweep',
                      'schedule': float(conf.get('SWEEP_INTERVAL'))},
        },
    }


app = celery.Celery('image_importer', include=['image_importer.tasks'])
app.conf.update(celery_config())
