"""Claim jobs: ids in, idempotent, transient failures retried with backoff."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail

from vanguard.accounts.system import RETRY

logger = logging.getLogger(__name__)


@shared_task(**RETRY, acks_late=True)
def notify_claim_status(claim_id: str) -> int:
    """E-mail the customer and the assignee the claim's current status. Sending the same status twice is
    harmless (a notification, not a state change); returns the number of recipients."""
    from claims.models import Claim

    claim = Claim.objects.select_related("policy__customer", "assigned_to").filter(pk=claim_id).first()
    if claim is None:
        logger.warning("notify_claim_status: claim not found", extra={"claim_id": claim_id})
        return 0
    recipients = []
    customer = claim.policy.customer
    if customer.erased_at is None and customer.email:
        recipients.append(customer.email)
    if claim.assigned_to is not None and claim.assigned_to.email:
        recipients.append(claim.assigned_to.email)
    if not recipients:
        return 0
    send_mail(
        subject=f"Claim {claim.claim_number}: {claim.get_status_display()}",
        message=(
            f"Claim {claim.claim_number} on policy {claim.policy.policy_number} is now "
            f"{claim.get_status_display().lower()}.\n"
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=recipients,
        fail_silently=False,
    )
    return len(recipients)


@shared_task(**RETRY)
def verify_claim_financials() -> bool:
    """The daily reconciliation (SPEC §10.2): recompute every claim's totals from its rows, log each mismatch at
    ERROR (claim number and figure: no personal data), and record the outcome for the readiness note."""
    from claims.financials.verify import financials_verification_record
    from claims.financials.verify import verify_claim_financials as verify

    mismatches = verify()
    run = financials_verification_record(mismatches=mismatches)
    if mismatches:
        for mismatch in mismatches:
            logger.error("claim financials MISMATCH: %s", mismatch)
        logger.error("claim financials: %d mismatch(es) in %d claims", len(mismatches), run.claims)
        return False
    logger.info("claim financials consistent: %d claims", run.claims)
    return True
