"""The claims app's services for a GDPR erasure (SPEC §7.2).

`compliance.services.erasure.customer_erase` calls them inside its transaction, after it has locked the customer,
checked the legal hold and worked out what identifies the person; it records the erasure in the audit trail.
Kept apart from `claims/services.py` (the claim lifecycle): these writes exist only for the erasure.
"""

from __future__ import annotations

from uuid import UUID

from claims.models import Claim, ClaimDocument, ClaimEvent
from vanguard.core.erasure import Scrub, scrub_rows


def claims_scrub_personal_text(*, customer_id: UUID, scrub: Scrub) -> dict[str, list[str]]:
    """Remove the person's values from the free text kept with the customer's claims: descriptions and
    decision reasons, event reasons and data, document file names. The records stay; only the identifying
    text goes. Locks the rows (claims, then events, then documents; each in pk order) and saves only what
    changed. Returns the changed rows' pks by model label."""
    return scrub_rows(
        [
            (Claim.objects.filter(policy__customer_id=customer_id), ("description", "decision_reason")),
            (ClaimEvent.objects.filter(claim__policy__customer_id=customer_id), ("reason", "data")),
            (ClaimDocument.objects.filter(claim__policy__customer_id=customer_id), ("filename",)),
        ],
        scrub,
    )
