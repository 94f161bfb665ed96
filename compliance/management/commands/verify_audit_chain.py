"""`manage.py verify_audit_chain`: walk the audit hash chain, name the first break, exit 1 on any break.
Entries not sealed yet count as pending, and as a break once older than AUDIT_SEAL_BOUND_SECONDS."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from compliance.chain import verify_chain
from compliance.services import audit_checkpoint_record, audit_verification_record
from vanguard.accounts.system import as_system


class Command(BaseCommand):
    help = (
        "Verify the tamper-evident audit trail; exits non-zero and names the first altered, inserted or "
        "deleted entry when the chain is broken."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=2000, help="Entries read per query (default 2000).")
        parser.add_argument("--all-breaks", action="store_true", help="List every break, not only the first.")
        parser.add_argument(
            "--no-checkpoint", action="store_true", help="Do not record the verified head as a checkpoint."
        )

    def handle(self, *args, batch_size: int, all_breaks: bool, no_checkpoint: bool, **options):
        with as_system():
            report = verify_chain(batch_size=batch_size)
            audit_verification_record(report=report)
            if report.ok and not no_checkpoint:
                audit_checkpoint_record(report=report)
        if not report.ok:
            for chain_break in report.breaks if all_breaks else report.breaks[:1]:
                self.stderr.write(str(chain_break))
            raise CommandError(
                f"Audit chain broken: first break at {report.first_break}. "
                f"{len(report.breaks)} break(s) in {report.entries} entries."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit chain intact: {report.entries} entries ({report.redacted} GDPR-redacted, {report.pending} "
                f"awaiting sealing within the bound), "
                f"head #{report.head_seq or 0} {report.head_hash}"
            )
        )
