"""The embedded default database (SQLite, what the README's run command uses) holds decimal columns as binary
floats, where 0.10 + 0.20 is not 0.30. The claim's total constraints compare to the cent there
(`vanguard.core.money.Cents`), so correct money saves and the volume seed runs; a wrong total is still refused.

Each test migrates a fresh SQLite file in a subprocess with the embedded defaults, as a new user's machine would."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.ops.conftest import REPO

SCRIPT = """
from decimal import Decimal
import datetime as dt
from django.db import IntegrityError, transaction
from claims.financials.services import claim_reserve_set
from claims.models import Claim
from claims.services import claim_create
from policies.models import Policy
from vanguard.accounts.models import User

adjuster = User.objects.get(email="adjuster@vanguard.local")
manager = User.objects.get(email="manager@vanguard.local")
policy = Policy.objects.filter(status="active").order_by("policy_number").first()
incident = max(dt.datetime.combine(policy.start_date, dt.time(12), tzinfo=dt.UTC),
               dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
claim = claim_create(actor=adjuster, policy_id=policy.pk, claim_type="accident", claim_amount=Decimal("0.10"),
                     incident_date=incident)
claim_reserve_set(actor=manager, claim_id=claim.pk, cost_type="expense", amount=Decimal("0.20"), reason="fees")
claim.refresh_from_db()
print("TOTALS", claim.reserve_indemnity, claim.reserve_expense, claim.gross_incurred, claim.net_incurred)
try:
    with transaction.atomic():
        Claim.objects.filter(pk=claim.pk).update(gross_incurred=Decimal("0.31"))
    print("WRONG TOTAL ACCEPTED")
except IntegrityError as exc:
    print("WRONG TOTAL REFUSED", exc)
"""


def _manage(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DJANGO_ENV": "development",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_claim_totals_that_floats_cannot_add_exactly_save_on_sqlite_and_a_wrong_total_is_refused(tmp_path):
    # given: a fresh SQLite database with the demo data
    for args in (("migrate", "--noinput", "-v", "0"), ("seed",)):
        done = _manage(tmp_path, *args)
        assert done.returncode == 0, done.stderr[-3000:]
    # when: a 0.10 claim gets a 0.20 expense reserve (0.1 + 0.2 != 0.3 in binary floats), then a wrong total
    done = _manage(tmp_path, "shell", "-c", SCRIPT)
    # then
    assert done.returncode == 0, done.stderr[-3000:]
    assert "TOTALS 0.10 0.20 0.30 0.30" in done.stdout
    assert "WRONG TOTAL REFUSED" in done.stdout and "claims_claim_gross_incurred_sum" in done.stdout


def test_the_volume_seed_runs_on_sqlite(tmp_path):
    # given
    assert _manage(tmp_path, "migrate", "--noinput", "-v", "0").returncode == 0
    # when: the volume writer, whose totals are sums of random cents
    done = _manage(tmp_path, "seed", "--no-demo", "--customers", "300", "--random-seed", "7")
    # then
    assert done.returncode == 0, done.stderr[-3000:]
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        customers = db.execute("SELECT count(*) FROM customers_customer").fetchone()[0]
        claims = db.execute("SELECT count(*) FROM claims_claim").fetchone()[0]
    assert customers == 300 and claims > 0
