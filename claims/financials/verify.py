"""Reconciliation of every claim's stored totals with its rows (SPEC §10.2): `manage.py verify_claim_financials`,
the daily task `claims.tasks.verify_claim_financials`, and the readiness note of its last result.

The stored totals (Claim.reserve_indemnity ... net_incurred) are kept by claims.financials.services in the same
transaction as the rows they sum; this recomputes them all from the rows, in the database (one pass over each
table, whatever the number of claims), and names every difference. It also checks each reserve's history: every
change must start from the amount the previous change of its claim and cost type left (the first from 0), so an
edited row is found even when it is not the latest.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone

from claims.models import (
    Claim,
    ClaimPayment,
    ClaimRecovery,
    CostType,
    FinancialsVerification,
    PaymentStatus,
    ReserveChange,
)

TOTALS = (
    "reserve_indemnity",
    "reserve_expense",
    "paid_indemnity",
    "paid_expense",
    "recovered",
    "gross_incurred",
    "net_incurred",
)
# A daily job: a result older than this means the job has stopped.
OVERDUE_AFTER = dt.timedelta(hours=36)


@dataclass(frozen=True)
class Mismatch:
    """One stored figure that is not what the rows say (`computed`)."""

    claim_number: str
    field: str
    stored: Decimal
    computed: Decimal

    def __str__(self) -> str:
        return f"{self.claim_number}: {self.field} is {self.stored} but its rows say {self.computed}"


def _sql() -> tuple[str, str]:
    q = connection.ops.quote_name
    claims, reserves = q(Claim._meta.db_table), q(ReserveChange._meta.db_table)
    payments, recoveries = q(ClaimPayment._meta.db_table), q(ClaimRecovery._meta.db_table)
    ind, exp, issued = CostType.INDEMNITY.value, CostType.EXPENSE.value, PaymentStatus.ISSUED.value
    stored = ", ".join(f"c.{name}" for name in TOTALS)
    totals = f"""
        WITH latest AS (
            SELECT DISTINCT ON (claim_id, cost_type) claim_id, cost_type, new_amount
            FROM {reserves} ORDER BY claim_id, cost_type, created_at DESC, id DESC
        ), r AS (
            SELECT claim_id, SUM(new_amount) FILTER (WHERE cost_type = '{ind}') AS ri,
                   SUM(new_amount) FILTER (WHERE cost_type = '{exp}') AS re
            FROM latest GROUP BY claim_id
        ), p AS (
            SELECT claim_id, SUM(amount) FILTER (WHERE cost_type = '{ind}') AS pi,
                   SUM(amount) FILTER (WHERE cost_type = '{exp}') AS pe
            FROM {payments} WHERE status = '{issued}' GROUP BY claim_id
        ), rc AS (
            SELECT claim_id, SUM(amount) AS rec FROM {recoveries} GROUP BY claim_id
        ), computed AS (
            SELECT c.claim_number, {stored},
                   COALESCE(r.ri, 0) AS x_ri, COALESCE(r.re, 0) AS x_re, COALESCE(p.pi, 0) AS x_pi,
                   COALESCE(p.pe, 0) AS x_pe, COALESCE(rc.rec, 0) AS x_rec
            FROM {claims} c
            LEFT JOIN r ON r.claim_id = c.id LEFT JOIN p ON p.claim_id = c.id LEFT JOIN rc ON rc.claim_id = c.id
        ), full_totals AS (
            SELECT *, x_ri + x_re + x_pi + x_pe AS x_gross, x_ri + x_re + x_pi + x_pe - x_rec AS x_net FROM computed
        )
        SELECT claim_number, {", ".join(TOTALS)}, x_ri, x_re, x_pi, x_pe, x_rec, x_gross, x_net FROM full_totals
        WHERE (reserve_indemnity, reserve_expense, paid_indemnity, paid_expense, recovered, gross_incurred,
               net_incurred) IS DISTINCT FROM (x_ri, x_re, x_pi, x_pe, x_rec, x_gross, x_net)
        ORDER BY claim_number
    """  # noqa: S608 - table names from the models, values from the choices
    chain = f"""
        SELECT c.claim_number, h.cost_type, h.previous_amount, h.expected, h.created_at FROM (
            SELECT claim_id, cost_type, previous_amount, created_at,
                   COALESCE(LAG(new_amount) OVER (PARTITION BY claim_id, cost_type ORDER BY created_at, id), 0)
                       AS expected
            FROM {reserves}
        ) h JOIN {claims} c ON c.id = h.claim_id
        WHERE h.previous_amount <> h.expected
        ORDER BY c.claim_number, h.cost_type, h.created_at
    """  # noqa: S608
    return totals, chain


def verify_claim_financials() -> list[Mismatch]:
    """Every stored total that differs from its rows, and every reserve change that does not start where the
    previous one of its claim and cost type ended, by claim number. Reads only; two queries."""
    totals_sql, chain_sql = _sql()
    found: list[Mismatch] = []
    with connection.cursor() as cursor:
        cursor.execute(totals_sql)
        for row in cursor.fetchall():
            number, stored, computed = row[0], row[1:8], row[8:15]
            found += [
                Mismatch(number, name, s, c) for name, s, c in zip(TOTALS, stored, computed, strict=True) if s != c
            ]
        cursor.execute(chain_sql)
        for number, cost_type, previous, expected, at in cursor.fetchall():
            found.append(
                Mismatch(number, f"reserve_{cost_type} history ({at:%Y-%m-%d %H:%M:%S.%f} change)", previous, expected)
            )
    return sorted(found, key=lambda m: (m.claim_number, m.field))


def financials_verification_record(*, mismatches: list[Mismatch], claims: int | None = None) -> FinancialsVerification:
    """Keep the outcome of a run for the readiness note (counts and the first mismatch's claim and field)."""
    return FinancialsVerification.objects.create(
        ok=not mismatches,
        claims=Claim.objects.count() if claims is None else claims,
        mismatches=len(mismatches),
        first_mismatch=str(mismatches[0])[:500] if mismatches else "",
    )


def financials_verification_status(*, now: dt.datetime | None = None) -> dict[str, Any]:
    """The last verification as a readiness note: ``ok`` True (consistent), False (mismatches: the job logged
    them at ERROR), None (never run, or overdue). One indexed query; the detail names no claim (the probe may be
    read by operators' tools; the mismatches are in the log and the command's output)."""
    now = now or timezone.now()
    last = (
        FinancialsVerification.objects.order_by("-created_at", "-id")
        .only("ok", "claims", "mismatches", "created_at")
        .first()
    )
    if last is None:
        return {"ok": None, "verified_at": None, "detail": "not verified yet (run manage.py verify_claim_financials)"}
    verified_at = last.created_at.isoformat()
    if not last.ok:
        return {
            "ok": False,
            "verified_at": verified_at,
            "detail": f"MISMATCHED: {last.mismatches} figure(s) differ from their rows in {last.claims} claims "
            "(run manage.py verify_claim_financials)",
        }
    if now - last.created_at > OVERDUE_AFTER:
        return {
            "ok": None,
            "verified_at": verified_at,
            "detail": "overdue: the last verification (consistent) is more than 36 hours old",
        }
    return {"ok": True, "verified_at": verified_at, "detail": f"consistent: {last.claims} claims"}
