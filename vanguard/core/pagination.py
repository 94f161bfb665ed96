"""The page shape of every list endpoint (SPEC §3), fast at a million rows, in one database round trip.

`{items, total, total_is_estimate, page, page_size, total_pages, has_next, has_previous, next_cursor}`; `page` ≥ 1,
`page_size` 1-100 (default 20).

Two ways through a list:
- `page`: OFFSET paging, capped at MAX_PAGE_DEPTH rows (`page x page_size`); deeper is a 422 that points to the
  cursor, because OFFSET reads and discards every skipped row.
- `cursor`: keyset paging. Every page returns `next_cursor`, an opaque token (the last row's ordering key, signed
  with the server's key and bound to the list's model and ordering); sending it back as `cursor` returns the rows
  after that one through the ordering index (`WHERE (created_at, id) < (…)`, an index condition), as fast at row
  1,000,000 as at row 1. A cursor that was not issued by this list is a 422. In cursor mode `page` is 1 and
  `has_previous` is true.

The total rides along with the page as an uncorrelated scalar subquery, counted up to ESTIMATE_ABOVE + 1 rows
only (`SELECT COUNT(*) FROM (<filtered query> LIMIT n)`), which PostgreSQL evaluates once. Up to ESTIMATE_ABOVE
the total is exact; beyond it the planner's row estimate is used (one EXPLAIN, no scan, remembered for
ESTIMATE_SECONDS) and `total_is_estimate` is true — a full COUNT(*) of a million rows would cost more than the page
itself.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from django.core import signing
from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import connections
from django.db.models import F, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan
from django.db.models.sql.compiler import SQLCompiler
from ninja import Field, Schema
from pydantic import StringConstraints

from vanguard.core.prepared import connection_cache

MAX_PAGE_SIZE = 100
# The deepest row `page` may reach (page x page_size); beyond it, use `cursor`.
MAX_PAGE_DEPTH = 10_000
# Totals are exact up to this many rows, the planner's estimate beyond (total_is_estimate). Counting the first
# 10,000 rows of a list cost PostgreSQL twice the CPU of the rest of the page (bench/cpu_per_request.sh).
ESTIMATE_ABOVE = 1_000
CURSOR_SALT = "vanguard.api.cursor"
CURSOR_PATTERN = r"^[A-Za-z0-9_\-:]+$"
DEPTH_MESSAGE = (
    f"page x page_size may be at most {MAX_PAGE_DEPTH:,}: to read further, send the next_cursor of the last page "
    "you read as cursor (keyset paging, as fast on any page)"
)


class PageQuery(Schema):
    page: int = Field(
        1,
        ge=1,
        le=MAX_PAGE_DEPTH,
        description=(f"1-based page number; page x page_size at most {MAX_PAGE_DEPTH:,} (a 422 beyond: use cursor)"),
    )
    page_size: int = Field(20, ge=1, le=MAX_PAGE_SIZE, description="items per page (1-100)")
    cursor: Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=CURSOR_PATTERN)] | None = Field(
        None,
        description="the next_cursor of the previous page: the rows after it (keyset paging, any depth); "
        "with a cursor, page must be 1",
    )


def page_of(
    queryset: QuerySet,
    params: PageQuery,
    *,
    fields: Iterable[str],
    row: Callable[[dict[str, Any]], dict[str, Any]] = lambda r: r,
    shape: Hashable | None = None,
) -> dict[str, Any]:
    """One page of `queryset` (already filtered and ordered by plain fields, the last one unique) as
    `.values(*fields)` rows passed through `row`. Raises ValidationError (422) for a bad cursor or depth.

    `shape`: hashable inputs that alone determine `queryset`'s SQL and parameters (the list's name and its filter
    values). With it, a page asked for again (same shape, page and size; not a cursor) runs the statements compiled
    the first time on this connection instead of compiling them again (`_remember_page`)."""
    keys = _ordering(queryset)
    listed = queryset  # the whole filtered list: what the total counts, also in cursor mode
    if params.cursor:
        if params.page != 1:
            raise ValidationError({"cursor": ["give either page or cursor, not both"]})
        queryset = queryset.filter(_after(keys, _decode(params.cursor, queryset, keys)))
        start = 0
    else:
        if params.page * params.page_size > MAX_PAGE_DEPTH:
            raise ValidationError({"page": [DEPTH_MESSAGE]})
        start = (params.page - 1) * params.page_size
    if queryset.query.is_empty():  # `.none()`: no SQL can be compiled for it (EmptyResultSet), and none is needed
        return _page([], 0, False, params, next_cursor=None)
    fields = list(fields)
    names = [name for name, _ in keys]
    extra = [name for name in names if name not in fields]  # the key columns the caller did not ask for
    connection = connections[queryset.db]
    key = None if shape is None or params.cursor else (shape, tuple(fields), start, params.page_size, ESTIMATE_ABOVE)
    try:
        hash(key)
    except TypeError:  # an unhashable filter value (a list): compiled as usual
        key = None
    plan = connection_cache(connection, "pages", OrderedDict).get(key) if key is not None else None
    if plan is None:
        try:
            plan = _compile_page(queryset, listed, [*fields, *extra], start, params.page_size, connection)
        except EmptyResultSet:  # a filter that can match nothing, e.g. `pk__in=[]`: Django compiles no SQL for it
            return _page([], 0, False, params, next_cursor=None)
        if key is not None:
            _remember_page(connection, key, plan)
    count_sql, count_params = plan.count_sql, plan.count_params
    rows = plan.rows(connection)
    # Past the last page the total needs its own query; an empty first page means there is nothing at all.
    counted = rows[0]["_total"] if rows else (_bounded(listed).count() if start or params.cursor else 0)
    total, estimated = counted, False
    if counted > ESTIMATE_ABOVE:
        total, estimated = max(_remembered_estimate(listed, count_sql, count_params), counted), True
    more = len(rows) > params.page_size
    rows = rows[: params.page_size]
    next_cursor = _encode([rows[-1][name] for name in names], queryset, keys) if more else None
    items = []
    for r in rows:
        for name in (*extra, "_total"):
            del r[name]
        items.append(row(r))
    if params.cursor:
        return _page(items, total, estimated, params, next_cursor=next_cursor, has_next=more, after_cursor=True)
    return _page(items, total, estimated, params, next_cursor=next_cursor, has_next=more)


@dataclass(frozen=True)
class _CompiledPage:
    """A page's statement as Django compiled it, with the compiler that turns its rows into values (converters)."""

    count_sql: str
    count_params: tuple
    sql: str
    params: tuple
    compiler: SQLCompiler
    names: list[str]

    def rows(self, connection) -> list[dict[str, Any]]:
        with connection.cursor() as cursor:
            cursor.execute(self.sql, self.params)
            fetched = cursor.fetchall()
        width = self.compiler.col_count
        names = self.names
        return [
            dict(zip(names, values, strict=True))
            for values in self.compiler.results_iter(results=[[r[:width] for r in fetched]])
        ]


