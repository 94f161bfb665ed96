"""Records of the audit chain's verification (SPEC §5): the outcome of each run and the last intact head."""

from __future__ import annotations

from compliance.chain import ChainReport
from compliance.models import AuditCheckpoint, AuditVerification


def audit_checkpoint_record(*, report: ChainReport) -> None:
    """Remember the head of a chain that just verified intact (see `compliance.chain.verify_chain`)."""
    if report.ok and report.head_seq:
        AuditCheckpoint.objects.create(seq=report.head_seq, entry_hash=report.head_hash, entries=report.entries)


def audit_verification_record(*, report: ChainReport) -> AuditVerification:
    """Record the outcome of a chain verification, intact or broken, for the readiness note and the admin
    (SPEC §5). Only the break's position and kind are kept (`ChainBreak.__str__`), never entry content."""
    return AuditVerification.objects.create(
        ok=report.ok,
        entries=report.entries,
        head_seq=report.head_seq,
        breaks=len(report.breaks),
        first_break=str(report.first_break)[:500] if report.first_break else "",
    )
