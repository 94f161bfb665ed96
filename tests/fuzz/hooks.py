"""Schemathesis hooks of the contract fuzz run: point generated ids at the records the test seeded.

Random UUIDs only ever meet 404s; these hooks swap *valid* ids (and valid dates) for seeded ones, so requests
reach the endpoints' logic and positive data really creates policies and claims. A swap never turns an invalid
value into a valid one (only values that already parse are replaced, by values of the same kind), so the
negative-data checks keep their meaning. The ids come from the test in the FUZZ_IDS environment variable.
"""

from __future__ import annotations

import ast
import datetime as dt
import functools
import json
import os
import re
import threading
import uuid
from typing import Any
from uuid import UUID

import schemathesis
from hypothesis import strategies as st

from vanguard.api_support import openapi
from vanguard.core.pagination import MAX_PAGE_DEPTH

SEEDED: dict[str, list[Any]] = json.loads(os.environ.get("FUZZ_IDS", "{}"))


def _one_ast_parse_at_a_time(parse):
    """CPython 3.11.7 keeps the AST converter's recursion depth in interpreter-wide state (python/cpython#106905,
    fixed in later releases): two threads in `ast.parse` at once can end one of them in "SystemError: AST constructor
    recursion depth mismatch". The fuzzer's two workers do exactly that, through Hypothesis describing the lambdas
    its strategies are filtered with (it parses their source file), and the run ended in a runtime error that says
    nothing of the API. Serialised in this process only: the fuzzer is not the code under test."""
    lock = threading.Lock()

    @functools.wraps(parse)
    def serialised(*args, **kwargs):
        with lock:
            return parse(*args, **kwargs)

    return serialised


ast.parse = _one_ast_parse_at_a_time(ast.parse)
UPLOAD_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _is_uuid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        UUID(value)
    except ValueError:
        return False
    return True


# The ids of the document's examples (vanguard/api_support/openapi.py) stand for "a record you have": a
# client copying an example would use one of its own. The examples and coverage phases send them as they are.
_EXAMPLE_IDS = {
    "customer_id": openapi._CUSTOMER_ID,
    "policy_id": openapi._POLICY_ID,
    "claim_id": openapi._CLAIM_ID,
    "document_id": openapi._DOCUMENT_ID,
    "payment_id": openapi._PAYMENT_ID,
}
_EXAMPLE_ETAG = openapi.PARAMETERS["If-Match"]["example"]


