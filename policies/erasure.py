"""The policies app's services for a GDPR erasure (SPEC §7.2).

`compliance.services.erasure.customer_erase` calls them inside its transaction, after it has locked the customer,
checked the legal hold and worked out what identifies the person; it records the erasure in the audit trail.
Kept apart from `policies/services.py` (the policy lifecycle): these writes exist only for the erasure.
"""

from __future__ import annotations

from uuid import UUID

from policies.models import Policy, PolicyEvent
from vanguard.core.erasure import Scrub, scrub_rows


def policies_scrub_personal_text(*, customer_id: UUID, scrub: Scrub) -> dict[str, list[str]]:
    """Remove the person's values from the free text kept with the customer's policies: event reasons and
    data, cancellation reasons. The records stay; only the identifying text goes. Locks the rows (events,
    then policies; each in pk order) and saves only what changed. Returns the changed rows' pks by model
    label."""
    return scrub_rows(
        [
            (PolicyEvent.objects.filter(policy__customer_id=customer_id), ("reason", "data")),
            (Policy.objects.filter(customer_id=customer_id), ("cancellation_reason",)),
        ],
        scrub,
    )
