"""One transition table per app: every operation a record's status allows, declared once.

`claims.services.CLAIM_TRANSITIONS` and `policies.services.POLICY_TRANSITIONS` are `TransitionTable`s. A row
names the status an operation leads to, the statuses it starts from, the permission it needs and the service
that performs it, and how the back office offers it (button, form, changelist action, messages). From the rows:
- each service checks its own permission and allowed-from set (`require(actor, row.permission, row.may)`,
  `row.allows(status)`), so the 403 and 409 of a service, of the API and of the admin are the same;
- `<entity>_set_status` (what the API's PATCH calls) picks the row leading to the requested status;
- the admin (vanguard.admin.VanguardModelAdmin) builds its object buttons, transition pages, changelist actions
  and their permission checks.

Adding a transition is therefore one row here plus its service (and, when it asks for input, its form).
This module is part of the foundation: it imports no app.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class Transition:
    """One row of a transition table (or, for an admin without one, one object button).

    `permission` is a permission codename ("claims.decide_claim"); an admin without a table may instead name a
    `has_<permission>_permission` method of its ModelAdmin ("erase"). `allowed_from` lists the statuses the
    operation starts from (None: any); `target` is the status it leads to (None: the status stays, e.g. an
    assignment, a renewal that writes a new record, an audit). `may` completes "You do not have permission to
    ..." and `verb` completes "A paid claim cannot be ...": the service raises both with these words.

    The back office: `label` is the object button (empty: not offered in the admin, e.g. the daily expiry);
    `form` the dotted path of a vanguard.forms.TransitionForm asking the operation's inputs on an intermediate
    page (None: a plain POST button); `submit`/`submit_many` that page's button for one and for several records;
    `done` the success message for one record (a format string with {obj} and {result}, or a callable
    (label, result)); `action`/`action_label` the changelist action's name and description (empty: no action)
    and `done_many` its summary ("Approved: 2 claims."); `note` a line shown above the form.
    """

    name: str
    label: str
    permission: str
    allowed_from: frozenset[str] | None = None
    target: str | None = None
    service: Callable[..., Any] | None = None
    may: str = ""
    verb: str = ""
    form: str | None = None
    submit: str = ""
    submit_many: str = ""
    done: str | Callable[[str, Any], str] = ""
    action: str = ""
    action_label: str = ""
    done_many: str = ""
    note: str = ""

    def allows(self, status: str | None) -> bool:
        return self.allowed_from is None or status in self.allowed_from

    def accepted(self, offered: dict[str, Any]) -> dict[str, Any]:
        """The offered inputs this row's service takes (by its signature): a status change sends every input the
        API knows (amount, reason, ...), each service reads the ones it declares."""
        names = _parameters(self.service)
        return {name: value for name, value in offered.items() if name in names}

    # --- back office ----------------------------------------------------------------------------------
    def submit_label(self, count: int = 1) -> str:
        plain = self.submit or self.label.rstrip("…")
        return (self.submit_many or plain) if count > 1 else plain

    def success_message(self, label: str, result: Any) -> str:
        if callable(self.done):
            return self.done(label, result)
        if self.done:
            return self.done.format(obj=label, result=result)
        return f"{label}: {self.label.rstrip('…').lower()} done."


@cache
def _parameters(service: Callable[..., Any]) -> frozenset[str]:
    return frozenset(inspect.signature(service).parameters)  # follows @transaction.atomic's __wrapped__


class TransitionTable:
    """The rows of one app, in the order the admin shows them, and how their services name the record
    (`record_id`: "claim_id"). Rows are looked up by name (`table["approve"]`)."""

    def __init__(self, *rows: Transition, record_id: str):
        self.rows = rows
        self.record_id = record_id
        self._by_name = {row.name: row for row in rows}
        actions = [row.action for row in rows if row.action]
        if len(self._by_name) != len(rows) or len(set(actions)) != len(actions):
            raise ImproperlyConfigured("Transition names and action names must be unique within a table.")
        for row in rows:
            if row.service is None or (row.action and not row.label):
                raise ImproperlyConfigured(f"Transition {row.name!r} needs a service (and a label for its action).")

    def __iter__(self) -> Iterator[Transition]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def status_permissions(self) -> frozenset[str]:
        """The permissions of the rows that lead to a status (those `<entity>_set_status` may pick): who holds
        none of them can change no record's status. Rows that keep the status (a renewal, an audit) are not
        counted: the API's PATCH cannot reach them."""
        return frozenset(row.permission for row in self.rows if row.target is not None)

    def __getitem__(self, name: str) -> Transition:
        return self._by_name[name]

    def leading_to(self, status: str, *, current: str) -> Transition | None:
        """The row that moves a record in `current` to `status`: the first one allowed from `current`, else the
        first one leading there at all (its service refuses the move with its own words, or returns the record
        unchanged when it is already there); None when no row leads to `status`."""
        rows = [row for row in self.rows if row.target is not None and row.target == status]
        return next((row for row in rows if row.allows(current)), rows[0] if rows else None)

    def run(self, name: str, *, actor: Any, pk: Any, **inputs: Any) -> Any:
        """Call row `name`'s service for one record (the admin's buttons and actions)."""
        return self[name].service(actor=actor, **{self.record_id: pk}, **inputs)
