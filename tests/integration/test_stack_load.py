"""The demo's and the tests' Keystone and Glance under many writers at once.

Their databases are SQLite files written by several server processes.
Many users importing together make Keystone create trusts and issue
trust-scoped tokens, and Glance create, fill and delete images, all at
the same moment: none of it may fail with "database is locked".
"""

import concurrent.futures
import datetime
import json
import os
import urllib.error
import urllib.request

import pytest

from tools import stack as stack_tool

pytestmark = pytest.mark.realstack

CALLERS = 12
ROUNDS = 4


def _send(method, url, body=None, token=None, data=None):
    """One call; (status, headers, body), errors included."""
    headers = {'Accept': 'application/json'}
    if body is not None:
        data = json.dumps(body).encode()
        headers['Content-Type'] = 'application/json'
    elif data is not None:
        headers['Content-Type'] = 'application/octet-stream'
    if token:
        headers['X-Auth-Token'] = token
    request = urllib.request.Request(url, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def _one_import(stack, user, index):
    """What one job asks of the stack: a trust (at submit), a token scoped
    to it (as the job starts), an image created, uploaded and deleted.
    The statuses of the calls that failed, with what they said."""
    failed = []

    def call(*args, **kwargs):
        status, headers, body = _send(*args, **kwargs)
        if status >= 500:
            failed.append((status, body[:300]))
        return status, headers, body

    token = stack.token(user)
    expires = (datetime.datetime.now(datetime.timezone.utc) +
               datetime.timedelta(hours=1, seconds=index))
    status, _, body = call('POST', f'{stack.keystone_url}/OS-TRUST/trusts', {
        'trust': {'trustor_user_id': stack.user_ids[user],
                  'trustee_user_id': stack.user_ids['image-importer'],
                  'project_id': stack.project_ids[user],
                  'roles': [{'name': 'member'}], 'impersonation': True,
                  'expires_at': expires.strftime(
                      '%Y-%m-%dT%H:%M:%S.000000Z')}},
        token=token)
    if status != 201:
        return failed or [(status, body[:300])]
    trust = json.loads(body)['trust']['id']
    password = stack_tool.USERS['image-importer'][0]
    status, headers, body = call('POST', f'{stack.keystone_url}/auth/tokens', {
        'auth': {'identity': {'methods': ['password'], 'password': {'user': {
            'name': 'image-importer', 'password': password,
            'domain': {'name': stack_tool.DOMAIN}}}},
            'scope': {'OS-TRUST:trust': {'id': trust}}}})
    if status != 201:
        return failed or [(status, body[:300])]
    job_token = headers['X-Subject-Token']
    status, _, body = call('POST', f'{stack.glance_url}/v2/images', {
        'name': f'load-{index}', 'disk_format': 'raw',
        'container_format': 'bare'}, token=job_token)
    if status == 201:
        image = json.loads(body)['id']
        call('PUT', f'{stack.glance_url}/v2/images/{image}/file',
             token=job_token, data=os.urandom(256 * 1024))
        call('DELETE', f'{stack.glance_url}/v2/images/{image}',
             token=job_token)
    call('DELETE', f'{stack.keystone_url}/OS-TRUST/trusts/{trust}',
         token=token)
    return failed


def test_many_imports_at_once_never_find_the_database_locked(stack):
    users = ('demo', 'alt')
    with concurrent.futures.ThreadPoolExecutor(CALLERS) as pool:
        outcomes = list(pool.map(
            lambda i: _one_import(stack, users[i % 2], i),
            range(CALLERS * ROUNDS)))

    failed = [f for outcome in outcomes for f in outcome]
    assert failed == []
    logs = ''.join((stack.log_dir / f'{name}.log').read_text(errors='replace')
                   for name in ('keystone', 'glance'))
    assert 'database is locked' not in logs
