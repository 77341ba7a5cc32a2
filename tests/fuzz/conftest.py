"""Hypothesis profiles: ``ci`` (the default, a short campaign in
``./tools/test``) and ``long`` (``HII_FUZZ=long``)."""

import os

from hypothesis import HealthCheck
from hypothesis import settings

settings.register_profile(
    'ci', max_examples=150, deadline=2000, derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    'long', max_examples=20000, deadline=2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get('HII_FUZZ', 'ci'))
