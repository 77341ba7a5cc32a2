"""Celery tasks: thin adapters from a message (a job id) to the runner."""

import logging

from celery import signals

import image_importer
from image_importer.worker.celery import app
from image_importer.worker import runner
from image_importer.worker import subscriptions
from image_importer.worker import sweeper
from image_importer.worker import workdir

LOG = logging.getLogger(__name__)


@app.task(name='image_importer.tasks.run_import', ignore_result=True,
          bind=True)
def run_import(self, job_id):
    runner.run_job(job_id, node=self.request.hostname, enqueue=enqueue)


@app.task(name='image_importer.tasks.sweep', ignore_result=True)
def sweep():
    sweeper.sweep(enqueue)


@app.task(name='image_importer.tasks.check_subscriptions',
          ignore_result=True)
def check_subscriptions():
    subscriptions.check_due(enqueue)


@app.task(name='image_importer.tasks.check_subscription',
          ignore_result=True)
def check_subscription(sub_id):
    subscriptions.check(sub_id, enqueue)


def check_now(sub_id):
    """Send a subscription's look now (Check Now); if it cannot be sent,
    beat looks at it within ``SUBSCRIPTION_CHECK_INTERVAL``."""
    try:
        check_subscription.apply_async(args=[str(sub_id)], retry=False)
    except Exception:
        LOG.warning('Could not send the check of subscription %s; beat '
                    'will', sub_id, exc_info=True)


@signals.worker_ready.connect
def _sweep_at_start(**kwargs):
    """Pick up jobs left behind while no worker ran, and remove the work
    folders of jobs that cannot continue on this host."""
    LOG.info('Import worker %s ready (%s %s)',
             getattr(kwargs.get('sender'), 'hostname', '-'),
             image_importer.DISTRIBUTION, image_importer.__version__)
    sweep.delay()
    try:
        workdir.clean_work_dirs()
    except Exception:
        LOG.warning('Could not clean the work folder', exc_info=True)


def enqueue(job_id, countdown=None):
    """Send a job's message, after ``countdown`` seconds if given; if it
    cannot be sent, the sweeper sends one after ``REQUEUE_AFTER``."""
    try:
        run_import.apply_async(args=[str(job_id)], countdown=countdown,
                               retry=False)
    except Exception:
        LOG.warning('Could not queue import job %s; the sweeper will',
                    job_id, exc_info=True)
