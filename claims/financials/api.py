"""A claim's money in the API (SPEC §10.4): `/api/claims/{claim_id}/financials|reserves|payments|recoveries` and
`/api/payments`. Thin async endpoints: one `sync_to_async` hop each (the service and the row it returned, or one
selector), problem documents from the services' DomainErrors (vanguard.api)."""

from __future__ import annotations

from uuid import UUID

from asgiref.sync import sync_to_async
from ninja import Query, Router

from claims.financials import selectors, services
from claims.financials.schemas import (
    ClaimFinancials,
    PaymentCreate,
    PaymentFilter,
    PaymentPage,
    PaymentReason,
    PaymentResponse,
    RecoveryCreate,
    RecoveryPage,
    RecoveryResponse,
    ReserveChangeCreate,
    ReserveChangePage,
    ReserveChangeResponse,
)
from vanguard.accounts.permissions import require
from vanguard.api_support.http import json_response
from vanguard.api_support.idempotency import idempotency_key_header
from vanguard.api_support.schemas import ErrorResponse
from vanguard.api_support.writes import create_response, detail_response
from vanguard.core.pagination import PageQuery

# Mounted at /api/claims beside the claims router, and at /api/payments.
claim_router = Router(tags=["claim financials"])
payment_router = Router(tags=["claim financials"])

E = ErrorResponse
READ_ERRORS = {401: E, 403: E, 404: E, 422: E, 429: E}
WRITE_ERRORS = {400: E, 401: E, 403: E, 404: E, 409: E, 422: E, 429: E}


def _payment_by_id(payment_id: UUID) -> dict:
    return selectors.claim_payment_row(selectors.payment_get(payment_id=payment_id))


# --- totals ----------------------------------------------------------------------------------------------
@claim_router.get(
    "/{claim_id}/financials",
    operation_id="getClaimFinancials",
    response={200: ClaimFinancials, **READ_ERRORS},
    summary="A claim's reserves, paid, recovered and incurred",
)
async def financials_get(request, claim_id: UUID):
    """The claim's seven totals as money strings, and the currency: open reserves and paid amounts per cost type
    (indemnity, expense), recovered, gross incurred (paid + open reserves) and net incurred (gross - recovered)."""
    require(request.auth, "claims.view_claim", "view claims")
    return json_response(await sync_to_async(selectors.claim_financials_get)(claim_id=claim_id))


# --- reserves --------------------------------------------------------------------------------------------
@claim_router.get(
    "/{claim_id}/reserves",
    operation_id="listClaimReserveChanges",
    response={200: ReserveChangePage, **READ_ERRORS},
    summary="A claim's reserve changes (newest first)",
)
async def reserve_list(request, claim_id: UUID, paging: Query[PageQuery]):
    """Every change of the claim's open reserves, newest first: the previous and new amount, the reason and who
    made it (null: the system, e.g. a payment's erosion or the claim's closure)."""
    require(request.auth, "claims.view_reservechange", "view reserve changes")
    return json_response(await sync_to_async(selectors.reserve_change_list)(claim_id=claim_id, params=paging))


@claim_router.post(
    "/{claim_id}/reserves",
    operation_id="setClaimReserve",
    response={201: ReserveChangeResponse, **WRITE_ERRORS},
    summary="Set the open reserve of a cost type",
)
async def reserve_set(request, claim_id: UUID, payload: ReserveChangeCreate):
    """Set the claim's open reserve of one cost type to `amount` (0 closes it), with a reason. Refused on a denied
    or closed claim (409); an indemnity reserve above the coverage less indemnity paid is a 400; a reserve above
    your authority limit a 403 naming it."""
    actor, data = request.auth, payload.dict()

    def write():
        return selectors.reserve_change_row(services.claim_reserve_set(actor=actor, claim_id=claim_id, **data))

    return detail_response(await sync_to_async(write)(), status=201)


# --- payments --------------------------------------------------------------------------------------------
@claim_router.get(
    "/{claim_id}/payments",
    operation_id="listClaimPayments",
    response={200: PaymentPage, **READ_ERRORS},
    summary="A claim's payments (newest first)",
)
async def claim_payment_list(request, claim_id: UUID, paging: Query[PageQuery]):
    """The claim's payments in every status, newest first; each payee account only as its last 4 characters."""
    require(request.auth, "claims.view_claimpayment", "view payments")
    return json_response(await sync_to_async(selectors.claim_payment_list)(claim_id=claim_id, params=paging))


@claim_router.post(
    "/{claim_id}/payments",
    operation_id="requestClaimPayment",
    response={201: PaymentResponse, **WRITE_ERRORS},
    summary="Request a payment (four eyes above the limit)",
)
async def payment_request(
    request,
    claim_id: UUID,
    payload: PaymentCreate,
    idempotency_key: str | None = idempotency_key_header(),
):
    """Request a payment from the open reserve of its cost type. Above the four-eyes limit or your own authority
    it is created `requested` and needs another person's approval; otherwise it is created `approved`. An
    indemnity payment needs an approved or paid claim, an expense payment one that is not pending (400), denied
    or closed (409); the amount may not exceed the open reserve (400, naming both) nor, for indemnity, what is
    left of the approved amount (400). Honours Idempotency-Key."""
    actor, data = request.auth, payload.dict()
    data["amount"] = selectors.money(data["amount"])  # 400, 400.0 and "400.00" are one body to the key
    return await create_response(
        request,
        key_header=idempotency_key,
        route=f"POST /api/claims/{claim_id}/payments",
        payload=data,
        create=lambda: services.payment_request(actor=actor, claim_id=claim_id, **data),
        render=_payment_by_id,
        render_created=selectors.claim_payment_row,
    )


