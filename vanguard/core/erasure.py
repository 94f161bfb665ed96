"""Rewriting free text in place for a GDPR erasure: the one primitive the apps' erasure services share.

The erasure itself (`compliance.services.erasure.customer_erase`) decides what identifies the person and hands
each app a `Scrub` (a value in, the value without the person out); each app names its own rows and columns
(`claims/erasure.py`, `policies/erasure.py`) and writes them through `scrub_rows`. Foundation code: it imports
no app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db.models import QuerySet

Scrub = Callable[[Any], Any]


def fit_column(value: Any, max_length: int | None) -> Any:
    """A scrubbed text cut to its column ("[erased]" is longer than a short value it replaces)."""
    if isinstance(value, str) and max_length and len(value) > max_length:
        return value[:max_length]
    return value


def scrub_rows(targets: Iterable[tuple[QuerySet, Sequence[str]]], scrub: Scrub) -> dict[str, list[str]]:
    """Pass `fields` of every row of each queryset through `scrub`. Locks the rows (FOR UPDATE, primary-key
    order, one table after the other in the order given) and saves only the rows and columns that changed.
    Sends no audit entry of its own: the erasure runs it with auditlog disabled and records the whole erasure
    in one entry. Returns the pks (as text) of the rows changed, by model label; a model with none is left out.
    """
    scrubbed: dict[str, list[str]] = {}
    for queryset, fields in targets:
        for obj in queryset.select_for_update(of=("self",)).only("pk", *fields).order_by("pk"):
            changed = []
            for name in fields:
                value = getattr(obj, name)
                new = fit_column(scrub(value), obj._meta.get_field(name).max_length)
                if new != value:
                    setattr(obj, name, new)
                    changed.append(name)
            if changed:
                obj.save(update_fields=changed)
                scrubbed.setdefault(obj._meta.label_lower, []).append(str(obj.pk))
    return scrubbed