def _valid_key(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 255 and re.search(r"[!-~]", value) is not None


@schemathesis.hook
def before_call(context, case, **kwargs):
    """What every client does, in every phase (the flatmap hooks below act in the generated phases only):
    a new Idempotency-Key for each request, the ETag it read in If-Match, and its own records' ids.
    Only valid values are replaced, by valid values (Schemathesis revalidates the case after this hook)."""
    meta = case.meta
    if (
        meta is not None
        and meta.generation.mode.is_negative
        and getattr(meta.phase.data, "parameter_location", None) == "header"
    ):
        # A probe of a header (a missing Authorization, a bad If-Match) is left exactly as generated: an edit here
        # makes Schemathesis revalidate the case as positive and send the header it meant to leave out.
        return
    headers = case.headers if case.headers is not None else {}
    # A key reused with another body is the 422 of SPEC §3 (tests/api/test_idempotency.py); Hypothesis may draw
    # one key twice, so the key is minted here, outside the generated data.
    if _valid_key(headers.get("Idempotency-Key")):
        headers["Idempotency-Key"] = f"fuzz-{uuid.uuid4()}"
    # The documented example ETag is never a record's current one (always a 412): `*` is "the version I read".
    if headers.get("If-Match") == _EXAMPLE_ETAG:
        headers["If-Match"] = "*"
    for name, value in (case.path_parameters or {}).items():
        if value == _EXAMPLE_IDS.get(name):
            if (
                name in ("claim_id", "document_id")
                and SEEDED.get("documents")
                and "document_id" in (case.path_parameters or {})
            ):
                case.path_parameters["claim_id"], case.path_parameters["document_id"] = SEEDED["documents"][0]
            elif (
                name in ("claim_id", "payment_id")
                and SEEDED.get("claim_payments")
                and {"claim_id", "payment_id"} <= set(case.path_parameters or {})
            ):
                case.path_parameters["claim_id"], case.path_parameters["payment_id"] = SEEDED["claim_payments"][0]
            elif name == "claim_id" and case.operation.path.endswith("/payments") and SEEDED.get("payable_claim"):
                case.path_parameters[name] = SEEDED["payable_claim"][0]  # a claim with room for any payment
            elif name == "claim_id" and case.operation.path.endswith("/reserves") and SEEDED.get("reservable_claim"):
                case.path_parameters[name] = SEEDED["reservable_claim"][0]  # a claim with room for any reserve
            elif _own_pool(case.operation, name):
                case.path_parameters[name] = _own_pool(case.operation, name)[0]
            elif SEEDED.get(name):
                case.path_parameters[name] = SEEDED[name][0]
    body = case.body if isinstance(case.body, dict) else None
    if body is not None:
        if body.get("policy_id") == openapi._POLICY_ID and SEEDED.get("claimable_policy"):
            body["policy_id"] = SEEDED["claimable_policy"][0]
        if body.get("customer_id") == openapi._CUSTOMER_ID and SEEDED.get("customer_id"):
            body["customer_id"] = SEEDED["customer_id"][0]
        if case.method.upper() == "POST" and case.operation.path in (
            "/api/policies",
            "/api/policies/{policy_id}/renew",
        ):
            body.update(_term_in_order(body))
    query = case.query if isinstance(case.query, dict) else None
    if query is not None and not (meta is not None and meta.generation.mode.is_negative):
        _page_within_cap(query)


def _page_within_cap(query: dict) -> None:
    """Two list rules no JSON Schema can state, documented in the parameters' descriptions: a `cursor` is a token
    the server signed (a generated string never is one: a 422, rightly), and `page x page_size` is capped at
    MAX_PAGE_DEPTH (a 422 pointing to the cursor). Valid cases page by number within the cap; the cursor and the
    cap have their own tests (tests/api/test_pagination.py)."""
    query.pop("cursor", None)
    try:
        page, size = int(query.get("page", 1)), int(query.get("page_size", 20))
    except (TypeError, ValueError):
        return
    if size >= 1 and page * size > MAX_PAGE_DEPTH:
        query["page"] = max(1, MAX_PAGE_DEPTH // size)


@schemathesis.hook
def flatmap_path_parameters(context, path_parameters):
    if not path_parameters or not all(_is_uuid(v) for v in path_parameters.values()):
        return st.just(path_parameters)
    if set(path_parameters) == {"claim_id", "document_id"}:
        seeded = [{"claim_id": c, "document_id": d} for c, d in SEEDED.get("documents", [])]
    elif set(path_parameters) == {"claim_id", "payment_id"}:
        seeded = [{"claim_id": c, "payment_id": p} for c, p in SEEDED.get("claim_payments", [])]
    elif len(path_parameters) == 1:
        (name,) = path_parameters
        if name == "claim_id":
            values = _claim_pool(context.operation)
        else:
            values = _own_pool(context.operation, name) + SEEDED.get(name, [])
        seeded = [{name: value} for value in values]
    else:
        seeded = []
    # The generated id stays one of the choices: unknown ids (404) are part of the contract too.
    return st.sampled_from([path_parameters, *seeded])


# Operations that move a record on for good (a cancelled policy, an approved, cancelled or voided payment), with
# records of their own in the state each starts from. The shared records (policies in three states, a payment in
# each status) stay in play after these, so the 409 of a record already moved on is part of the contract too.
_OWN_POOLS = {
    ("PATCH", "/api/policies/{policy_id}"): "policies_to_change",
    ("POST", "/api/policies/{policy_id}/renew"): "policies_to_renew",
    ("POST", "/api/payments/{payment_id}/approve"): "payments_to_approve",
    ("POST", "/api/payments/{payment_id}/issue"): "payments_to_issue",
    ("POST", "/api/payments/{payment_id}/cancel"): "payments_to_cancel",
    ("POST", "/api/payments/{payment_id}/void"): "payments_to_void",
}


def _own_pool(operation: Any, name: str) -> list[str]:
    """The records of the operation's own (first: Hypothesis draws the first of a list most, and the examples
    phase sends the first). Without them, an earlier phase, or the other worker fuzzing `cancel` at the same time,
    moved the three shared records on, and a phase whose every schema-valid case then met a 409 (or a 404 for
    the generated id) reached the operation's logic never: Schemathesis warns, rightly."""
    if operation is None:
        return []
    return list(SEEDED.get(_OWN_POOLS.get((operation.method.upper(), operation.path), ""), []))


def _claim_pool(operation: Any) -> list[str]:
    """The claims an operation's generated cases may name. The two money claims are each written by one kind
    of operation only: the payable claim (reserves and approval with room for any payment) by the payment
    operations, the reservable one by the reserve operations, and both are read by every GET. Otherwise, with
    two workers, an operation fuzzed at the same time drains or closes them (a reserve set to 0.07, a claim
    PATCHed to denied), after which every schema-valid payment is rightly a 400 or a 409 and the run ends with
    none accepted. Half the draws of a money write go to its own claim; the rest keep the shared claims in play
    (a denied one among them: its 409 is part of the contract)."""
    shared = list(SEEDED.get("claim_id", []))
    path = operation.path if operation is not None else ""
    own = {"/payments": "payable_claim", "/reserves": "reservable_claim"}
    for suffix, key in own.items():
        if path.endswith(suffix):
            return shared + SEEDED.get(key, []) * max(1, len(shared))
    if operation is not None and operation.method.upper() == "GET":
        return shared + SEEDED.get("payable_claim", []) + SEEDED.get("reservable_claim", [])
    return shared


def _past_moment(value: Any) -> Any:
    """A valid date-time in the future becomes a valid one in the past (the schema cannot say "not in the
    future": that bound moves every day, see ClaimCreate.incident_date)."""
    moment = _moment(value)
    if moment is not None and moment.astimezone(dt.UTC) > dt.datetime.now(dt.UTC) - dt.timedelta(days=1):
        return "2020-02-29T12:00:00Z"
    return value


def _past_date(value: Any) -> Any:
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            return value
        if day >= dt.date.today():
            return "1980-05-17"
    return value


def _moment(value: Any) -> dt.datetime | None:
    if isinstance(value, str) and DATE_TIME.match(value):
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def _term_in_order(body: dict) -> dict:
    """Two valid dates in the wrong order become a valid term (end a year after start): "end after start" is a
    rule between two fields that JSON Schema cannot state; SPEC §3 makes it a 422 (tests/policies/test_api.py)."""
    start, end = _moment(body.get("start_date")), _moment(body.get("end_date"))
    if start is not None and end is not None and end <= start:
        later = start + dt.timedelta(days=365)
        if later.astimezone(dt.UTC).year <= 2999:
            return {**body, "end_date": later.isoformat()}
        if end < start:  # a start at the end of the documented years: swap the two instead
            return {**body, "start_date": body["end_date"], "end_date": body["start_date"]}
        # Equal, in the last documented year: the term starts a year before its end (inside the years too).
        return {**body, "start_date": (end - dt.timedelta(days=365)).isoformat()}
    return body


@schemathesis.hook
def flatmap_headers(context, headers):
    headers = headers or {}
    # A client mints a new Idempotency-Key for each new request; a generated key reused with another body is
    # the 422 of SPEC §3 (tests/api/test_idempotency.py covers it).
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and 1 <= len(key) <= 255 and key.strip():
        return st.uuids().map(lambda u: {**headers, "Idempotency-Key": f"fuzz-{u}"})
    # A generated If-Match is never the record's current ETag (always a 412): also try the header left out and
    # `*`, both documented and valid, so the change itself is reached.
    tag = headers.get("If-Match")
    if isinstance(tag, str) and 0 < len(tag) <= 1024:
        without = {k: v for k, v in headers.items() if k != "If-Match"}
        return st.sampled_from([headers, without, {**headers, "If-Match": "*"}])
    return st.just(headers)


def _valid_string(value: Any) -> bool:
    return isinstance(value, str) and len(value) > 0 and "\x00" not in value


@schemathesis.hook
def flatmap_body(context, body):
    if not isinstance(body, dict) or context.operation is None:
        return st.just(body)
    route = (context.operation.method.upper(), context.operation.path)
    if (
        route == ("POST", "/api/auth/login")
        and set(body) == {"email", "password"}
        and all(_valid_string(v) for v in body.values())
    ):
        return st.sampled_from([body, *SEEDED.get("logins", [])])
    if (
        route in (("POST", "/api/auth/refresh"), ("POST", "/api/auth/logout"))
        and _valid_string(body.get("refresh_token"))
        and set(body) == {"refresh_token"}
    ):
        return st.sampled_from([body, *({"refresh_token": t} for t in SEEDED.get("refresh_tokens", []))])
    if route == ("POST", "/api/claims"):
        if "incident_date" in body:
            body = {**body, "incident_date": _past_moment(body["incident_date"])}
        if _is_uuid(body.get("policy_id")):
            return st.sampled_from([body, *({**body, "policy_id": p} for p in SEEDED.get("claimable_policy", []))])
    if route == ("POST", "/api/claims/{claim_id}/documents") and isinstance(body.get("file"), bytes | str):
        # Generated bytes are almost never a document the content sniffer accepts (a 400, rightly): also send a
        # real PDF, so the upload is reached and accepted, whatever other claims the seeded ids offer. The PDF is
        # listed first: Hypothesis draws the first choice most, and a fuzzing phase that drew the generated bytes
        # for each of its few distinct uploads reached none.
        return st.sampled_from([{**body, "file": UPLOAD_PDF}, body])
    if route == ("POST", "/api/claims/{claim_id}/recoveries") and "received_at" in body:
        body = {**body, "received_at": _past_moment(body["received_at"])}  # "not in the future", as for incidents
    if route == ("POST", "/api/customers"):
        if "date_of_birth" in body:
            body = {**body, "date_of_birth": _past_date(body["date_of_birth"])}
        if _valid_string(body.get("email")):
            # A new customer comes with a new address: generated addresses repeat within and across phases, and a
            # phase whose consenting cases all named an address already on file (409) reached no creation at
            # all. The generated body is still sent too.
            return st.one_of(st.just(body), st.uuids().map(lambda u: {**body, "email": f"fuzz-{u.hex}@example.com"}))
    if route == ("POST", "/api/policies"):
        body = _term_in_order(body)
        if _is_uuid(body.get("customer_id")):
            return st.sampled_from([body, *({**body, "customer_id": c} for c in SEEDED.get("customer_id", []))])
    if route == ("POST", "/api/policies/{policy_id}/renew"):
        body = _term_in_order(body)
    if route == ("PATCH", "/api/claims/{claim_id}") and _is_uuid(body.get("assigned_to")):
        # A random id names no staff user (400): also assign to a seeded claims handler.
        return st.sampled_from([body, *({**body, "assigned_to": s} for s in SEEDED.get("staff_id", []))])
    return st.just(body)
