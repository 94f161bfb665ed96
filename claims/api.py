"""`/api/claims` (SPEC §3): claims, their transitions and documents."""

from __future__ import annotations

import hashlib
from uuid import UUID

from asgiref.sync import sync_to_async
from django.http import FileResponse, Http404
from ninja import File, Form, Header, Query, Router
from ninja.files import UploadedFile

from claims import selectors, services
from claims.documents import ALLOWED_TYPES
from claims.models import Claim, ClaimDocument
from claims.schemas import ClaimCreate, ClaimFilter, ClaimPage, ClaimResponse, ClaimUpdate, DocumentResponse
from vanguard.accounts.permissions import require
from vanguard.api_support.etag import etag_for
from vanguard.api_support.http import json_response
from vanguard.api_support.idempotency import idempotency_key_header
from vanguard.api_support.schemas import ErrorResponse
from vanguard.api_support.writes import create_response, detail_response, guarded_update
from vanguard.core.errors import InvalidInput
from vanguard.core.pagination import PageQuery

router = Router(tags=["claims"])

E = ErrorResponse
READ_ERRORS = {401: E, 403: E, 404: E, 422: E, 429: E}


def _render_by_id(claim_id: UUID) -> dict:
    return selectors.claim_row(selectors.claim_get(claim_id=claim_id))


@router.get(
    "",
    operation_id="listClaims",
    response={200: ClaimPage, **READ_ERRORS},
    summary="List claims (newest first)",
)
async def claim_list(request, filters: Query[ClaimFilter], paging: Query[PageQuery]):
    """A page of claims, newest first, filtered by policy, customer, status, type, assignee and incident
    time."""
    require(request.auth, "claims.view_claim", "view claims")
    return json_response(await sync_to_async(selectors.claim_list)(filters=filters, params=paging))


@router.post(
    "",
    operation_id="createClaim",
    response={201: ClaimResponse, 400: E, 401: E, 403: E, 404: E, 409: E, 422: E, 429: E},
    summary="File a claim against an active, inactive or expired policy",
)
async def claim_create(
    request,
    payload: ClaimCreate,
    idempotency_key: str | None = idempotency_key_header(),
):
    """File a claim against a policy. An amount above the coverage, an incident outside the policy term
    or a policy that cannot be claimed on is a 400; an unknown policy a 404; an incident in the future a 422.
    Honours Idempotency-Key."""
    actor, data = request.auth, payload.dict()
    return await create_response(
        request,
        key_header=idempotency_key,
        route="POST /api/claims",
        payload=data,
        create=lambda: services.claim_create(actor=actor, **data),
        render=_render_by_id,
        render_created=selectors.new_claim_row,
    )


@router.get(
    "/{claim_id}",
    operation_id="getClaim",
    response={200: ClaimResponse, **READ_ERRORS},
    summary="A claim with its policy and documents",
)
async def claim_get(request, claim_id: UUID):
    """A claim with its policy and documents, and the ETag to send as If-Match when changing it."""
    require(request.auth, "claims.view_claim", "view claims")
    claim = await sync_to_async(selectors.claim_get)(claim_id=claim_id)
    return detail_response(selectors.claim_row(claim), etag=etag_for(claim.pk, claim.updated_at))


@router.patch(
    "/{claim_id}",
    operation_id="updateClaim",
    response={200: ClaimResponse, 400: E, 401: E, 403: E, 404: E, 409: E, 412: E, 422: E, 429: E},
    summary="Edit, assign, or change the status (runs the transition; If-Match honoured)",
)
async def claim_update(
    request,
    claim_id: UUID,
    payload: ClaimUpdate,
    if_match: str | None = Header(None, alias="If-Match", max_length=1024),
):
    """Edit the description, assign (null unassigns), or change the status, which runs the transition:
    processing, approved (`approved_amount`, by default the full claim amount; above the caller's authority limit
    a 403), denied (`decision_reason`), paid, closed. An illegal transition is a 409; `approved_amount` or
    `decision_reason` without a status a 422. All in one change. If-Match honoured (412 when stale)."""
    actor = request.auth
    changes = payload.dict(exclude_unset=True)
    if "assigned_to" in changes:  # sent, even as null (unassign): the service's assignee
        changes["assignee_id"] = changes.pop("assigned_to")

    def write():
        # One service call, one transaction: a refused transition also undoes the edits sent with it.
        guarded_update(
            model=Claim,
            pk=claim_id,
            if_match=if_match,
            update=lambda: services.claim_update(actor=actor, claim_id=claim_id, **changes),
        )
        claim = selectors.claim_get(claim_id=claim_id)
        return selectors.claim_row(claim), etag_for(claim.pk, claim.updated_at)

    body, etag = await sync_to_async(write)()
    return detail_response(body, etag=etag)


