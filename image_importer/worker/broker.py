"""The embedded broker: a SQLite file through kombu's SQLAlchemy transport.

kombu polls a virtual transport once a second, which every new job would
wait for in the queue; a look at a local SQLite file costs well under a
millisecond, so this one looks ten times a second. (kombu hands every
transport option of this transport to SQLAlchemy's ``create_engine``,
so the interval cannot be set as an option.)
"""

from kombu import transport
from kombu.transport import sqlalchemy

# The URL scheme: ``ALIAS+sqlite:///path``.
ALIAS = 'hiisqla'


class Transport(sqlalchemy.Transport):
    polling_interval = 0.1


# Imported by the Celery app (web side and worker alike), so both know the
# scheme.
transport.TRANSPORT_ALIASES.setdefault(ALIAS, __name__ + ':Transport')
