"""Timestamps read from PostgreSQL by psycopg's C loader, not Django's Python one.

Django (5.2, ``django.db.backends.postgresql.psycopg_any.BaseTzLoader``) registers on every connection a loader
for ``timestamptz`` that subclasses psycopg's *Python* ``TimestamptzLoader``, so each value is parsed by a regular
expression in Python and then given Django's time zone with ``replace()``. psycopg's C loader (the default when
the ``psycopg[binary]``/``psycopg-c`` extension is installed, as it is here) already returns an aware
``datetime`` in the session's ``TimeZone``, and Django sets that to UTC on every connection when ``USE_TZ`` is on:
its result is then the same value with the same ``tzinfo`` object, ``datetime.timezone.utc``.

Measured (2026-12-03, one worker, `bench/cpu_per_request.sh`, three alternating rounds): ``GET /api/customers``
(50 rows, six timestamp columns each) spent 15% of its worker's samples in Django's loader (py-spy); with the C
loader 126-140 req/s against 105-109, CPU per request 8.0-8.7 ms against 10.1-10.5. In-process, the page's query
alone: 7.3-8.2 ms against 8.9-9.8.

Installed only when Django's connection time zone is UTC (``USE_TZ`` and no per-database ``TIME_ZONE``); a
connection whose session ``TimeZone`` had been changed would still read correct instants, in that zone.

On a Django upgrade, check ``psycopg_any.register_tzloader`` and ``DatabaseWrapper.create_cursor``: the latter
re-registers Django's loader on a cursor unless the connection's loader has a ``timezone`` attribute equal to
the connection's time zone, which this class carries.
"""

from __future__ import annotations

import datetime as dt

from django.db.backends.signals import connection_created
from django.dispatch import receiver
from psycopg import adapters
from psycopg.adapt import Loader
from psycopg.pq import Format

_TIMESTAMPTZ = adapters.types["timestamptz"].oid
_CLoader = adapters.get_loader(_TIMESTAMPTZ, Format.TEXT)  # psycopg's default: the C one when installed


class UtcTimestamptzLoader(Loader):
    """psycopg's C loader (a final type, so wrapped rather than subclassed) with the ``timezone`` attribute
    Django's create_cursor compares with its connection's time zone."""

    timezone = dt.UTC

    def __init__(self, oid: int, context=None):
        super().__init__(oid, context)
        # An instance attribute: psycopg's row loader fetches `load` once per column and calls the C method.
        self.load = _CLoader(oid, context).load

    def load(self, data):  # the abstract method: every instance shadows it with the C one
        raise NotImplementedError


@receiver(connection_created, dispatch_uid="vanguard.core.pg_loaders")
def use_c_timestamp_loader(sender, connection, **kwargs) -> None:
    if connection.vendor != "postgresql" or connection.timezone is not dt.UTC:
        return
    if getattr(_CLoader, "__module__", "").startswith("psycopg.types"):
        return  # no C extension: Django's loader is as fast as psycopg's Python one
    native = connection.connection.adapters
    if native.get_loader(_TIMESTAMPTZ, Format.TEXT) is not UtcTimestamptzLoader:
        native.register_loader(_TIMESTAMPTZ, UtcTimestamptzLoader)
