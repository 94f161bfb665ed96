"""manage.py seed: demo data (idempotent), volume data (--customers N), development reset (--reset)."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from compliance.audit import audit_context
from vanguard.accounts.models import system_actor
from vanguard.accounts.roles import CLAIMS_ADJUSTER, CLAIMS_MANAGER, FINANCE, UNDERWRITER, bootstrap_roles
from vanguard.accounts.system import as_system
from vanguard.core.request_context import request_id_var
from vanguard.seeding import demo, reset, staff, volume

RESET_ENVIRONMENTS = frozenset({"development", "test"})
CONSOLE_EMAIL = "django.core.mail.backends.console.EmailBackend"
# Without a broker the demo's notification tasks run in-process, each logging two INFO lines.
CHATTY_LOGGERS = ("vanguard.tasks", "celery.app.trace")


@contextlib.contextmanager
def _quiet(logger_names: tuple[str, ...]):
    loggers = [logging.getLogger(name) for name in logger_names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _aware_datetime(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class Command(BaseCommand):
    help = (
        "Seed the demo data: staff per role, customers, policies of every type and status, claims in every "
        "status with documents, reserves, payments in every status and a recovery. Safe to run again. "
        "--customers N tops up N volume customers with bulk inserts; "
        "--reset wipes the domain data first (development and test only)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reset", action="store_true", help="Delete all domain data, then seed again.")
        parser.add_argument(
            "--customers",
            type=int,
            default=0,
            metavar="N",
            help="Make sure N volume customers exist, with policies, claims and events.",
        )
        parser.add_argument("--batch-size", type=int, default=2000, help="Volume customers per transaction.")
        parser.add_argument("--random-seed", type=int, default=None, help="Make the volume data reproducible.")
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            metavar="N",
            help="Processes that build and encrypt the volume batches (default: one per core from "
            f"{volume.PARALLEL_ABOVE:,} customers up; 0 builds them in this process). Same rows either way.",
        )
        parser.add_argument("--no-demo", action="store_true", help="Skip the demo book (staff are always ensured).")
        parser.add_argument(
            "--as-of",
            type=_aware_datetime,
            default=None,
            metavar="ISO",
            help="Write the volume book as if today were this moment (a past date; default: now). The benchmark "
            "uses it so that most policy terms cover its claim's incident date.",
        )
        parser.add_argument(
            "--ids-dir",
            type=Path,
            default=None,
            metavar="DIR",
            help="Write customers.txt (every customer id) and policies.txt (ids of active or expired policies "
            "whose term contains --ids-incident, coverage >= 100.00) for the API benchmark.",
        )
        parser.add_argument(
            "--ids-incident",
            type=_aware_datetime,
            default=volume.BENCH_INCIDENT,
            metavar="ISO",
            help="The incident moment the policies in policies.txt must cover.",
        )

    def handle(self, *args, **options) -> None:
        if options["customers"] < 0:
            raise CommandError("--customers must be zero or more.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        if options["workers"] is not None and options["workers"] < 0:
            raise CommandError("--workers must be zero or more.")
        if options["as_of"] is not None and options["as_of"] > timezone.now():
            raise CommandError("--as-of must not be in the future: the volume book would hold future claims.")
        if settings.DJANGO_ENV == "production":
            # Demo staff include a superuser whose password is printed on the terminal: never in production.
            raise CommandError(
                "seed writes demo staff logins and fictional customers; it is refused when DJANGO_ENV is 'production'."
            )
        if options["reset"]:
            if settings.DJANGO_ENV not in RESET_ENVIRONMENTS:
                raise CommandError(
                    f"--reset deletes all customers, policies and claims; it is refused when DJANGO_ENV is "
                    f"{settings.DJANGO_ENV!r} (allowed: development, test)."
                )
            counts = reset.wipe_domain_data()
            self.stdout.write("Reset: deleted " + ", ".join(f"{n:,} {label}" for label, n in counts.items() if n))

        groups = bootstrap_roles()
        cid = f"seed-{uuid.uuid4().hex[:16]}"
        with as_system(cid), transaction.atomic():
            users, passwords = staff.ensure_demo_staff(groups)
        admin = users[staff.SUPERUSER_EMAIL]

        if not options["no_demo"]:
            self._seed_demo(admin=admin, users=users, cid=cid)
        if options["customers"]:
            self._seed_volume(users=users, options=options)
        if options["ids_dir"]:
            counts = volume.write_bench_ids(options["ids_dir"], incident=options["ids_incident"])
            self.stdout.write(
                f"Bench ids: {counts[0]:,} customers, {counts[1]:,} claimable policies written to {options['ids_dir']}."
            )
        self._print_logins(passwords)

    def _seed_demo(self, *, admin, users, cid: str) -> None:
        # The demo book is written as the seeded superuser (unlimited authority; the system actor has none),
        # set once here at the edge for the audit trail, with this run's correlation id.
        token = request_id_var.set(cid)
        quiet_mail = (
            # The demo customers are fictional: their claim notifications would only bury the printed logins.
            override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
            if settings.EMAIL_BACKEND == CONSOLE_EMAIL
            else contextlib.nullcontext()
        )
        try:
            with quiet_mail, _quiet(CHATTY_LOGGERS), audit_context(actor=admin, remote_addr=None), transaction.atomic():
                result = demo.seed_demo(actor=admin, staff=users)
        finally:
            request_id_var.reset(token)
        if result.customers or result.policies or result.claims:
            self.stdout.write(
                f"Demo data: {result.customers} customers, {result.policies} policies, {result.claims} claims, "
                f"{result.documents} documents, {result.payments} payments created."
            )
        else:
            self.stdout.write("Demo data: already present, nothing to add.")

    def _seed_volume(self, *, users, options) -> None:
        from tqdm import tqdm

        target = options["customers"]
        actors = volume.Actors(
            underwriter=self._one_with_role(users, UNDERWRITER),
            adjuster=self._one_with_role(users, CLAIMS_ADJUSTER),
            manager=self._one_with_role(users, CLAIMS_MANAGER),
            superuser=users[staff.SUPERUSER_EMAIL],
            system=system_actor(),
            finance=self._one_with_role(users, FINANCE),
        )
        started = time.perf_counter()
        with tqdm(
            total=target,
            unit=" customers",
            disable=options["verbosity"] == 0,
            smoothing=0.1,
            initial=min(target, volume.volume_customers().count()),
        ) as bar:
            result = volume.seed_volume(
                target=target,
                actors=actors,
                batch_size=options["batch_size"],
                random_seed=options["random_seed"],
                now=options["as_of"],
                workers=options["workers"],
                progress=bar.update,
            )
        elapsed = time.perf_counter() - started
        if not result.created_customers:
            self.stdout.write(f"Volume data: {result.existing_customers:,} volume customers already, nothing to add.")
            return
        self.stdout.write(
            f"Volume data: {result.created_customers:,} customers added ({result.existing_customers:,} were there)."
        )
        for table in result.tables:
            self.stdout.write(f"  {table.label:<22} {table.rows:>10,} rows  {table.rows / elapsed:>10,.0f} rows/s")
        self.stdout.write(f"Wrote {result.rows:,} rows in {elapsed:.1f} s: {result.rows / elapsed:,.0f} rows/s")

    @staticmethod
    def _one_with_role(users, role: str):
        return users[next(spec.email for spec in staff.DEMO_STAFF if spec.role == role)]

    def _print_logins(self, passwords: dict[str, str]) -> None:
        if not passwords:
            return
        # Written to the terminal only, never to the log; they are not shown again.
        self.stdout.write("")
        self.stdout.write(self.style.WARNING("Demo logins created (passwords are shown this once):"))
        for email, password in passwords.items():
            self.stdout.write(f"  {email:<30} {password}")
        # scripts/run exports the PORT it serves on; a seed run on its own names the default.
        self.stdout.write(f"Sign in at http://127.0.0.1:{os.environ.get('PORT') or 8000}/admin/")
