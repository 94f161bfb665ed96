"""20 concurrent writers leave one unbroken chain (SPEC §7.1): each seals after its commit, sealers take the head
(an advisory lock) in turn, and the scheduled pass chains what a writer's after-commit seal left
(tests/compliance/test_chain_sealing.py has 32 writers with concurrent sealers)."""

from __future__ import annotations

import threading

import pytest
from auditlog.context import set_actor
from django.db import connection, connections

from compliance import chain
from compliance.models import AuditEntry
from customers import services as customer_services
from tests import factories

WRITERS = 20
WRITES_EACH = 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_leave_one_unbroken_chain():
    # given
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is proven against PostgreSQL")
    actor = factories.UserFactory(superuser=True)
    before = AuditEntry.objects.count()
    barrier = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            barrier.wait()
            with set_actor(actor):
                for k in range(WRITES_EACH):
                    customer_services.customer_create(
                        actor=actor,
                        email=f"writer{n}-{k}@example.test",
                        first_name="Con",
                        last_name=f"Current{n}",
                        gdpr_consent=True,
                    )
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    # when
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then: after the scheduled sealer's pass (an after-commit seal that found the head busy left its entries)
    assert errors == []
    chain.seal_pending()
    entries = list(AuditEntry.objects.order_by("seq").values_list("seq", "prev_hash", "entry_hash"))
    assert len(entries) == before + WRITERS * WRITES_EACH
    assert [seq for seq, _, _ in entries] == list(range(1, len(entries) + 1))
    assert len({prev for _, prev, _ in entries}) == len(entries)  # no two entries share a parent: no fork
    report = chain.verify_chain()
    assert report.ok, report.first_break
    assert report.entries == len(entries)
