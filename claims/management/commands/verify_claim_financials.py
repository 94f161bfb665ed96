"""`manage.py verify_claim_financials`: recompute every claim's totals from its reserve changes, payments and
recoveries, name each mismatch, exit 1 on any (SPEC §10.2). The daily task runs the same check."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from claims.financials.verify import financials_verification_record, verify_claim_financials


class Command(BaseCommand):
    help = (
        "Recompute every claim's reserves, paid, recovered and incurred totals from its rows; names each "
        "stored figure that differs and exits non-zero when any does."
    )

    def handle(self, *args, **options) -> None:
        mismatches = verify_claim_financials()
        run = financials_verification_record(mismatches=mismatches)
        if mismatches:
            for mismatch in mismatches:
                self.stderr.write(str(mismatch))
            raise CommandError(f"Claim financials: {len(mismatches)} mismatch(es) in {run.claims} claims.")
        self.stdout.write(self.style.SUCCESS(f"Claim financials consistent: {run.claims} claims."))