@claim_router.get(
    "/{claim_id}/payments/{payment_id}",
    operation_id="getClaimPayment",
    response={200: PaymentResponse, **READ_ERRORS},
    summary="One of the claim's payments",
)
async def claim_payment_get(request, claim_id: UUID, payment_id: UUID):
    """One payment of this claim (a payment of another claim is a 404); the payee account only as its last 4
    characters."""
    require(request.auth, "claims.view_claimpayment", "view payments")

    def read():
        return selectors.claim_payment_row(selectors.payment_get(payment_id=payment_id, claim_id=claim_id))

    return detail_response(await sync_to_async(read)())


@payment_router.get(
    "",
    operation_id="listPayments",
    response={200: PaymentPage, **READ_ERRORS},
    summary="List payments (newest first)",
)
async def payment_list(request, filters: Query[PaymentFilter], paging: Query[PageQuery]):
    """A page of payments across claims, newest first, filtered by status, claim and cost type;
    `awaiting_my_approval=true` lists those you may approve now (requested by someone else, within your
    authority limit)."""
    user = request.auth
    require(user, "claims.view_claimpayment", "view payments")
    return json_response(await sync_to_async(selectors.payment_list)(filters=filters, params=paging, user=user))


@payment_router.get(
    "/{payment_id}",
    operation_id="getPayment",
    response={200: PaymentResponse, **READ_ERRORS},
    summary="A payment",
)
async def payment_get(request, payment_id: UUID):
    """A payment with who requested, approved, issued, cancelled or voided it and when; the payee account only
    as its last 4 characters."""
    require(request.auth, "claims.view_claimpayment", "view payments")
    return detail_response(await sync_to_async(_payment_by_id)(payment_id))


async def _step(service, **inputs):
    def write():
        return selectors.claim_payment_row(service(**inputs))

    return detail_response(await sync_to_async(write)())


@payment_router.post(
    "/{payment_id}/approve",
    operation_id="approvePayment",
    response={200: PaymentResponse, **WRITE_ERRORS},
    summary="Approve a requested payment (the second pair of eyes)",
)
async def payment_approve(request, payment_id: UUID):
    """Approve a `requested` payment. The requester cannot approve their own payment (403 four-eyes); an amount
    above your authority limit is a 403 naming it; a payment in any other status a 409."""
    return await _step(services.payment_approve, actor=request.auth, payment_id=payment_id)


@payment_router.post(
    "/{payment_id}/issue",
    operation_id="issuePayment",
    response={200: PaymentResponse, **WRITE_ERRORS},
    summary="Issue an approved payment (the money has left)",
)
async def payment_issue(request, payment_id: UUID):
    """Record that an `approved` payment has left (Finance): its cost type's reserve is eroded by the amount, and
    the claim moves to paid once issued indemnity reaches the approved amount. Any other status is a 409."""
    return await _step(services.payment_issue, actor=request.auth, payment_id=payment_id)


@payment_router.post(
    "/{payment_id}/cancel",
    operation_id="cancelPayment",
    response={200: PaymentResponse, **WRITE_ERRORS},
    summary="Cancel a payment before it is issued",
)
async def payment_cancel(request, payment_id: UUID, payload: PaymentReason):
    """Cancel a `requested` or `approved` payment, with a reason; no money moves. Any other status is a 409."""
    return await _step(services.payment_cancel, actor=request.auth, payment_id=payment_id, reason=payload.reason)


@payment_router.post(
    "/{payment_id}/void",
    operation_id="voidPayment",
    response={200: PaymentResponse, **WRITE_ERRORS},
    summary="Void an issued payment",
)
async def payment_void(request, payment_id: UUID, payload: PaymentReason):
    """Void an `issued` payment, with a reason: the reserve is restored, the paid total falls and a paid claim
    goes back to approved. Any other status is a 409."""
    return await _step(services.payment_void, actor=request.auth, payment_id=payment_id, reason=payload.reason)


# --- recoveries ------------------------------------------------------------------------------------------
@claim_router.get(
    "/{claim_id}/recoveries",
    operation_id="listClaimRecoveries",
    response={200: RecoveryPage, **READ_ERRORS},
    summary="A claim's recoveries (newest first)",
)
async def recovery_list(request, claim_id: UUID, paging: Query[PageQuery]):
    """Money that came back on the claim (salvage, subrogation, other), newest first."""
    require(request.auth, "claims.view_claimrecovery", "view recoveries")
    return json_response(await sync_to_async(selectors.recovery_list)(claim_id=claim_id, params=paging))


@claim_router.post(
    "/{claim_id}/recoveries",
    operation_id="recordClaimRecovery",
    response={201: RecoveryResponse, **WRITE_ERRORS},
    summary="Record a recovery on an approved, paid or closed claim",
)
async def recovery_record(request, claim_id: UUID, payload: RecoveryCreate):
    """Record money recovered on an approved, paid or closed claim (409 otherwise): salvage, subrogation or other,
    from `source`; it lowers the net incurred. `received_at` defaults to now."""
    actor, data = request.auth, payload.dict()

    def write():
        return selectors.claim_recovery_row(services.recovery_record(actor=actor, claim_id=claim_id, **data))

    return detail_response(await sync_to_async(write)(), status=201)
