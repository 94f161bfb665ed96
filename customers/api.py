"""`/api/customers` (SPEC §3): thin async endpoints over customers.selectors and customers.services."""

from __future__ import annotations

from uuid import UUID

from asgiref.sync import sync_to_async
from ninja import Header, Query, Router

from customers import selectors, services
from customers.models import Customer
from customers.schemas import (
    CustomerCreate,
    CustomerErased,
    CustomerExport,
    CustomerFilter,
    CustomerPage,
    CustomerResponse,
    CustomerSearch,
    CustomerUpdate,
)
from vanguard.accounts.permissions import can, require
from vanguard.api_support.etag import etag_for
from vanguard.api_support.http import json_response
from vanguard.api_support.idempotency import idempotency_key_header
from vanguard.api_support.schemas import ErrorResponse
from vanguard.api_support.writes import create_response, detail_response, guarded_update
from vanguard.core.net import client_ip
from vanguard.core.pagination import PageQuery

router = Router(tags=["customers"])

E = ErrorResponse
READ_ERRORS = {401: E, 403: E, 404: E, 422: E, 429: E}


def _render(actor, customer: Customer, remote_addr: str | None) -> dict:
    """The detail body for this caller. Contact PII in clear needs customers.view_pii, and every clear view
    is written to the PII access log (SPEC §7.3)."""
    clear = can(actor, "customers.view_pii")
    if clear:
        fields = selectors.clear_fields_shown(customer)
        if fields:
            from compliance.services import pii_access_record

            pii_access_record(
                actor=actor, customer_id=customer.pk, fields=fields, interface="api", remote_addr=remote_addr
            )
    return selectors.customer_detail(customer, clear=clear)


def _read(actor, customer_id: UUID, remote_addr: str | None) -> tuple[dict, Customer]:
    """The detail body of a customer read from the database, and the customer. A clear view reads the row and writes
    its PII access row in one statement (compliance.services.customer_read_recorded)."""
    if can(actor, "customers.view_pii"):
        from compliance.services import customer_read_recorded

        customer = customer_read_recorded(
            actor=actor, customer_id=customer_id, interface="api", remote_addr=remote_addr
        )
        return selectors.customer_detail(customer, clear=True), customer
    customer = selectors.customer_get(customer_id=customer_id)
    return selectors.customer_detail(customer, clear=False), customer


def _render_by_id(actor, customer_id: UUID, remote_addr: str | None) -> dict:
    return _read(actor, customer_id, remote_addr)[0]


@router.get(
    "",
    operation_id="listCustomers",
    response={200: CustomerPage, **READ_ERRORS},
    summary="List customers (newest first)",
)
async def customer_list(request, filters: Query[CustomerFilter], paging: Query[PageQuery]):
    """A page of customers, newest first, filtered by e-mail, names, `search` (name or e-mail), consent
    and creation time. Contact data is masked for callers without `customers.view_pii`."""
    require(request.auth, "customers.view_customer", "view customers")
    page = await sync_to_async(selectors.customer_list)(filters=filters, params=paging)
    return json_response(page)


@router.post(
    "",
    operation_id="createCustomer",
    response={201: CustomerResponse, 400: E, 401: E, 403: E, 409: E, 422: E, 429: E},
    summary="Create a customer (consent required)",
)
async def customer_create(
    request,
    payload: CustomerCreate,
    idempotency_key: str | None = idempotency_key_header(),
):
    """Create a customer. `gdpr_consent` must be true (400 otherwise); an e-mail already on file is a 409.
    Personal data is encrypted at rest. Honours Idempotency-Key."""
    actor, addr = request.auth, client_ip(request)
    data = payload.dict()
    return await create_response(
        request,
        key_header=idempotency_key,
        route="POST /api/customers",
        payload=data,
        create=lambda: services.customer_create(actor=actor, **data),
        render=lambda pk: _render_by_id(actor, pk, addr),
        render_created=lambda customer: _render(actor, customer, addr),  # what the service stored, unread
    )


