"""Compliance jobs (SPEC §5): data retention and the daily audit-chain verification, as the system actor."""

from __future__ import annotations

import logging

from celery import shared_task

from vanguard.accounts.system import RETRY, as_system

logger = logging.getLogger(__name__)


@shared_task(**RETRY)
def enforce_data_retention() -> int:
    """Erase customers past their retention date with no live policy and no open claim (SPEC §7.2)."""
    from compliance.services import customers_enforce_retention

    with as_system() as actor:
        erased = customers_enforce_retention(actor=actor)
    logger.info("data retention: %d customer(s) erased", erased)
    return erased


@shared_task(**RETRY)
def verify_audit_chain() -> bool:
    """Verify the whole audit chain; log at ERROR naming the first break, record the outcome (the readiness
    note reads it), and record a checkpoint of the verified head when it is intact (so a later truncation
    of the tail is detected)."""
    from compliance.chain import verify_chain
    from compliance.services import audit_checkpoint_record, audit_verification_record

    with as_system():
        report = verify_chain()
        audit_verification_record(report=report)
        if not report.ok:
            logger.error(
                "audit chain BROKEN: %s (%d break(s) in %d entries)",
                report.first_break,
                len(report.breaks),
                report.entries,
            )
            return False
        audit_checkpoint_record(report=report)
    logger.info("audit chain intact: %d entries, head #%s %s", report.entries, report.head_seq, report.head_hash)
    return True


@shared_task(**RETRY)
def seal_audit_chain() -> int:
    """Chain the audit entries committed since the last pass (`compliance.chain.seal_pending`): the
    backstop of the after-commit sealing, for entries of a process that crashed or skipped its seal.
    Returns how many entries it sealed; when another sealer holds the head it returns 0 at once."""
    from compliance.chain import seal_pending

    result = seal_pending(wait=False)
    if result.sealed:
        logger.info("audit chain: %d entries sealed, head #%d", len(result.sealed), result.head_seq)
    return len(result.sealed)
