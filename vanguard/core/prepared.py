"""Hot by-primary-key reads whose SQL is compiled once per database connection, not once per call.

`queryset.get(pk=...)` builds a Query (clone, `select_related`, `only`, the filter) and compiles it (the select
list, the join, the deferred columns) on every call: for the policy a detail page or a claim's lock reads, that was
0.3 ms of the 0.5 ms the read cost, against 0.1 ms for the statement itself. `PreparedGet` compiles the queryset
once for each connection, keeps Django's compiler, and for each call runs the same SQL with the new key and builds
the instance exactly as `ModelIterable` does (the compiler's converters, `Model.from_db`, the `select_related`
populators): the same object, the same deferred fields, the same `post_init`, the same `DoesNotExist`.

A plan belongs to one connection because the compiler and its converters are bound to it (connections are per
thread); it is kept on the connection's wrapper (`connection_cache`), so it lives and goes with it. Relies on
Django's `SQLCompiler.as_sql`/`results_iter`/`select`/`klass_info` and `get_related_populators` (Django 5.2,
pinned; docs/architecture.md). Measured: see `PreparedGet` and `RowReader`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError

M = TypeVar("M", bound=Model)


def connection_cache(connection: BaseDatabaseWrapper, name: str, factory: Callable[[], dict] = dict) -> dict:
    """A dict kept on `connection` (the thread's own wrapper, not django.db.connection's proxy): what is compiled for
    a connection lives and goes with it, and only its thread touches it (no lock)."""
    key = f"_vanguard_{name}"
    cache = connection.__dict__.get(key)
    if cache is None:
        cache = connection.__dict__[key] = factory()
    return cache


PROBE = uuid.UUID(int=0)  # the key the plan is compiled with; its place in the parameters is where a key goes


@dataclass(frozen=True)
class _Plan:
    sql: str
    params: tuple[Any, ...]
    key_at: int
    compiler: SQLCompiler
    init_list: list[str]
    model_slice: slice
    related: list
    for_update: bool


class PreparedGet(Generic[M]):
    """``PreparedGet(lambda: Policy.objects.select_related("customer").only(...))`` then ``.get(pk)``: what
    ``queryset.get(pk=pk)`` returns, compiled once per connection. For a queryset without annotations, extra
    selects or prefetches (refused at compile) on a model with a UUID primary key.

    Measured (2026-12-04): in-process, the policy detail read with its customer's summary 0.53-0.64 ms → 0.17-0.26
    ms a call. One uvicorn worker, 16 connections, alternating rounds against the commit before: `GET
    /api/policies/{id}` 648/564 against 434/465/378 requests/s (worker CPU 1.6-1.8 against 2.2-2.7 ms a request);
    `POST /api/claims` (its policy lock) 98/92 against 87/85/90 requests/s. Tested by tests/test_prepared.py.
    """

    def __init__(self, build: Callable[[], QuerySet[M]]) -> None:
        self._build = build
        self._queryset: QuerySet[M] | None = None

    def get(self, pk: Any) -> M:
        queryset = self._queryset if self._queryset is not None else self._first_build()
        model, db = queryset.model, queryset.db
        connection = connections[db]
        plan = connection_cache(connection, "prepared").get(self) or self._compile(queryset, connection)
        if plan.for_update and connection.get_autocommit():
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        params = list(plan.params)
        params[plan.key_at] = model._meta.pk.get_db_prep_value(pk, connection, prepared=False)
        with connection.cursor() as cursor:
            cursor.execute(plan.sql, params)
            row = cursor.fetchone()
        if row is None:
            raise model.DoesNotExist(f"{model._meta.object_name} matching query does not exist.")
        row = next(iter(plan.compiler.results_iter(results=[[row]])))
        obj = model.from_db(db, plan.init_list, row[plan.model_slice])
        for populator in plan.related:
            populator.populate(row, obj)
        return obj

    def _first_build(self) -> QuerySet[M]:
        queryset = self._build()
        query = queryset.query
        if query.annotations or query.extra or queryset._prefetch_related_lookups or queryset._known_related_objects:
            raise TypeError("PreparedGet reads plain rows: no annotations, extra, prefetches or known objects")
        self._queryset = queryset
        return queryset

    def _compile(self, queryset: QuerySet[M], connection: BaseDatabaseWrapper) -> _Plan:
        model = queryset.model
        if model._meta.pk.get_internal_type() != "UUIDField":
            raise TypeError("PreparedGet compiles with a UUID probe key")
        compiler = queryset.filter(pk=PROBE).query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        probe = model._meta.pk.get_db_prep_value(PROBE, connection, prepared=False)
        at = [i for i, value in enumerate(params) if value == probe]
        if len(at) != 1:
            raise TypeError("PreparedGet needs the key to be exactly one of the statement's parameters")
        klass_info, select = compiler.klass_info, compiler.select
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        plan = _Plan(
            sql=sql,
            params=tuple(params),
            key_at=at[0],
            compiler=compiler,
            init_list=[column[0].target.attname for column in select[start:end]],
            model_slice=slice(start, end),
            related=get_related_populators(klass_info, select, queryset.db),
            for_update=queryset.query.select_for_update,
        )
        connection_cache(connection, "prepared")[self] = plan
        return plan


class RowReader(Generic[M]):
    """Instances of `model` from rows of its concrete columns in field order (`columns()` lists them for a raw
    statement), built as the ORM builds them: the same converters (decryption of encrypted fields included) and
    `Model.from_db`. For a hand-written statement that cannot be a queryset (a read that also writes, in one round
    trip): `Model.objects.raw()` reads the cursor's description, maps columns to fields and looks up converters on
    every call, which was two thirds of a customer read's ORM time. The converters are looked up once per
    connection (they are bound to it). The columns are named, never ``*``: a column added by a migration while a
    process runs cannot shift the values.

    Measured (2026-12-04): the customer detail read with its PII access row (compliance.services.pii_access)
    0.38 → 0.28 ms in-process; one uvicorn worker, 16 connections, alternating rounds against the commit before:
    `GET /api/customers/{id}` 495/514/536 against 444/472/464 requests/s (worker CPU 1.9-2.0 against 2.1-2.2 ms)."""

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self.fields = list(model._meta.concrete_fields)
        self.attnames = [f.attname for f in self.fields]

    def columns(self, connection: BaseDatabaseWrapper, alias: str) -> str:
        quote = connection.ops.quote_name
        return ", ".join(f"{alias}.{quote(f.column)}" for f in self.fields)

    def instance(self, connection: BaseDatabaseWrapper, row: tuple) -> M:
        connection = connections[connection.alias]  # the thread's wrapper itself, not django.db.connection's proxy
        compiled = connection_cache(connection, "rows").get(self)
        if compiled is None:
            from django.db.models.sql import Query

            compiler = connection.ops.compiler("SQLCompiler")(Query(self.model), connection, connection.alias)
            converters = compiler.get_converters([f.get_col(self.model._meta.db_table) for f in self.fields])
            compiled = connection_cache(connection, "rows")[self] = (compiler, converters)
        compiler, converters = compiled
        values = next(iter(compiler.apply_converters([row], converters))) if converters else row
        return self.model.from_db(connection.alias, self.attnames, values)
