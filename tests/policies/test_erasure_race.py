"""A policy written while the customer is being erased waits for the erasure and is then refused."""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from compliance import services as compliance_services
from policies import services as policy_services
from policies.models import Policy
from tests import factories
from vanguard.core.errors import Conflict

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_policy_create_waits_for_a_running_erasure_and_is_refused(underwriter, compliance_officer):
    # given: an erasure that has done its work but not committed yet
    customer = factories.CustomerFactory()
    erased, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def erase() -> None:
        try:
            with transaction.atomic():
                compliance_services.customer_erase(actor=compliance_officer, customer_id=customer.pk, interface="admin")
                erased.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    def create() -> None:
        try:
            outcome["result"] = policy_services.policy_create(
                actor=underwriter,
                customer_id=customer.pk,
                policy_type="auto",
                premium_amount=Decimal("500.00"),
                coverage_amount=Decimal("10000.00"),
                start_date=timezone.now(),
                end_date=timezone.now() + dt.timedelta(days=365),
            )
        except Exception as exc:  # asserted on below
            outcome["result"] = exc
        finally:
            connection.close()

    eraser = threading.Thread(target=erase)
    eraser.start()
    assert erased.wait(timeout=30)
    # when: a policy is written meanwhile
    creator = threading.Thread(target=create)
    creator.start()
    deadline = time.monotonic() + 30
    while not _waiting_on_a_lock() and creator.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    blocked = creator.is_alive()
    release.set()
    eraser.join(timeout=30)
    creator.join(timeout=30)
    # then: it waited on the customer's row and, once the erasure committed, was refused
    assert blocked
    assert isinstance(outcome["result"], Conflict)
    assert not Policy.objects.filter(customer=customer).exists()
