"""The demo book of business, written through the services so it is validated and audited like real work.

Idempotent by natural keys: a customer is found by email, a policy by (customer, policy type), and a policy's
claims, documents and renewal are written only in the run that creates the policy. The whole demo is written
in one transaction by the caller, so a failed run leaves nothing half-made for the next run to skip.

Dates are relative to the day of the run (a pending policy starts in the future, an expired one ended in the
past), which is why they are not part of the natural keys.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone

from claims import services as claim_services
from claims.financials import services as financial_services
from claims.models import Claim, ClaimDocument, PaymentStatus
from customers import services as customer_services
from customers.models import Customer
from policies import services as policy_services
from policies.models import Policy
from vanguard.accounts.models import User
from vanguard.seeding.files import pdf_document, png_image

DAY = dt.timedelta(days=1)
YEAR = dt.timedelta(days=365)


@dataclass(frozen=True)
class CustomerSpec:
    email: str
    first_name: str
    last_name: str
    phone: str = ""
    date_of_birth: dt.date | None = None
    address: str = ""
    ssn: str = ""


@dataclass(frozen=True)
class DocumentSpec:
    filename: str
    document_type: str
    title: str  # PDF title, or ignored for images


ADJUSTER, MANAGER, FINANCE, ADMIN = (
    "adjuster@vanguard.local",
    "manager@vanguard.local",
    "finance@vanguard.local",
    "admin@vanguard.local",
)


@dataclass(frozen=True)
class ReserveStep:
    cost_type: str
    amount: Decimal
    reason: str
    by: str = ADJUSTER


@dataclass(frozen=True)
class PaymentStep:
    """A payment through the four-eyes workflow to `outcome` (requested, approved, issued, cancelled, voided).
    Above the four-eyes limit it waits for `approved_by` (a second user); Finance issues, cancels and voids."""

    amount: Decimal
    payee: str
    outcome: str = PaymentStatus.ISSUED
    cost_type: str = "indemnity"
    policyholder: bool = False
    method: str = "bank_transfer"
    account: str = ""
    reference: str = ""
    requested_by: str = ADJUSTER
    approved_by: str = MANAGER
    reason: str = ""  # of a cancellation or a void


@dataclass(frozen=True)
class RecoveryStep:
    kind: str
    amount: Decimal
    source: str
    reference: str = ""
    by: str = FINANCE


@dataclass(frozen=True)
class ClaimSpec:
    claim_type: str
    amount: Decimal
    incident_days_ago: int
    description: str
    # the path through the workflow: "pending", "processing", "approved", "denied", "paid" (approved, then paid
    # by its payments), "closed_paid" (approved, paid, closed) or "closed_denied" (denied, closed)
    outcome: str
    handler: str = "adjuster@vanguard.local"  # who the claim is assigned to
    approved_amount: Decimal | None = None
    reason: str = ""
    documents: tuple[DocumentSpec, ...] = ()
    # The claim's money (SPEC §10), after its decision and before a closure. A "paid" claim is paid by its
    # payments: issuing its approved amount settles it.
    money: tuple[ReserveStep | PaymentStep | RecoveryStep, ...] = ()


@dataclass(frozen=True)
class PolicySpec:
    customer: str
    policy_type: str
    premium: Decimal
    coverage: Decimal
    start_days: int  # start relative to today: negative is in the past
    term: dt.timedelta = YEAR
    # the lifecycle after creation: "" (as created), "suspend", "cancel", "expire", "expire_renew"
    lifecycle: str = ""
    reason: str = ""
    claims: tuple[ClaimSpec, ...] = field(default=())
    audit: str = ""  # a compliance audit outcome to record, if any


CUSTOMERS: tuple[CustomerSpec, ...] = (
    CustomerSpec(
        "alice.morgan@example.com",
        "Alice",
        "Morgan",
        "+447700900101",
        dt.date(1984, 3, 12),
        "14 Elm Row, Edinburgh EH7 4AA",
        "123-45-6701",
    ),
    CustomerSpec(
        "ben.okafor@example.com",
        "Ben",
        "Okafor",
        "+447700900102",
        dt.date(1979, 11, 2),
        "3 Canal Street, Manchester M1 3HE",
        "123-45-6702",
    ),
    CustomerSpec(
        "chloe.martin@example.com",
        "Chloé",
        "Martin",
        "+33612345678",
        dt.date(1991, 6, 30),
        "22 Quay Road, Bristol BS1 4DJ",
        "123-45-6703",
    ),
    CustomerSpec(
        "daniel.kowalski@example.com",
        "Daniel",
        "Kowalski",
        "+48601234567",
        dt.date(1988, 1, 19),
        "8 Mill Lane, Leeds LS1 5AB",
        "123-45-6704",
    ),
    CustomerSpec(
        "emma.schmidt@example.com",
        "Emma",
        "Schmidt",
        "+4915112345678",
        dt.date(1995, 9, 8),
        "41 Harbour View, Plymouth PL1 2PR",
        "123-45-6705",
    ),
    CustomerSpec(
        "farah.haddad@example.com",
        "Farah",
        "Haddad",
        "+447700900106",
        dt.date(1970, 4, 25),
        "Unit 5, Riverside Works, Sheffield S3 8EN",
        "123-45-6706",
    ),
    CustomerSpec("george.lee@example.com", "George", "Lee"),
)

PHOTO = ClaimDocument.DocumentType.PHOTO
POLICE = ClaimDocument.DocumentType.POLICE_REPORT
ESTIMATE = ClaimDocument.DocumentType.ESTIMATE
INVOICE = ClaimDocument.DocumentType.INVOICE
MEDICAL = ClaimDocument.DocumentType.MEDICAL_RECORD
T = Policy.PolicyType
C = Claim.ClaimType

POLICIES: tuple[PolicySpec, ...] = (
    PolicySpec(
        "alice.morgan@example.com",
        T.AUTO,
        Decimal("640.00"),
        Decimal("25000.00"),
        -120,
        claims=(
            ClaimSpec(
                C.ACCIDENT,
                Decimal("1850.00"),
                10,
                "Rear-ended at the Leith Walk junction; bumper and tailgate.",
                "pending",
                documents=(DocumentSpec("rear-bumper.png", PHOTO, ""),),
            ),
            ClaimSpec(
                C.THEFT,
                Decimal("4200.00"),
                25,
                "Catalytic converter stolen from the driveway overnight.",
                "processing",
                documents=(DocumentSpec("police-report.pdf", POLICE, "Police report: theft from vehicle"),),
                money=(ReserveStep("expense", Decimal("350.00"), "Garage's inspection and report"),),
            ),
        ),
    ),
    PolicySpec(
        "alice.morgan@example.com",
        T.HOME,
        Decimal("890.00"),
        Decimal("350000.00"),
        -200,
        claims=(
            ClaimSpec(
                C.FLOOD,
                Decimal("8500.00"),
                60,
                "Burst pipe flooded the kitchen; floor and units replaced.",
                "approved",
                approved_amount=Decimal("8100.00"),
                reason="Approved less the policy excess.",
                documents=(
                    DocumentSpec("kitchen.png", PHOTO, ""),
                    DocumentSpec("builder-estimate.pdf", ESTIMATE, "Estimate: kitchen repair"),
                ),
                money=(
                    ReserveStep("indemnity", Decimal("8100.00"), "Reserve brought to the approved amount"),
                    ReserveStep("expense", Decimal("1200.00"), "Drying company's quote"),
                    # above the four-eyes limit: waits for the manager's approval
                    PaymentStep(
                        Decimal("6100.00"),
                        "Alice Morgan",
                        PaymentStatus.REQUESTED,
                        policyholder=True,
                        account="GB29NWBK60161331926819",
                        reference="Kitchen units and floor",
                    ),
                    PaymentStep(
                        Decimal("900.00"),
                        "DryRight Restoration Ltd",
                        PaymentStatus.APPROVED,
                        cost_type="expense",
                        account="GB94BARC10201530093459",
                        reference="INV-2291",
                    ),
                    PaymentStep(
                        Decimal("2000.00"),
                        "Alice Morgan",
                        PaymentStatus.CANCELLED,
                        policyholder=True,
                        account="GB29NWBK60161331926819",
                        reason="Entered twice: the units are in the 6,100.00 payment.",
                    ),
                ),
            ),
            ClaimSpec(
                C.DAMAGE,
                Decimal("2300.00"),
                150,
                "Storm damage to the garden wall.",
                "paid",
                documents=(DocumentSpec("invoice-wall.pdf", INVOICE, "Invoice: garden wall rebuild"),),
                money=(
                    PaymentStep(
                        Decimal("2300.00"),
                        "Alice Morgan",
                        PaymentStatus.VOIDED,
                        policyholder=True,
                        method="cheque",
                        reason="Cheque returned by the bank: name misspelt.",
                    ),
                    PaymentStep(
                        Decimal("2300.00"),
                        "Alice Morgan",
                        policyholder=True,
                        account="GB29NWBK60161331926819",
                        reference="Replaces the returned cheque",
                    ),
                ),
            ),
        ),
    ),
    PolicySpec("ben.okafor@example.com", T.LIFE, Decimal("420.00"), Decimal("250000.00"), 14, term=10 * YEAR),
    PolicySpec(
        "ben.okafor@example.com",
        T.HEALTH,
        Decimal("1150.00"),
        Decimal("50000.00"),
        -90,
        lifecycle="suspend",
        reason="Premium payment overdue.",
        claims=(
            ClaimSpec(
                C.MEDICAL,
                Decimal("1200.00"),
                40,
                "Physiotherapy after a knee injury.",
                "denied",
                reason="Treatment excluded: pre-existing condition declared at inception.",
                documents=(DocumentSpec("clinic-letter.pdf", MEDICAL, "Clinic letter"),),
            ),
        ),
    ),
    PolicySpec(
        "chloe.martin@example.com",
        T.BUSINESS,
        Decimal("2400.00"),
        Decimal("500000.00"),
        -60,
        lifecycle="cancel",
        reason="Business sold; cancelled at the customer's request.",
    ),
    PolicySpec(
        "chloe.martin@example.com",
        T.HOME,
        Decimal("760.00"),
        Decimal("300000.00"),
        -500,
        lifecycle="expire_renew",
        claims=(
            ClaimSpec(
                C.FIRE,
                Decimal("12000.00"),
                300,
                "Chimney fire; roof timbers and loft contents.",
                "closed_paid",
                handler="manager@vanguard.local",
                money=(
                    ReserveStep("expense", Decimal("850.00"), "Fire investigator instructed", by=MANAGER),
                    PaymentStep(
                        Decimal("850.00"),
                        "Blackwood Fire Investigations",
                        cost_type="expense",
                        account="GB33BUKB20201555555555",
                        reference="BFI-7781",
                        requested_by=MANAGER,
                    ),
                    # four eyes: the manager requests, a second user approves
                    PaymentStep(
                        Decimal("12000.00"),
                        "Chloé Martin",
                        policyholder=True,
                        account="FR7630006000011234567890189",
                        requested_by=MANAGER,
                        approved_by=ADMIN,
                    ),
                    RecoveryStep(
                        "salvage", Decimal("1500.00"), "Ashford Reclamation (roof lead and timbers)", reference="AR-118"
                    ),
                ),
            ),
        ),
    ),
    PolicySpec(
        "daniel.kowalski@example.com",
        T.AUTO,
        Decimal("980.00"),
        Decimal("60000.00"),
        -30,
        claims=(
            ClaimSpec(
                C.THEFT,
                Decimal("900.00"),
                12,
                "Phone and laptop taken from the car.",
                "closed_denied",
                reason="Personal belongings are not covered by a motor policy.",
            ),
            ClaimSpec(
                C.ACCIDENT,
                Decimal("15000.00"),
                5,
                "Collision on the ring road; vehicle written off.",
                "processing",
                handler="manager@vanguard.local",
                documents=(DocumentSpec("damage.png", PHOTO, ""),),
                money=(
                    ReserveStep(
                        "indemnity", Decimal("13500.00"), "Vehicle valued at 13,500.00 (write-off)", by=MANAGER
                    ),
                ),
            ),
        ),
    ),
    PolicySpec("emma.schmidt@example.com", T.HEALTH, Decimal("1320.00"), Decimal("75000.00"), -10, audit="compliant"),
    PolicySpec(
        "farah.haddad@example.com",
        T.BUSINESS,
        Decimal("3200.00"),
        Decimal("1000000.00"),
        -45,
        claims=(
            ClaimSpec(
                C.FIRE,
                Decimal("64000.00"),
                20,
                "Warehouse fire; stock and racking destroyed.",
                "processing",
                handler="manager@vanguard.local",
                documents=(DocumentSpec("loss-adjuster.pdf", ESTIMATE, "Loss adjuster's report"),),
                money=(
                    ReserveStep("expense", Decimal("4000.00"), "Loss adjuster appointed", by=MANAGER),
                    ReserveStep("indemnity", Decimal("72000.00"), "Stock valuation received", by=MANAGER),
                ),
            ),
        ),
        audit="review_required",
    ),
    PolicySpec("george.lee@example.com", T.LIFE, Decimal("310.00"), Decimal("150000.00"), -400, term=10 * YEAR),
)


@dataclass
class DemoResult:
    customers: int = 0
    policies: int = 0
    claims: int = 0
    documents: int = 0
    payments: int = 0


def seed_demo(*, actor: User, staff: dict[str, User], now: dt.datetime | None = None) -> DemoResult:
    """Write the missing demo customers, policies, claims and documents as `actor` (unlimited authority)."""
    now = now or timezone.now()
    result = DemoResult()
    customers: dict[str, Customer] = {}
    for spec in CUSTOMERS:
        customer = Customer.objects.filter(email=spec.email).first()
        if customer is None:
            customer = customer_services.customer_create(
                actor=actor,
                email=spec.email,
                first_name=spec.first_name,
                last_name=spec.last_name,
                gdpr_consent=True,
                phone=spec.phone,
                date_of_birth=spec.date_of_birth,
                address=spec.address,
                ssn=spec.ssn,
            )
            result.customers += 1
        customers[spec.email] = customer
    for spec in POLICIES:
        customer = customers[spec.customer]
        # The first term is the natural key; a renewal is found through it.
        if Policy.objects.filter(customer=customer, policy_type=spec.policy_type, renewal_of__isnull=True).exists():
            continue
        _write_policy(spec, customer=customer, actor=actor, staff=staff, now=now, result=result)
    return result


def _write_policy(
    spec: PolicySpec, *, customer: Customer, actor: User, staff: dict[str, User], now: dt.datetime, result: DemoResult
) -> None:
    start = (now + spec.start_days * DAY).replace(hour=0, minute=0, second=0, microsecond=0)
    policy = policy_services.policy_create(
        actor=actor,
        customer_id=customer.pk,
        policy_type=spec.policy_type,
        premium_amount=spec.premium,
        coverage_amount=spec.coverage,
        start_date=start,
        end_date=start + spec.term,
    )
    result.policies += 1
    # Claims are filed while the policy is still claimable; the lifecycle comes after.
    for claim_spec in spec.claims:
        _write_claim(claim_spec, policy=policy, actor=actor, staff=staff, now=now, result=result)
    if spec.lifecycle == "suspend":
        policy_services.policy_suspend(actor=actor, policy_id=policy.pk, reason=spec.reason)
    elif spec.lifecycle == "cancel":
        policy_services.policy_cancel(actor=actor, policy_id=policy.pk, reason=spec.reason)
    elif spec.lifecycle in {"expire", "expire_renew"}:
        policy_services.policy_expire(actor=actor, policy_id=policy.pk)
        if spec.lifecycle == "expire_renew":
            policy_services.policy_renew(actor=actor, policy_id=policy.pk)
            result.policies += 1
    if spec.audit:
        policy_services.policy_record_audit(
            actor=actor, policy_id=policy.pk, outcome=spec.audit, note="Demo: annual compliance review."
        )


def _write_claim(
    spec: ClaimSpec, *, policy: Policy, actor: User, staff: dict[str, User], now: dt.datetime, result: DemoResult
) -> None:
    claim = claim_services.claim_create(
        actor=actor,
        policy_id=policy.pk,
        claim_type=spec.claim_type,
        claim_amount=spec.amount,
        incident_date=now - spec.incident_days_ago * DAY,
        description=spec.description,
    )
    result.claims += 1
    for document in spec.documents:
        content = (
            png_image()
            if document.filename.endswith(".png")
            else pdf_document(
                document.title, [f"Claim {claim.claim_number}", f"Policy {policy.policy_number}", spec.description]
            )
        )
        claim_services.claim_document_add(
            actor=actor,
            claim_id=claim.pk,
            fileobj=io.BytesIO(content),
            filename=document.filename,
            document_type=document.document_type,
        )
        result.documents += 1
    if spec.outcome == "pending":
        return
    claim_services.claim_assign(actor=actor, claim_id=claim.pk, assignee_id=staff[spec.handler].pk)
    steps: dict[str, Callable[[], object]] = {
        "processing": lambda: claim_services.claim_start_processing(actor=actor, claim_id=claim.pk),
        "approved": lambda: claim_services.claim_approve(
            actor=actor, claim_id=claim.pk, amount=spec.approved_amount, note=spec.reason
        ),
        "denied": lambda: claim_services.claim_deny(actor=actor, claim_id=claim.pk, reason=spec.reason),
        "closed": lambda: claim_services.claim_close(actor=actor, claim_id=claim.pk),
    }
    # "paid" is not a step: the claim's payments settle it (SPEC §10.2).
    path = {
        "processing": ["processing"],
        "approved": ["processing", "approved"],
        "denied": ["processing", "denied"],
        "paid": ["processing", "approved"],
        "closed_paid": ["processing", "approved", "closed"],
        "closed_denied": ["processing", "denied", "closed"],
    }[spec.outcome]
    for step in path:
        if step == "closed":
            _write_money(spec, claim=claim, staff=staff, result=result)
        steps[step]()
    if path[-1] != "closed":
        _write_money(spec, claim=claim, staff=staff, result=result)


def _write_money(spec: ClaimSpec, *, claim: Claim, staff: dict[str, User], result: DemoResult) -> None:
    """The claim's reserves, payments and recoveries, each by the staff user whose role does it (their events
    name them; the audit trail names the seeding superuser, as for the rest of the demo)."""
    fin = financial_services
    for step in spec.money:
        if isinstance(step, ReserveStep):
            fin.claim_reserve_set(
                actor=staff[step.by],
                claim_id=claim.pk,
                cost_type=step.cost_type,
                amount=step.amount,
                reason=step.reason,
            )
        elif isinstance(step, RecoveryStep):
            fin.recovery_record(
                actor=staff[step.by],
                claim_id=claim.pk,
                kind=step.kind,
                amount=step.amount,
                source=step.source,
                reference=step.reference,
            )
        else:
            _write_payment(step, claim=claim, staff=staff)
            result.payments += 1


def _write_payment(step: PaymentStep, *, claim: Claim, staff: dict[str, User]) -> None:
    fin, finance = financial_services, staff[FINANCE]
    payment = fin.payment_request(
        actor=staff[step.requested_by],
        claim_id=claim.pk,
        cost_type=step.cost_type,
        amount=step.amount,
        payee_name=step.payee,
        payee_account=step.account,
        payee_is_policyholder=step.policyholder,
        method=step.method,
        reference=step.reference,
    )
    if step.outcome == PaymentStatus.REQUESTED:
        return
    if payment.status == PaymentStatus.REQUESTED:  # four eyes: a second user approves
        fin.payment_approve(actor=staff[step.approved_by], payment_id=payment.pk)
    if step.outcome == PaymentStatus.CANCELLED:
        fin.payment_cancel(actor=finance, payment_id=payment.pk, reason=step.reason)
    elif step.outcome != PaymentStatus.APPROVED:
        fin.payment_issue(actor=finance, payment_id=payment.pk)
        if step.outcome == PaymentStatus.VOIDED:
            fin.payment_void(actor=finance, payment_id=payment.pk, reason=step.reason)
