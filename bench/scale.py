#!/usr/bin/env python
"""Admin changelists and API lists on a seeded volume database: median time and query count (a benchmark, not a test).

For every admin changelist: the default view, one filter (the first choice of its first list filter), a name
search, an e-mail search (posted through the search box, as staff do) and page 200. For every API list endpoint:
the first page, a filter, a search and a deep page (a cursor at row 40,000; `page=2000` itself is now a 422 that
points to the cursor, also shown). Each request runs in this process through Django's test client — the whole
stack (middleware, auth, permissions, masking, templates, serialisation) but no HTTP server or network — once to
warm up, then --repeat times; the table shows the median and the number of SQL queries of the last run.

    .venv/bin/python bench/seed_volume.py -n 1000000 --keep --database vanguard_bench_1m   # ~5 minutes, ~3.2 GB
    .venv/bin/python bench/scale.py --database vanguard_bench_1m [--vacuum] [--repeat 5] [--only admin|api]

--vacuum runs VACUUM (ANALYZE) on the big tables first (a freshly seeded database has no visibility map yet, so
index-only scans still read the heap). The database is only read, except for the bench user's session, its
principal in the cache and the PII access rows a detail read would write (lists write none).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
GOAL_MS = 200.0
NAME, EMAIL_FRAGMENT = "kowalski", "v00123"  # a surname (~1.5% of customers); an e-mail fragment (100 customers)
DEEP_ROW = 40_000  # "page 2,000" of 20


def _setup(database_url: str) -> None:
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "DJANGO_ENV": os.environ.get("DJANGO_ENV", "development"),
            "DJANGO_DEBUG": "false",
            "DJANGO_SETTINGS_MODULE": "vanguard.settings",
            "LOG_LEVEL": "WARNING",
            "API_RATE_LIMIT_USER": "10000000/m",
            "API_RATE_LIMIT_ANON": "10000000/m",
        }
    )
    os.environ.pop("REDIS_URL", None)  # the local-memory cache: no Redis round trip measured, none needed
    import django

    django.setup()


def measure(call, repeat: int) -> tuple[float, int, int]:
    """(median ms, queries of the last run, status) of `call()` after one warm-up run."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    call()
    times, queries, status = [], 0, 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = call()
            times.append((time.perf_counter() - started) * 1000)
        queries, status = len(captured), response.status_code
    return statistics.median(times), queries, status


def admin_cases(client, user) -> list[tuple[str, str, object]]:
    from django.contrib import admin
    from django.test import RequestFactory
    from django.urls import reverse

    cases = []
    for model, model_admin in sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label):
        label = model._meta.label
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        if client.get(url).status_code != 200:
            continue
        cases.append((label, "default view", lambda url=url: client.get(url)))
        request = RequestFactory().get(url)
        request.user = user
        changelist = model_admin.get_changelist_instance(request)
        if changelist.filter_specs:
            spec = changelist.filter_specs[0]
            choices = [c for c in spec.choices(changelist) if c.get("query_string") and not c.get("selected")]
            if choices:
                query = choices[0]["query_string"]
                cases.append((label, f"filter {spec.title}", lambda url=url, q=query: client.get(url + q)))
        if model_admin.search_fields:
            for what, term in (("name search", NAME), ("email search", EMAIL_FRAGMENT)):
                cases.append((label, f"{what} '{term}'", _search(client, model, model_admin, url, term)))
        cases.append((label, "page 200", lambda url=url: client.get(url, {"p": 200})))
    return cases


def _search(client, model, model_admin, url: str, term: str):
    """The changelist a search leads to: a posted search box redirects to it (an opaque token for an e-mail)."""
    from django.urls import reverse

    target = url + "?q=" + term
    if getattr(model_admin, "posted_search", False):
        search_url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_search")
        response = client.post(search_url, {"q": term})
        target = response["Location"] if response.status_code == 302 else target
    return lambda: client.get(target)


