"""The API contract, proven by a schema fuzzer (issue 8): Schemathesis against a live ASGI server.

The server is the real ASGI application (`vanguard.asgi`) under uvicorn, in a thread of this process, on the
pytest-django test database (PostgreSQL) with records seeded by the test, so path ids resolve. Schemathesis runs
as its own process (its command line, as a developer would run it) with every check and every phase — examples,
coverage, fuzzing, stateful — once as a superuser and once as a customer-service clerk, and must report nothing:
any failure or warning fails the test (there is no expected-failure mode; a finding is fixed in the product).
Its configuration, and the one justified exception, are in tests/fuzz/schemathesis.toml; tests/fuzz/hooks.py
plays a real client (its own ids, a new Idempotency-Key per request, the ETag it read) without ever turning an
invalid value into a valid one.

Tuning (environment): FUZZ_MAX_EXAMPLES (per operation and phase, default 40), FUZZ_SEED (default fixed, so a CI
failure reproduces; `random` for a new one each run), FUZZ_TIMEOUT (seconds per role, default 240), FUZZ_REPORT_DIR
(a HAR file of every request and answer per role, to see what a warning counted).

Rate limits and the login lockout are test-environment configuration here, raised for the run: the fuzzer sends
thousands of requests a minute from one address and tries logins with made-up passwords.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile

from claims import services as claim_services
from claims.financials import services as financial_services
from claims.models import Claim, ClaimDocument
from customers.models import Customer
from policies.models import Policy
from tests import factories
from tests.live_asgi import serve
from vanguard.accounts import roles
from vanguard.accounts.auth import tokens_issue

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.fuzz]


@pytest.fixture
def live_asgi(transactional_db, settings):
    """The ASGI app served by uvicorn on a free port; the test database is shared (committed data)."""
    settings.API_RATE_LIMIT_USER = "1000000/m"
    settings.API_RATE_LIMIT_ANON = "1000000/m"
    settings.LOGIN_FAILURE_LIMIT = 1_000_000
    settings.LOGIN_IP_FAILURE_LIMIT = 1_000_000
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    cache.clear()
    from vanguard.asgi import application

    with serve(application, name="fuzz") as url:
        yield url
    cache.clear()


def _seed(user) -> dict[str, list]:
    """Records of every kind the paths name: customers, policies in several states, claims, documents."""
    actor = factories.UserFactory(superuser=True, email="seed@vanguard.test")
    customers = [factories.CustomerFactory() for _ in range(3)]
    active = factories.PolicyFactory(customer=customers[0])
    # A claim target for any schema-valid incident date in the past and any amount: its term spans the
    # documented years and its coverage is the largest amount.
    claimable = factories.PolicyFactory(
        customer=customers[1],
        start_date=dt.datetime(1900, 1, 1, tzinfo=dt.UTC),
        end_date=dt.datetime(2999, 12, 31, tzinfo=dt.UTC),
        coverage_amount=Decimal("9999999999999.99"),
    )
    pending = factories.PolicyFactory(customer=customers[2], pending=True)
    claims = [
        factories.ClaimFactory(policy=active),
        factories.ClaimFactory(policy=claimable, approved=True),
        factories.ClaimFactory(policy=active, denied=True),
    ]
    documents = [
        claim_services.claim_document_add(
            actor=actor,
            claim_id=claims[0].pk,
            fileobj=ContentFile(PDF, "r.pdf"),
            filename="report.pdf",
            document_type=ClaimDocument.DocumentType.OTHER,
        ),
    ]
    payable, payments, own_payments = _seed_money(actor, claimable)
    # Written only by the reserve operations (tests/fuzz/hooks.py): any reserve up to the coverage fits.
    reservable = factories.ClaimFactory(policy=claimable, approved=True)
    return {
        "customer_id": [str(c.pk) for c in customers],
        "policy_id": [str(p.pk) for p in (active, claimable, pending)],
        "claim_id": [str(c.pk) for c in claims],  # the money claims below go to their own operations
        "documents": [[str(d.claim_id), str(d.pk)] for d in documents],
        "payable_claim": [str(payable.pk)],
        "reservable_claim": [str(reservable.pk)],
        "payment_id": [str(p.pk) for p in payments],
        "claim_payments": [[str(p.claim_id), str(p.pk)] for p in payments],
        "claimable_policy": [str(claimable.pk)],
        "policies_to_change": [str(factories.PolicyFactory(customer=customers[0]).pk) for _ in range(OWN)],
        "policies_to_renew": [str(factories.PolicyFactory(customer=customers[1]).pk) for _ in range(OWN)],
        **own_payments,
        "staff_id": [str(factories.staff(roles.CLAIMS_ADJUSTER).pk)],
        # Real credentials and refresh tokens, so login, refresh and logout are reached beyond their 401s.
        "logins": [{"email": user.email, "password": factories.PASSWORD}],
        "refresh_tokens": [tokens_issue(user=user)["refresh_token"] for _ in range(20)],
    }


# How many records of its own each operation that moves a record on for good gets (tests/fuzz/hooks.py).
OWN = 4


def _seed_money(actor, policy: Policy) -> tuple[Claim, list, dict[str, list[str]]]:
    """An approved claim whose approved amount and reserves leave room for any schema-valid payment (half the
    largest amount each: gross incurred fits Decimal(15,2)), and payments in every status on it, so the money
    paths reach their logic (the stateful phase moves them on: approve, issue, cancel, void)."""
    half = Decimal("4999999999999.99")
    claim = factories.ClaimFactory(policy=policy, approved=True, claim_amount=half)
    for cost_type in ("indemnity", "expense"):
        financial_services.claim_reserve_set(
            actor=actor, claim_id=claim.pk, cost_type=cost_type, amount=half, reason="fuzz seed"
        )
    low = factories.staff(roles.CLAIMS_MANAGER, authority_limit=Decimal("1.00"))  # its payments await approval

    def pay(requester, amount: str, cost_type: str = "expense"):
        return financial_services.payment_request(
            actor=requester,
            claim_id=claim.pk,
            cost_type=cost_type,
            amount=Decimal(amount),
            payee_name="Seed payee",
            payee_account="NL91ABNA0417164300",
            payee_is_policyholder=False,
            method="bank_transfer",
        )

    def issued(amount: str):
        payment = pay(actor, amount)
        financial_services.payment_issue(actor=actor, payment_id=payment.pk)
        return payment

    shared = [pay(low, "10.00"), pay(actor, "20.00", "indemnity"), issued("30.00")]
    financial_services.recovery_record(
        actor=actor, claim_id=claim.pk, kind="salvage", amount=Decimal("5.00"), source="Seed salvage"
    )
    # Each operation that moves a payment on has payments of its own in the status it starts from
    # (tests/fuzz/hooks.py, _OWN_POOLS).
    own = {
        "payments_to_approve": [pay(low, "11.00") for _ in range(OWN)],
        "payments_to_cancel": [pay(low, "12.00") for _ in range(OWN)],
        "payments_to_issue": [pay(actor, "13.00") for _ in range(OWN)],
        "payments_to_void": [issued("14.00") for _ in range(OWN)],
    }
    return claim, shared, {key: [str(p.pk) for p in payments] for key, payments in own.items()}


# Every warning but missing_auth, for the limited role's run only (see tests/fuzz/schemathesis.toml).
LIMITED_ROLE_WARNINGS = (
    "missing_test_data,base_url_mismatch,validation_mismatch,missing_deserializer,unused_openapi_auth,"
    "unsupported_regex,method_not_allowed,constants_extraction,unmatched_filter,unresolvable_reference,"
    "rate_limited,dictionary_mismatch,timeout_units"
)


def _schemathesis(base_url: str, token: str, ids: dict, workdir: Path, *, limited: bool) -> subprocess.CompletedProcess:
    seed = os.environ.get("FUZZ_SEED", "20240608")
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "--no-color",
        "run",
        f"{base_url}/api/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        os.environ.get("FUZZ_MAX_EXAMPLES", "40"),
        "--workers",
        "2",
        "-H",
        f"Authorization: Bearer {token}",
    ]
    if seed != "random":
        command += ["--seed", seed]
    if limited:
        command += ["--warnings", LIMITED_ROLE_WARNINGS]
    if os.environ.get("FUZZ_REPORT_DIR"):  # every request and answer, as HAR, to see what a warning counted
        command += ["--report", "har", "--report-dir", str(Path(os.environ["FUZZ_REPORT_DIR"]) / workdir.name)]
    # The fuzzer is not the code under test: coverage (COVERAGE=1 in CI measures subprocesses) is kept out of its
    # process. Traced, its threads' ast.parse calls hit CPython 3.11's "AST constructor recursion depth mismatch"
    # (python/cpython#106905) and the run ended in a SystemError inside Hypothesis.
    env = {name: value for name, value in os.environ.items() if not name.startswith("COVERAGE_")}
    env.update({"FUZZ_IDS": json.dumps(ids), "PYTHONPATH": str(ROOT), "NO_COLOR": "1"})
    return subprocess.run(  # noqa: S603 (our own venv's schemathesis, arguments built here)
        command,
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=int(os.environ.get("FUZZ_TIMEOUT", "240")),
        check=False,
    )


@pytest.mark.parametrize("role", ["superuser", roles.CUSTOMER_SERVICE])
def test_the_fuzzer_finds_nothing(live_asgi, role, tmp_path):
    # given records for every path and a caller of this role
    if role == "superuser":
        user = factories.UserFactory(superuser=True, email=f"fuzz-{secrets.token_hex(4)}@vanguard.test")
    else:
        user = factories.staff(role)
    ids = _seed(user)
    token = tokens_issue(user=user)["access_token"]
    before = (Policy.objects.count(), Claim.objects.count(), Customer.objects.count())

    # when schemathesis runs every operation with every check and phase
    result = _schemathesis(live_asgi, token, ids, tmp_path, limited=role != "superuser")  # cache in tmp_path

    # then it reports no failure and no warning at all: any finding fails the test (the run's full report is
    # in the assertion message; `st replay <id>` needs the run's directory, so rerun with the same FUZZ_SEED)
    output = result.stdout + result.stderr
    assert "Server error" not in output, output[-20000:]
    assert result.returncode == 0, output[-20000:]
    assert "No issues found" in output, output[-20000:]
    # and schema-valid data really created records (the money fields' patterns, the seeded ids): for the limited
    # role this is also the proof that its credentials work (its run does not report missing_auth)
    assert Customer.objects.count() > before[2], output[-5000:]
    if role == "superuser":
        assert Policy.objects.count() > before[0], output[-5000:]
        assert Claim.objects.count() > before[1], output[-5000:]
