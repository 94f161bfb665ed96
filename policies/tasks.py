"""Policy jobs (SPEC §5): ids in, one service call each, run as the named system actor, idempotent."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail

from vanguard.accounts.system import RETRY, as_system

logger = logging.getLogger(__name__)


@shared_task(**RETRY)
def expire_policies() -> int:
    from policies.services import policies_expire_due

    with as_system() as actor:
        return policies_expire_due(actor=actor)


@shared_task(**RETRY)
def flag_policies_for_review() -> int:
    from policies.services import policies_flag_for_review

    with as_system() as actor:
        return policies_flag_for_review(actor=actor)


@shared_task(**RETRY, acks_late=True)
def notify_policy_status(policy_id: str) -> int:
    """E-mail the policyholder the policy's current status after a transition. Sending the same status
    twice is harmless (a notification, not a state change); returns the number of recipients."""
    from policies.models import Policy

    policy = Policy.objects.select_related("customer").filter(pk=policy_id).first()
    if policy is None:
        logger.warning("notify_policy_status: policy not found", extra={"policy_id": policy_id})
        return 0
    customer = policy.customer
    if customer.erased_at is not None or not customer.email:
        return 0
    send_mail(
        subject=f"Policy {policy.policy_number}: {policy.get_status_display()}",
        message=f"Your {policy.get_policy_type_display().lower()} policy {policy.policy_number} is now "
        f"{policy.get_status_display().lower()}.\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[customer.email],
        fail_silently=False,
    )
    return 1
