"""The write path shared by the routers: one `sync_to_async` hop per write.

A write endpoint runs the service *and* the detail re-read in the same synchronous call (one thread hop,
the transaction inside the service), then renders. Creating POSTs go through `create_response`, which
adds the Idempotency-Key replay; PATCHes through `guarded_update`, which checks If-Match under the
row lock before calling the service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.db import transaction
from django.db.models import Model
from django.http import HttpResponse

from vanguard.api_support import idempotency
from vanguard.api_support.etag import check_if_match, etag_for
from vanguard.api_support.http import dumps


def _response(body: bytes, status: int, headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="application/json", headers=headers)


async def create_response(
    request,
    *,
    key_header: str | None,
    route: str,
    payload: Any,
    create: Callable[[], Any],
    render: Callable[[Any], dict[str, Any]],  # pk -> detail body
    render_created: Callable[[Any], dict[str, Any]] | None = None,  # the row create() returned -> detail body
    status: int = 201,
) -> HttpResponse:
    """Run `create()` (sync, returns the created row) and render it (sync, the detail body) in one hop,
    honouring `Idempotency-Key`: a replay answers with the first response and creates nothing.

    `render_created`, when given, renders the row `create()` returned without reading it again (the service
    loaded everything the body shows); a replay always renders by id with `render`, as a GET would."""

    def fresh(obj: Any) -> dict[str, Any]:
        return render_created(obj) if render_created is not None else render(obj.pk)

    key = idempotency.clean_key(key_header)
    user = request.auth

    def run() -> tuple[int, bytes, bool]:
        if key is None:
            return status, dumps(fresh(create())), False
        try:
            obj = idempotency.run_once(
                user=user, key=key, route=route, payload_hash=idempotency.request_hash(route, payload), create=create
            )
        except idempotency.Replay as replay:
            # Rendered again, as a GET would: the caller's masking applies and a clear view is access-logged.
            record = replay.record
            return record.status_code or status, dumps(render(record.resource_id)), True
        body = dumps(fresh(obj))
        idempotency.remember(user=user, key=key, status=status)
        return status, body, False

    code, body, replayed = await sync_to_async(run)()
    return _response(body, code, {"Idempotent-Replayed": "true"} if replayed else None)


def guarded_update(*, model: type[Model], pk: Any, if_match: str | None, update: Callable[[], Any]) -> None:
    """Run the update on the locked row and check If-Match against the version it had, in one transaction (sync).

    The update goes first, so its refusals win: a caller who may not make the change hears 403, an invalid or
    refused change its 400/409/422, whatever the header says (RFC 9110 §13.2.1: preconditions are ignored when
    the request would fail without them). Only an update that would succeed is undone by a stale If-Match (412);
    its writes and after-commit work roll back with the transaction. A missing record is the service's to
    answer too (its 403 for a caller who may not write at all, else its 404), with or without the header."""
    if if_match is None:
        update()
        return
    with transaction.atomic():
        row = model.objects.select_for_update(no_key=True, of=("self",)).only("pk", "updated_at").filter(pk=pk).first()
        current = etag_for(row.pk, row.updated_at) if row is not None else None
        update()
        if current is None:  # the service found the record that the lock did not: it cannot, but never a 412
            raise model.DoesNotExist(f"No {model._meta.verbose_name} with this id.")
        check_if_match(if_match, current)


def detail_response(data: dict[str, Any], *, etag: str | None = None, status: int = 200) -> HttpResponse:
    return _response(dumps(data), status, {"ETag": etag} if etag else None)