def _compile_page(queryset: QuerySet, listed: QuerySet, columns: list[str], start: int, size: int, connection):
    count_sql, count_params = _bounded(listed).query.sql_with_params()
    # The SQL is Django's own compilation of the filtered queryset; values stay parameters.
    total_sql = RawSQL(f"SELECT COUNT(*) FROM ({count_sql}) _page_total", count_params)  # noqa: S608, S611
    # One row more than the page: whether there is a next page, without trusting an estimated total.
    values = queryset.annotate(_total=total_sql).values(*columns, "_total")[start : start + size + 1]
    compiler = values.query.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    query = values.query
    names = [*query.extra_select, *query.values_select, *query.annotation_select]
    return _CompiledPage(count_sql, tuple(count_params), sql, tuple(params), compiler, names)


# Pages compiled once per connection (a compiler is bound to its connection, connections to their threads), keyed by
# the caller's shape, the columns, the offset and the size; the newest _PAGES_KEPT per connection. Building and
# compiling the two statements of a 50-row customer page cost 0.34 ms of its ~1 ms of ORM time. Relies on Django's
# `SQLCompiler.as_sql`/`results_iter(results=...)`/`col_count` and the values query's name lists (Django 5.2, pinned;
# docs/architecture.md). Measured (2026-12-04, the customer list, 50 rows): in-process 0.86-1.04 → 0.43-0.53 ms of ORM
# time a page; one uvicorn worker, 16 connections, five alternating rounds against the commit before, every one won:
# 1.04/1.46/1.07/1.43/1.21x requests/s (a drifting machine: the absolute rates fell by a third during the run).
# About 19 KB a page (tracemalloc): 16 per connection is ~0.3 MB per request thread, and the common pages (a list's
# first pages, unfiltered or by a status) stay while one-off searches pass through.
_PAGES_KEPT = 16


def _remember_page(connection, key: Hashable, plan: _CompiledPage) -> None:
    pages = connection_cache(connection, "pages", OrderedDict)
    pages[key] = plan
    if len(pages) > _PAGES_KEPT:
        pages.popitem(last=False)


def forget_compiled_pages() -> None:
    """Drop the pages compiled on this thread's connections (tests start from nothing)."""
    for connection in connections.all(initialized_only=True):
        connection_cache(connection, "pages", OrderedDict).clear()


def filter_shape(name: str, filters: Any, *, personal: Iterable[str] = ()) -> Hashable | None:
    """`page_of`'s shape for a list whose queryset is built from `name` and the values of a filter schema alone.

    None (compile as usual) when one of the `personal` filters is given: a name or an e-mail searched for is never
    kept in a remembered statement's parameters (the process would hold it after the person's erasure)."""
    if filters is None:
        return (name, None)
    values = filters.dict()
    if any(values.get(field) not in (None, "") for field in personal):
        return None
    return (name, tuple(values.items()))


def _ordering(queryset: QuerySet) -> list[tuple[str, bool]]:
    """The queryset's ordering as (field name, descending) pairs: plain fields only, so a row's values are its key."""
    keys = []
    for term in queryset.query.order_by:
        if not isinstance(term, str) or "__" in term or term.lstrip("-") in {"?", ""}:
            raise TypeError(f"page_of needs an ordering by plain fields, got {term!r}")
        keys.append((term.lstrip("-"), term.startswith("-")))
    if not keys:
        raise TypeError("page_of needs an ordered queryset")
    return keys