def api_cases(client, headers: dict[str, str]) -> list[tuple[str, str, object]]:
    from claims.models import Claim
    from customers.models import Customer
    from policies.models import Policy
    from vanguard.core import pagination

    def get(path: str, **query):
        return lambda: client.get(path, query, **headers)

    def deep_cursor(model) -> str:
        # The cursor a client holds after reading DEEP_ROW rows (minted directly instead of walking 2,000 pages).
        queryset = model.objects.order_by("-created_at", "-id")
        keys = pagination._ordering(queryset)
        row = queryset.values("created_at", "id")[DEEP_ROW - 1]
        return pagination._encode([row["created_at"], row["id"]], queryset, keys)

    cases = []
    for path, model, filters, search in (
        ("/api/customers", Customer, {"gdpr_consent": "true"}, {"search": NAME}),
        ("/api/policies", Policy, {"status": "active"}, {"policy_type": "auto", "status": "expired"}),
        ("/api/claims", Claim, {"status": "pending"}, {"claim_type": "theft", "status": "approved"}),
    ):
        cases += [
            (path, "first page", get(path)),
            (path, "filter " + "&".join(f"{k}={v}" for k, v in filters.items()), get(path, **filters)),
            (path, "search " + "&".join(f"{k}={v}" for k, v in search.items()), get(path, **search)),
            (path, f"deep page (cursor at row {DEEP_ROW:,})", get(path, cursor=deep_cursor(model))),
            (path, "page=2000 (422 → cursor)", get(path, page=2000)),
        ]
    cases += [
        ("/api/customers", f"search last_name={NAME}", get("/api/customers", last_name=NAME)),
        (
            "/api/customers/search",
            "POST email (exact)",
            lambda: client.post(
                "/api/customers/search",
                {"email": "v0012345.olivia.smith@volume.example"},
                content_type="application/json",
                **headers,
            ),
        ),
        ("/api/audit-logs", "first page", get("/api/audit-logs")),
        ("/api/audit-logs", "filter resource_type=customer", get("/api/audit-logs", resource_type="customer")),
    ]
    return cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--database", default="vanguard_bench_1m")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=("admin", "api"))
    parser.add_argument("--vacuum", action="store_true", help="VACUUM (ANALYZE) the big tables first")
    options = parser.parse_args()
    _setup(f"{options.server.rstrip('/')}/{options.database}")

    from django.db import connection
    from django.test import Client

    from customers.models import Customer
    from vanguard.accounts.auth import tokens_issue
    from vanguard.accounts.models import User

    if options.vacuum:
        with connection.cursor() as cursor:
            for table in (
                "customers_customer",
                "policies_policy",
                "policies_policyevent",
                "claims_claim",
                "claims_claimevent",
            ):
                cursor.execute(f"VACUUM (ANALYZE) {table}")
    user = User.objects.filter(is_superuser=True, is_active=True).order_by("date_joined").first()
    if user is None:
        print("no active superuser in this database: seed it first (bench/seed_volume.py)", file=sys.stderr)
        return 2
    client = Client()
    client.force_login(user)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {tokens_issue(user=user)['access_token']}"}

    print(
        f"{options.database}: {Customer.objects.count():,} customers; median of {options.repeat}, ms; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    cases = []
    if options.only != "api":
        cases += [("admin " + label, what, call) for label, what, call in admin_cases(client, user)]
    if options.only != "admin":
        cases += [("api " + path, what, call) for path, what, call in api_cases(client, headers)]
    over = 0
    print(f"{'list':<34} {'case':<44} {'median ms':>10} {'queries':>8} {'status':>7}")
    for label, what, call in cases:
        median, queries, status = measure(call, options.repeat)
        flag = "" if median < GOAL_MS else "  OVER"
        over += bool(flag)
        print(f"{label:<34} {what[:44]:<44} {median:>10.1f} {queries:>8} {status:>7}{flag}", flush=True)
    print(f"{len(cases) - over} of {len(cases)} under {GOAL_MS:.0f} ms; load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
