"""Schemathesis hooks of the contract fuzz run: point generated ids at the records the test seeded.

Random UUIDs only ever meet 404s; these hooks swap *valid* ids (and valid dates) for seeded ones, so requests
reach the endpoints' logic and positive data really creates policies and claims. A swap never turns an invalid
value into a valid one (only values that already parse are replaced, by values of the same kind), so the
negative-data checks keep their meaning. The ids come from the test in the FUZZ_IDS environment variable.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from typing import Any
from uuid import UUID

import schemathesis
from hypothesis import strategies as st

SEEDED: dict[str, list[Any]] = json.loads(os.environ.get("FUZZ_IDS", "{}"))
DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _is_uuid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        UUID(value)
    except ValueError:
        return False
    return True


@schemathesis.hook
def flatmap_path_parameters(context, path_parameters):
    if not path_parameters or not all(_is_uuid(v) for v in path_parameters.values()):
        return st.just(path_parameters)
    if set(path_parameters) == {"claim_id", "document_id"}:
        seeded = [{"claim_id": c, "document_id": d} for c, d in SEEDED.get("documents", [])]
    elif len(path_parameters) == 1:
        (name,) = path_parameters
        seeded = [{name: value} for value in SEEDED.get(name, [])]
    else:
        seeded = []
    # The generated id stays one of the choices: unknown ids (404) are part of the contract too.
    return st.sampled_from([path_parameters, *seeded])


def _past_moment(value: Any) -> Any:
    """A valid date-time in the future becomes a valid one in the past (the schema cannot say "not in the
    future": that bound moves every day, see ClaimCreate.incident_date)."""
    if isinstance(value, str) and DATE_TIME.match(value):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        if moment.astimezone(dt.UTC) > dt.datetime.now(dt.UTC) - dt.timedelta(days=1):
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


@schemathesis.hook
def flatmap_headers(context, headers):
    # A client mints a new Idempotency-Key for each new request; the fuzzer would send the documented example
    # key with other bodies, which is the 422 of SPEC §3 (tests/api/test_idempotency.py covers it).
    key = (headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and 1 <= len(key) <= 255:
        return st.uuids().map(lambda u: {**headers, "Idempotency-Key": f"fuzz-{u}"})
    return st.just(headers)


def _valid_string(value: Any) -> bool:
    return isinstance(value, str) and len(value) > 0 and "\x00" not in value


@schemathesis.hook
def flatmap_body(context, body):
    if not isinstance(body, dict) or context.operation is None:
        return st.just(body)
    route = (context.operation.method.upper(), context.operation.path)
    if route == ("POST", "/api/auth/login") and set(body) == {"email", "password"} and all(
            _valid_string(v) for v in body.values()):
        return st.sampled_from([body, *SEEDED.get("logins", [])])
    if route in (("POST", "/api/auth/refresh"), ("POST", "/api/auth/logout")) and _valid_string(
            body.get("refresh_token")) and set(body) == {"refresh_token"}:
        return st.sampled_from([body, *({"refresh_token": t} for t in SEEDED.get("refresh_tokens", []))])
    if route == ("POST", "/api/claims"):
        if "incident_date" in body:
            body = {**body, "incident_date": _past_moment(body["incident_date"])}
        if _is_uuid(body.get("policy_id")):
            return st.sampled_from([body, *({**body, "policy_id": p} for p in SEEDED.get("claimable_policy", []))])
    if route == ("POST", "/api/customers") and "date_of_birth" in body:
        body = {**body, "date_of_birth": _past_date(body["date_of_birth"])}
    if route == ("POST", "/api/policies") and _is_uuid(body.get("customer_id")):
        return st.sampled_from([body, *({**body, "customer_id": c} for c in SEEDED.get("customer_id", []))])
    return st.just(body)