def _bounded(queryset: QuerySet) -> QuerySet:
    return queryset.order_by().values("pk")[: ESTIMATE_ABOVE + 1]


# A list's estimate, remembered per process for ESTIMATE_SECONDS by the SQL and parameters of its filtered query:
# the planner's figure moves only when ANALYZE runs, and asking again cost every page of a big list a second
# statement (its compilation, a round trip and the planning of the EXPLAIN). Measured on one worker, 50-row pages
# of 10,000 customers, three alternating rounds: 123/129/109 req/s against 101/102/91, PostgreSQL CPU per page
# 0.6 ms against 0.9-1.0 ms.
ESTIMATE_SECONDS = 10.0
_ESTIMATES_KEPT = 256
_estimates: dict[tuple, tuple[float, int]] = {}


def _remembered_estimate(queryset: QuerySet, sql: str, params: Iterable[Any]) -> int:
    try:
        key = (queryset.db, sql, *params)
        hash(key)
    except TypeError:  # an unhashable parameter (a list): not remembered
        return estimated_rows(queryset)
    now = time.monotonic()
    known = _estimates.get(key)
    if known is not None and known[0] > now:
        return known[1]
    rows = estimated_rows(queryset)
    if len(_estimates) >= _ESTIMATES_KEPT:
        _estimates.clear()  # many distinct filters: start again rather than track ages
    _estimates[key] = (now + ESTIMATE_SECONDS, rows)
    return rows


def estimated_rows(queryset: QuerySet) -> int:
    """The planner's row estimate for the filtered queryset (EXPLAIN plans the query, it does not run it)."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return queryset.order_by().count()
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


def _salt(queryset: QuerySet, keys: list[tuple[str, bool]]) -> str:
    # Bound to the list's model and ordering: a cursor of another list is refused, not misread.
    ordering = ",".join(("-" if desc else "") + name for name, desc in keys)
    return f"{CURSOR_SALT}:{queryset.model._meta.label_lower}:{ordering}"


def _encode(values: list[Any], queryset: QuerySet, keys: list[tuple[str, bool]]) -> str:
    text = [value.isoformat() if hasattr(value, "isoformat") else str(value) for value in values]
    return signing.dumps(text, salt=_salt(queryset, keys), compress=False)


def _decode(cursor: str, queryset: QuerySet, keys: list[tuple[str, bool]]) -> list[Any]:
    refused = ValidationError({"cursor": ["not a cursor of this list: send a next_cursor this list returned"]})
    try:
        text = signing.loads(cursor, salt=_salt(queryset, keys))
    except (signing.BadSignature, ValueError, UnicodeDecodeError) as exc:
        raise refused from exc
    if not isinstance(text, list) or len(text) != len(keys) or not all(isinstance(t, str) for t in text):
        raise refused
    opts = queryset.model._meta
    try:
        return [opts.get_field(name).to_python(value) for (name, _), value in zip(keys, text, strict=True)]
    except ValidationError as exc:
        raise refused from exc


def _after(keys: list[tuple[str, bool]], values: list[Any]) -> Q | TupleLessThan | TupleGreaterThan:
    """Rows strictly after `values` in the ordering. All one direction (every list here): the row comparison
    `(created_at, id) < (x, y)`, which PostgreSQL answers as an index condition on the (created_at, id) index, so a
    cursor inside thousands of rows sharing one created_at starts right there. Uses Django 5.2's tuple lookups
    (django.db.models.fields.tuple_lookups, written for composite primary keys; not documented API: check on
    upgrade — Django is pinned ~=5.2.0). Mixed directions: (a < x) OR (a = x AND b > y) written out."""
    if len({desc for _, desc in keys}) == 1:
        lookup = TupleLessThan if keys[0][1] else TupleGreaterThan
        return lookup(Tuple(*(F(name) for name, _ in keys)), tuple(values))
    condition = None
    for i, (name, desc) in enumerate(keys):
        step = Q(
            **{name: value for (name, _), value in zip(keys[:i], values[:i], strict=True)},
            **{f"{name}__{'lt' if desc else 'gt'}": values[i]},
        )
        condition = step if condition is None else condition | step
    first, desc = keys[0]
    return Q(**{f"{first}__{'lte' if desc else 'gte'}": values[0]}) & condition


def _page(
    items: list[dict[str, Any]],
    total: int,
    estimated: bool,
    params: PageQuery,
    *,
    next_cursor: str | None,
    has_next: bool | None = None,
    after_cursor: bool = False,
) -> dict[str, Any]:
    total_pages = math.ceil(total / params.page_size) if total else 0
    return {
        "items": items,
        "total": total,
        "total_is_estimate": estimated,
        "page": params.page,
        "page_size": params.page_size,
        "total_pages": total_pages,
        "has_next": params.page < total_pages if has_next is None else has_next,
        "has_previous": params.page > 1 or after_cursor,
        "next_cursor": next_cursor,
    }
