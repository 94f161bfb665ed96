"""The page shape of every list endpoint (SPEC §3) in one database round trip.

`{items, total, page, page_size, total_pages, has_next, has_previous}`; `page` ≥ 1, `page_size` 1-100
(default 20). The total rides along with the page as an uncorrelated scalar subquery
(`(SELECT COUNT(*) FROM (<filtered query>))`), which PostgreSQL evaluates once; only a page past the
end needs a second query for the total.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from ninja import Field, Schema

MAX_PAGE_SIZE = 100


class PageQuery(Schema):
    page: int = Field(1, ge=1, le=10_000_000, description="1-based page number")
    page_size: int = Field(20, ge=1, le=MAX_PAGE_SIZE, description="items per page (1-100)")


def page_of(
    queryset: QuerySet,
    params: PageQuery,
    *,
    fields: Iterable[str],
    row: Callable[[dict[str, Any]], dict[str, Any]] = lambda r: r,
) -> dict[str, Any]:
    """One page of `queryset` (already filtered and ordered) as `.values(*fields)` rows passed through `row`."""
    if queryset.query.is_empty():  # `.none()`: no SQL can be compiled for it (EmptyResultSet), and none is needed
        return _page([], 0, params)
    try:
        count_sql, count_params = queryset.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:  # a filter that can match nothing, e.g. `pk__in=[]`: Django compiles no SQL for it
        return _page([], 0, params)
    start = (params.page - 1) * params.page_size
    # The SQL is Django's own compilation of the filtered queryset; values stay parameters.
    total_sql = RawSQL(f"SELECT COUNT(*) FROM ({count_sql}) _page_total", count_params)  # noqa: S608, S611
    rows = list(queryset.annotate(_total=total_sql).values(*fields, "_total")[start : start + params.page_size])
    # Past the last page the total needs its own query; an empty first page means there is nothing at all.
    total = rows[0]["_total"] if rows else (queryset.order_by().count() if params.page > 1 else 0)
    items = []
    for r in rows:
        del r["_total"]
        items.append(row(r))
    return _page(items, total, params)


def _page(items: list[dict[str, Any]], total: int, params: PageQuery) -> dict[str, Any]:
    total_pages = math.ceil(total / params.page_size) if total else 0
    return {
        "items": items,
        "total": total,
        "page": params.page,
        "page_size": params.page_size,
        "total_pages": total_pages,
        "has_next": params.page < total_pages,
        "has_previous": params.page > 1,
    }