@router.post(
    "/search",
    operation_id="searchCustomers",
    response={200: CustomerPage, 401: E, 403: E, 422: E, 429: E},
    summary="Find customers by e-mail or national id (sent in the body, never in the URL)",
)
async def customer_search(request, payload: CustomerSearch, paging: Query[PageQuery]):
    """The customers with this e-mail and/or national id, as a page like the list (newest first, contact data
    masked, no PII access row: nothing is shown in clear). Give `email`, `ssn` or both (both must match); an empty
    body is a 422. Use this rather than `GET /api/customers?email=`, which puts the address in access and proxy
    logs and browser history."""
    require(request.auth, "customers.view_customer", "view customers")
    page = await sync_to_async(selectors.customer_search)(email=payload.email, ssn=payload.ssn, params=paging)
    return json_response(page)


@router.get(
    "/{customer_id}",
    operation_id="getCustomer",
    response={200: CustomerResponse, **READ_ERRORS},
    summary="A customer (ETag)",
)
async def customer_get(request, customer_id: UUID):
    """A customer, with the ETag to send as If-Match when changing it. Contact data in clear needs
    `customers.view_pii`, and every such view is written to the PII access log."""
    actor, addr = request.auth, client_ip(request)
    require(actor, "customers.view_customer", "view customers")

    def read():
        body, customer = _read(actor, customer_id, addr)
        return body, etag_for(customer.pk, customer.updated_at)

    body, etag = await sync_to_async(read)()
    return detail_response(body, etag=etag)


@router.patch(
    "/{customer_id}",
    operation_id="updateCustomer",
    response={200: CustomerResponse, 401: E, 403: E, 404: E, 409: E, 412: E, 422: E, 429: E},
    summary="Change names, contact data or consent (If-Match honoured)",
)
async def customer_update(
    request,
    customer_id: UUID,
    payload: CustomerUpdate,
    if_match: str | None = Header(None, alias="If-Match", max_length=1024),
):
    """Change names, phone, address or consent (a withdrawal is recorded with its time). An erased
    customer is a 409. Send If-Match with the ETag of your last read: a stale one is a 412 and nothing changes."""
    actor, addr = request.auth, client_ip(request)
    changes = payload.dict(exclude_unset=True)
    for name in ("phone", "address"):
        if name in changes and changes[name] is None:
            changes[name] = ""

    def write():
        guarded_update(
            model=Customer,
            pk=customer_id,
            if_match=if_match,
            update=lambda: services.customer_update(actor=actor, customer_id=customer_id, **changes),
        )
        body, customer = _read(actor, customer_id, addr)
        return body, etag_for(customer.pk, customer.updated_at)

    body, etag = await sync_to_async(write)()
    return detail_response(body, etag=etag)


@router.get(
    "/{customer_id}/export",
    operation_id="exportCustomer",
    response={200: CustomerExport, **READ_ERRORS},
    summary="GDPR subject-access export: all personal data with policies and claims",
    by_alias=True,  # an event's `from` (a Python keyword: the model's field is from_)
)
async def customer_export(request, customer_id: UUID):
    """GDPR subject-access export: all personal data held on the customer, with their policies and
    claims and who viewed their data. Needs the compliance permission; the export is itself logged."""
    from compliance.services import customer_export as export

    data = await sync_to_async(export)(
        actor=request.auth, customer_id=customer_id, interface="api", remote_addr=client_ip(request)
    )
    return json_response(data)


@router.delete(
    "/{customer_id}/gdpr-delete",
    operation_id="eraseCustomer",
    response={200: CustomerErased, **READ_ERRORS, 409: E},
    summary="GDPR erasure (409 with the reason under legal hold)",
)
async def customer_gdpr_delete(
    request, customer_id: UUID, reason: str = Query("", max_length=500, description="why (kept in the audit)")
):
    """GDPR erasure: the customer's personal data is anonymised for good; financial records are kept.
    While a legal hold applies (e.g. an open claim) it is a 409 naming the reason. `reason` is kept in the audit."""
    from compliance.services import customer_erase

    customer = await sync_to_async(customer_erase)(
        actor=request.auth, customer_id=customer_id, interface="api", reason=reason
    )
    return json_response({"id": customer.pk, "status": "erased", "erased_at": customer.erased_at})
