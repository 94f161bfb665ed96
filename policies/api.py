"""`/api/policies` (SPEC §3): thin async endpoints over policies.selectors and policies.services."""

from __future__ import annotations

from uuid import UUID

from asgiref.sync import sync_to_async
from ninja import Body, Header, Query, Router

from policies import selectors, services
from policies.models import Policy
from policies.schemas import PolicyCreate, PolicyFilter, PolicyPage, PolicyRenew, PolicyResponse, PolicyUpdate
from vanguard.accounts.permissions import require
from vanguard.api_support.etag import etag_for
from vanguard.api_support.http import json_response
from vanguard.api_support.idempotency import idempotency_key_header
from vanguard.api_support.schemas import ErrorResponse
from vanguard.api_support.writes import create_response, detail_response, guarded_update
from vanguard.core.pagination import PageQuery

router = Router(tags=["policies"])

E = ErrorResponse
READ_ERRORS = {401: E, 403: E, 404: E, 422: E, 429: E}
NO_BODY = Body(None)  # the renewal options are all optional: an empty body renews with the defaults


def _render_by_id(policy_id: UUID) -> dict:
    return selectors.policy_row(selectors.policy_get(policy_id=policy_id))


@router.get(
    "",
    operation_id="listPolicies",
    response={200: PolicyPage, **READ_ERRORS},
    summary="List policies (newest first)",
)
async def policy_list(request, filters: Query[PolicyFilter], paging: Query[PageQuery]):
    """A page of policies, newest first, filtered by customer, type, status, premium range and the day
    a policy is in force (`active_on`)."""
    require(request.auth, "policies.view_policy", "view policies")
    return json_response(await sync_to_async(selectors.policy_list)(filters=filters, params=paging))


@router.post(
    "",
    operation_id="createPolicy",
    response={201: PolicyResponse, 400: E, 401: E, 403: E, 404: E, 409: E, 422: E, 429: E},
    summary="Write a policy (active when it has started, pending when it starts in the future)",
)
async def policy_create(
    request,
    payload: PolicyCreate,
    idempotency_key: str | None = idempotency_key_header(),
):
    """Write a policy for a customer: active when its term has started, pending when it starts later.
    A premium below the minimum for its type is a 400; an unknown customer a 404; end not after start, or an
    amount not above 0, a 422. Honours Idempotency-Key."""
    actor, data = request.auth, payload.dict()
    return await create_response(
        request,
        key_header=idempotency_key,
        route="POST /api/policies",
        payload=data,
        create=lambda: services.policy_create(actor=actor, **data),
        render=_render_by_id,
    )


@router.get(
    "/{policy_id}",
    operation_id="getPolicy",
    response={200: PolicyResponse, **READ_ERRORS},
    summary="A policy with its customer",
)
async def policy_get(request, policy_id: UUID):
    """A policy with its customer summary, and the ETag to send as If-Match when changing it."""
    require(request.auth, "policies.view_policy", "view policies")
    policy = await sync_to_async(selectors.policy_get)(policy_id=policy_id)
    return detail_response(selectors.policy_row(policy), etag=etag_for(policy.pk, policy.updated_at))


@router.patch(
    "/{policy_id}",
    operation_id="updatePolicy",
    response={200: PolicyResponse, 400: E, 401: E, 403: E, 404: E, 409: E, 412: E, 422: E, 429: E},
    summary="Amend premium, coverage or end date, or change the status (If-Match honoured)",
)
async def policy_update(
    request,
    policy_id: UUID,
    payload: PolicyUpdate,
    if_match: str | None = Header(None, alias="If-Match", max_length=1024),
):
    """Amend premium, coverage or end date, or change the status, which runs the lifecycle transition
    (an illegal move is a 409; `reason`, and `effective_date` for a cancellation, go with it). Amendments and
    transition are one change: when the transition is refused nothing is written. If-Match honoured (412)."""
    actor = request.auth
    changes = payload.dict(exclude_unset=True)

    def write():
        # One service call, one transaction: a refused transition also undoes the amendments sent with it.
        guarded_update(
            model=Policy,
            pk=policy_id,
            if_match=if_match,
            update=lambda: services.policy_update(actor=actor, policy_id=policy_id, **changes),
        )
        policy = selectors.policy_get(policy_id=policy_id)
        return selectors.policy_row(policy), etag_for(policy.pk, policy.updated_at)

    body, etag = await sync_to_async(write)()
    return detail_response(body, etag=etag)


@router.post(
    "/{policy_id}/renew",
    operation_id="renewPolicy",
    response={201: PolicyResponse, 400: E, 401: E, 403: E, 404: E, 409: E, 422: E, 429: E},
    summary="Renew: the next term as a new policy (renewal_of set)",
)
async def policy_renew(
    request,
    policy_id: UUID,
    payload: PolicyRenew | None = NO_BODY,
    idempotency_key: str | None = idempotency_key_header(),
):
    """Renew a policy: the next term is written as a new policy (`renewal_of_id` set), by default with
    the same cover for a term of the same length starting when this one ends; the body may change premium,
    coverage and dates. A default term that would end after 2999 is a 400 (give `end_date`). Honours
    Idempotency-Key."""
    actor = request.auth
    options = payload.dict(exclude_none=True) if payload else {}
    return await create_response(
        request,
        key_header=idempotency_key,
        route=f"POST /api/policies/{policy_id}/renew",
        payload=options,
        create=lambda: services.policy_renew(actor=actor, policy_id=policy_id, **options),
        render=_render_by_id,
    )