def _sha256(upload: UploadedFile) -> str:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


_UPLOAD_FIELDS = frozenset({"document_type"})
_UPLOAD_FILES = frozenset({"file"})


def _refuse_unknown_parts(request) -> None:
    """The form is as strict as a JSON body (`additionalProperties: false`): an unknown part is a 422 that
    names it, never silently dropped (a misspelt `document_type` would otherwise file the document as "other")."""
    unknown = sorted((set(request.POST) - _UPLOAD_FIELDS) | (set(request.FILES) - _UPLOAD_FILES))
    if unknown:
        raise InvalidInput("Unknown form fields: " + ", ".join(repr(name)[:40] for name in unknown[:5]) + ".")


@router.post(
    "/{claim_id}/documents",
    operation_id="uploadClaimDocument",
    response={201: DocumentResponse, 400: E, 401: E, 403: E, 404: E, 422: E, 429: E},
    summary="Upload a document (multipart; JPEG, PNG, GIF, PDF, DOC, DOCX; ≤ 10 MB; type sniffed from content)",
)
async def document_upload(
    request,
    claim_id: UUID,
    file: File[UploadedFile],
    document_type: Form[ClaimDocument.DocumentType] = ClaimDocument.DocumentType.OTHER,
    idempotency_key: str | None = idempotency_key_header(),
):
    """Attach a document to a claim, sent as multipart/form-data: `file` (JPEG, PNG, GIF, PDF, DOC or
    DOCX, at most 10 MB; the type is sniffed from the content, never taken from the name) and `document_type`.
    Honours Idempotency-Key (the key covers the file's content)."""
    _refuse_unknown_parts(request)
    actor = request.auth
    payload = None
    if idempotency_key:
        payload = {
            "claim_id": str(claim_id),
            "document_type": str(document_type),
            "filename": file.name,
            "sha256": await sync_to_async(_sha256)(file),
        }

    def create():
        return services.claim_document_add(
            actor=actor,
            claim_id=claim_id,
            fileobj=file,
            filename=file.name or "document",
            document_type=document_type,
        )

    def render(document_id):
        return selectors.document_row(ClaimDocument.objects.get(pk=document_id))

    return await create_response(
        request,
        key_header=idempotency_key,
        route=f"POST /api/claims/{claim_id}/documents",
        payload=payload,
        create=create,
        render=render,
    )


@router.get(
    "/{claim_id}/documents/{document_id}",
    operation_id="downloadClaimDocument",
    response=READ_ERRORS,
    summary="Download a document (streamed with its sniffed content type)",
    openapi_extra={
        "responses": {
            "200": {
                "description": "the file",
                # Served with the type sniffed at upload: one of the allowed document types.
                "content": {mime: {"schema": {"type": "string", "format": "binary"}} for mime in ALLOWED_TYPES},
            }
        }
    },
)
async def document_download(request, claim_id: UUID, document_id: UUID):
    """Download a claim document: the file as an attachment, with the content type sniffed at upload."""
    require(request.auth, "claims.view_claimdocument", "view claim documents")

    def open_file():
        document = selectors.document_get(claim_id=claim_id, document_id=document_id)
        try:
            return document, document.file.open("rb")
        except FileNotFoundError as exc:  # the row outlived its file: report it as missing, not as a crash
            raise Http404("document file missing") from exc

    document, handle = await sync_to_async(open_file)()
    response = FileResponse(handle, content_type=document.mime_type, as_attachment=True, filename=document.filename)
    response["Cache-Control"] = "private, no-store"
    return response
