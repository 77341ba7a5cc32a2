"""Import jobs for tests, with defaults for every required field."""

from image_importer.models import ImportJob


def make_job(project_id='p1', **fields):
    values = dict(project_id=project_id, user_id='u1', image_name='cirros',
                  source_url='https://images.example.org/cirros.qcow2',
                  glance_endpoint='http://glance.example.org:9292')
    values.update(fields)
    return ImportJob.objects.create(**values)
