"""The claims app's services for a GDPR erasure (SPEC §7.2).

`compliance.services.erasure.customer_erase` calls them inside its transaction, after it has locked the customer,
checked the legal hold and worked out what identifies the person; it records the erasure in the audit trail.
Kept apart from `claims/services.py` (the claim lifecycle): these writes exist only for the erasure.
"""

from __future__ import annotations

from uuid import UUID

from claims.models import Claim, ClaimDocument, ClaimEvent, ClaimPayment, ClaimRecovery, ReserveChange
from customers.services import ERASED_NAME
from vanguard.core.erasure import Scrub, scrub_rows


def claims_scrub_personal_text(*, customer_id: UUID, scrub: Scrub) -> dict[str, list[str]]:
    """Remove the person's values from the free text kept with the customer's claims: descriptions and
    decision reasons, event reasons and data, document file names, reserve reasons, payees, payment and recovery
    references and reasons. The records stay; only the identifying
    text goes. Locks the rows (claims, then events, then documents; each in pk order) and saves only what
    changed. Returns the changed rows' pks by model label."""
    return scrub_rows(
        [
            (Claim.objects.filter(policy__customer_id=customer_id), ("description", "decision_reason")),
            (ClaimEvent.objects.filter(claim__policy__customer_id=customer_id), ("reason", "data")),
            (ClaimDocument.objects.filter(claim__policy__customer_id=customer_id), ("filename",)),
            # The claims' money (SPEC §10): staff's free text may name the person too; the amounts stay.
            (ReserveChange.objects.filter(claim__policy__customer_id=customer_id), ("reason",)),
            (
                ClaimPayment.objects.filter(claim__policy__customer_id=customer_id),
                ("payee_name", "reference", "cancel_reason", "void_reason"),
            ),
            (ClaimRecovery.objects.filter(claim__policy__customer_id=customer_id), ("source", "reference")),
        ],
        scrub,
    )


def claims_policyholder_payees(*, customer_id: UUID) -> set[str]:
    """The names the customer was paid under (payments marked payee_is_policyholder): identifying values for the
    erasure to search for elsewhere (the payments' audit history), as they may be spelt unlike the customer."""
    return set(
        ClaimPayment.objects.filter(claim__policy__customer_id=customer_id, payee_is_policyholder=True)
        .exclude(payee_name=ERASED_NAME)
        .values_list("payee_name", flat=True)
    )


def claims_anonymise_payees(*, customer_id: UUID) -> list[str]:
    """SPEC §10.2: the payee of every payment to the policyholder becomes "Erased" with no account; every amount,
    status and date stays (financial records are kept for the retention period). Locks the customer's claims
    first (pk order), as every payment service does before touching a payment, then the payments (pk order);
    saves only those that change. Returns their pks."""
    list(
        Claim.objects.filter(policy__customer_id=customer_id)
        .select_for_update(of=("self",))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    changed = []
    payments = (
        ClaimPayment.objects.filter(claim__policy__customer_id=customer_id, payee_is_policyholder=True)
        .select_for_update(of=("self",))
        .order_by("pk")
    )
    for payment in payments:
        if payment.payee_name != ERASED_NAME or payment.payee_account:
            payment.payee_name, payment.payee_account = ERASED_NAME, ""
            payment.save(update_fields=["payee_name", "payee_account", "updated_at"])
            changed.append(str(payment.pk))
    return changed
