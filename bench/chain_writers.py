"""Audited writes per second with N concurrent writers: the audit chain's head held to commit (before) vs
deferred sealing (after). See `compliance.chain`, "Sealing".

    .venv/bin/python bench/chain_writers.py [--writers 32] [--processes 4] [--seconds 10] [--work-ms 5] [--entries 3]

Each writer loops over transactions shaped like an audited request: ``--entries`` audit entries, with
``--work-ms`` of other work in the same transaction (``pg_sleep``, standing for the request's reads, locks and
writes), then COMMIT. In "inline" mode every entry takes the chain head and holds it until COMMIT (the former
behaviour); in "deferred" mode entries are written with a pending seal and chained after commit. After each run
the chain is sealed and verified. Runs against a scratch database (dropped and recreated: ``--database``,
default ``vg_bench_chain``) on the PostgreSQL of ``--server`` (default postgres://postgres@127.0.0.1:5432).
Figures depend on the machine and on what else runs on it: compare the two lines of one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--work-ms", type=float, default=5.0, help="other work inside each transaction")
    parser.add_argument("--entries", type=int, default=3, help="audit entries per transaction")
    parser.add_argument("--processes", type=int, default=4, help="writer processes (like app workers)")
    parser.add_argument("--modes", default="inline,deferred")
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="vg_bench_chain")
    args = parser.parse_args()

    import psycopg

    with psycopg.connect(f"{args.server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{args.database}"')
    os.environ.update(
        {
            "DATABASE_URL": f"{args.server}/{args.database}",
            "DJANGO_ENV": "test",
            "DB_POOL": "false",
            "DJANGO_SETTINGS_MODULE": "vanguard.settings",
        }
    )
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(
        f"{args.writers} writers in {args.processes} processes, {args.seconds:g} s per mode, {args.entries} "
        f"entries and {args.work_ms:g} ms of other work per transaction; database {args.database}"
    )
    for mode in args.modes.split(","):
        run(mode.strip(), args)
    return 0


def _write(mode: str, args, first: int, count: int, deadline: float) -> tuple[int, int]:
    """`count` writer threads in this process until `deadline`; returns (transactions, errors)."""
    from django.conf import settings
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection, connections, transaction

    from compliance.models import AuditEntry

    settings.AUDIT_CHAIN_SEALING = mode
    ct = ContentType.objects.get_for_model(AuditEntry)
    connections.close_all()
    done = [0] * count
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            while time.time() < deadline:
                with transaction.atomic():
                    for k in range(args.entries):
                        AuditEntry.objects.create(
                            content_type=ct,
                            object_pk=f"bench-{first + n}-{done[n]}-{k}",
                            object_repr="bench",
                            action=AuditEntry.Action.UPDATE,
                            changes={"field": ["old", "new"]},
                        )
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT pg_sleep(%s)", [args.work_ms / 1000])
                done[n] += 1
        except BaseException as exc:  # counted in the report
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        print(f"    writer error: {errors[0]!r}", file=sys.stderr)
    return sum(done), len(errors)


def _child(mode: str, args, first: int, count: int, deadline: float, results) -> None:
    results.put(_write(mode, args, first, count, deadline))


def run(mode: str, args) -> None:
    import multiprocessing

    from django.db import connections

    from compliance import chain
    from compliance.models import AuditEntry

    start_count = AuditEntry.objects.count()
    connections.close_all()  # no connection may cross the fork
    processes = max(1, min(args.processes, args.writers))
    shares = [args.writers // processes + (1 if p < args.writers % processes else 0) for p in range(processes)]
    deadline = time.time() + 1.0 + args.seconds  # a second for the children to start
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    children = [
        context.Process(target=_child, args=(mode, args, sum(shares[:p]), shares[p], deadline, results))
        for p in range(processes)
    ]
    for child in children:
        child.start()
    outcomes = [results.get() for _ in children]
    for child in children:
        child.join()
    transactions, errors = sum(t for t, _ in outcomes), sum(e for _, e in outcomes)
    pending = AuditEntry.objects.filter(seq__isnull=True).count()
    lag_started = time.monotonic()
    chain.seal_pending()
    lag = time.monotonic() - lag_started
    report = chain.verify_chain()
    written = AuditEntry.objects.count() - start_count
    print(
        f"  {mode:9s}: {transactions / args.seconds:8.1f} transactions/s, {written / args.seconds:8.1f} audit "
        f"entries/s; left unsealed at the end {pending} (sealed in {lag * 1000:.0f} ms); chain "
        f"{'intact' if report.ok else 'BROKEN: ' + str(report.first_break)}, {report.entries} entries"
        + (f"; {errors} writer error(s)" if errors else "")
    )


if __name__ == "__main__":
    sys.exit(main())
