"""Audit entries as staff read them: the History page of every audited object and the audit trail's own page.

django-auditlog stores each change as raw values (primary keys, naive UTC timestamps, choice values, JSON) and
its renderer shows them as stored, with every reverse relation as `app.Model.None` and internals such as the
SSN's blind index. This module turns a page of entries into rows of field label (verbose_name), old and new
value in words: people by name and e-mail, records by their number with a link, choices by their label,
times local and formatted, money with its currency. Internal columns are left out. Masked values
("[redacted]") and GDPR-erased ones ("[erased]") are shown as they are: nothing here can reveal more than
the stored entry holds.

Related records are looked up in one query per related model for the whole page (never one per entry).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.text import capfirst

from vanguard.core.money import format_money

EMPTY = "—"
KEPT_AS_IS = frozenset({"[redacted]", "[erased]", "***"})
# Columns that say nothing to staff: keys, the SSN's blind index, bookkeeping the entry itself records.
INTERNAL_FIELDS = frozenset(
    {
        "id",
        "ssn_hash",
        "pii_encrypted",
        "encryption_key_id",
        "created_at",
        "updated_at",
        "salt",
    }
)
ACTIONS = {0: "Created", 1: "Changed", 2: "Deleted", 3: "Viewed"}
ACRONYMS = {"gdpr": "GDPR", "pii": "PII", "ip": "IP", "id": "id", "ssn": "SSN"}
# Only what names the record is read for a related row (a customer's encrypted columns are never decrypted).
NAMING_COLUMNS = {
    "customers.customer": ("id", "first_name", "last_name", "erased_at"),
    "policies.policy": ("id", "policy_number"),
    "claims.claim": ("id", "claim_number"),
    "accounts.user": ("id", "email", "full_name"),
}


@dataclass
class Change:
    label: str
    old: str = EMPTY
    new: str = EMPTY


@dataclass
class Entry:
    entry: Any
    when: str
    actor: str
    action: str
    created: bool
    changes: list[Change] = field(default_factory=list)
    relations: list[Change] = field(default_factory=list)  # many-to-many: label, operation, objects

    @property
    def pk(self) -> Any:
        return self.entry.pk


def person(user: Any) -> str:
    """A staff user as people know them: 'Full Name <e-mail>'."""
    if user is None:
        return "System"
    name = (getattr(user, "full_name", "") or "").strip()
    return f"{name} <{user.email}>" if name else user.email


def record_name(obj: models.Model) -> str:
    label = obj._meta.label_lower
    if label == "customers.customer":
        return "Erased customer" if obj.erased_at else f"{obj.first_name} {obj.last_name}"
    if label == get_user_model()._meta.label_lower:
        return person(obj)
    return str(obj)


def _model_field(model: type[models.Model] | None, name: str) -> models.Field | None:
    if model is None:
        return None
    try:
        found = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return found if getattr(found, "concrete", False) else None  # reverse relations are not the row's data


def _shown(model: type[models.Model] | None, name: str) -> bool:
    return name not in INTERNAL_FIELDS and _model_field(model, name) is not None


def _label(model_field: models.Field | None, name: str) -> str:
    verbose = getattr(model_field, "verbose_name", None) or name.replace("_", " ")
    return capfirst(str(verbose))


class _Related:
    """The related rows a page of entries names, fetched in one query per related model."""

    def __init__(self, request: HttpRequest | None) -> None:
        self.request = request
        self.wanted: dict[type[models.Model], set[str]] = defaultdict(set)
        self.found: dict[tuple[type[models.Model], str], models.Model] = {}

    def want(self, related_model: type[models.Model], value: Any) -> None:
        if value not in (None, "") and str(value) not in KEPT_AS_IS:
            self.wanted[related_model].add(str(value))

    def fetch(self) -> None:
        for related_model, pks in self.wanted.items():
            columns = NAMING_COLUMNS.get(related_model._meta.label_lower)
            queryset = related_model._default_manager.filter(pk__in=pks)
            if columns:
                queryset = queryset.only(*columns)
            for obj in queryset:
                self.found[(related_model, str(obj.pk))] = obj

    def render(self, related_model: type[models.Model], value: Any) -> str:
        obj = self.found.get((related_model, str(value)))
        if obj is None:
            return "A deleted record"
        name = record_name(obj)
        opts = related_model._meta
        if self.request is not None and not self.request.user.has_perm(f"{opts.app_label}.view_{opts.model_name}"):
            return name
        try:
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        except NoReverseMatch:
            return name
        return format_html('<a href="{}">{}</a>', url, name)


def _as_datetime(value: Any) -> dt.datetime | None:
    parsed = value if isinstance(value, dt.datetime) else parse_datetime(str(value))
    if parsed is None:
        return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, dt.UTC)  # auditlog stores naive UTC
    return timezone.localtime(parsed)


def _json_text(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, dict):
        return "; ".join(f"{k.replace('_', ' ')}: {_plain(v)}" for k, v in value.items()) or EMPTY
    return _plain(value)


def _plain(value: Any) -> str:
    if value in (None, ""):
        return EMPTY
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def render_value(model_field: models.Field | None, value: Any, related: _Related) -> str:
    if value is None or value == "" or value == "None":
        return EMPTY
    if str(value) in KEPT_AS_IS:
        return str(value)
    if model_field is None:
        return _plain(value)
    if model_field.is_relation and model_field.related_model is not None:
        return related.render(model_field.related_model, value)
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(model_field, models.BooleanField):
        return "Yes" if str(value).lower() in ("true", "1") else "No"
    if isinstance(model_field, models.DateTimeField):
        when = _as_datetime(value)
        return date_format(when, "DATETIME_FORMAT") if when else str(value)
    if isinstance(model_field, models.DateField):
        day = value if isinstance(value, dt.date) else parse_date(str(value)[:10])
        return date_format(day, "DATE_FORMAT") if day else str(value)
    if isinstance(model_field, models.DecimalField) and model_field.decimal_places == 2:
        return format_money(value)
    if isinstance(model_field, models.JSONField):
        return _json_text(value)
    return _plain(value)


def _model_of(entry: Any, model: type[models.Model] | None) -> type[models.Model] | None:
    if model is not None:
        return model
    # get_for_id is served from ContentType's cache: no query per entry.
    return ContentType.objects.get_for_id(entry.content_type_id).model_class()


def readable_entries(
    entries: Iterable[Any],
    *,
    request: HttpRequest | None = None,
    model: type[models.Model] | None = None,
) -> list[Entry]:
    """The entries (actor loaded with select_related) as rows staff can read; `model` when all are of one."""
    entries = list(entries)
    related = _Related(request)
    plans: list[tuple[Any, type[models.Model] | None, dict]] = []
    for entry in entries:
        entry_model = _model_of(entry, model)
        changes = entry.changes_dict or {}
        plans.append((entry, entry_model, changes))
        for name, change in changes.items():
            model_field = _model_field(entry_model, name)
            if model_field is None or not model_field.is_relation or model_field.many_to_many:
                continue
            if isinstance(change, list | tuple):
                for value in change:
                    related.want(model_field.related_model, value)
    related.fetch()
    rows = []
    for entry, entry_model, changes in plans:
        created = entry.action == 0
        item = Entry(
            entry=entry,
            when=date_format(timezone.localtime(entry.timestamp), "DATETIME_FORMAT"),
            actor=person(entry.actor) if entry.actor_id else (entry.actor_email or "System"),
            action=ACTIONS.get(entry.action, entry.get_action_display()),
            created=created,
        )
        for name, change in sorted(changes.items(), key=lambda kv: _order(entry_model, kv[0])):
            if not _shown(entry_model, name):
                continue
            model_field = _model_field(entry_model, name)
            label = _label(model_field, name)
            if isinstance(change, dict) and change.get("type") == "m2m":
                objects = ", ".join(str(o) for o in change.get("objects", [])) or EMPTY
                operation = {"add": "Added", "delete": "Removed"}.get(change.get("operation"), change.get("operation"))
                item.relations.append(Change(label=label, old=str(operation), new=objects))
                continue
            old, new = [*change, None, None][:2] if isinstance(change, list | tuple) else (None, change)
            new_text = render_value(model_field, new, related)
            if created and new_text == EMPTY:
                continue  # a new record: only what it was given
            item.changes.append(Change(label=label, old=render_value(model_field, old, related), new=new_text))
        rows.append(item)
    return rows


def _order(model: type[models.Model] | None, name: str) -> tuple[int, str]:
    """Fields in the model's own order (as on its form), not alphabetically."""
    if model is None:
        return (0, name)
    names = [f.name for f in model._meta.concrete_fields]
    return (names.index(name) if name in names else len(names), name)


def readable_additional_data(data: Any) -> list[tuple[str, str]]:
    """An entry's additional data (e.g. a GDPR erasure's record) as label/value pairs, not raw JSON."""
    if not isinstance(data, dict):
        return [] if data in (None, "", {}) else [("Data", _plain(data))]
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        label = _key_label(key)
        if key == "audit_redactions" and isinstance(value, dict):
            entries = sorted(value, key=lambda s: int(s) if str(s).isdigit() else 0)
            pairs.append(
                (
                    f"{label}",
                    f"{len(entries)} earlier entr{'y' if len(entries) == 1 else 'ies'} redacted"
                    + (f" (#{', #'.join(str(s) for s in entries)})" if entries else ""),
                )
            )
        elif isinstance(value, dict):
            pairs.extend((f"{label} · {_key_label(k, first=False)}", _nested(v)) for k, v in value.items())
        else:
            pairs.append((label, _nested(value)))
    return pairs


def _key_label(key: str, *, first: bool = True) -> str:
    words = [ACRONYMS.get(word, word) for word in str(key).split("_")]
    text = " ".join(words)
    return capfirst(text) if first else text


def _nested(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{_key_label(k, first=False)}: {_nested(v)}" for k, v in value.items()) or EMPTY
    if isinstance(value, list | tuple):
        return ", ".join(_nested(v) for v in value) or EMPTY
    return _plain(value)


def changes_table(rows: Sequence[Entry]) -> str:
    """One entry's changes as the same table the History page shows (for the audit trail's change page)."""
    from django.template.loader import render_to_string

    return render_to_string("admin/vanguard/history_changes.html", {"item": rows[0]}) if rows else ""


# --- domain events (PolicyEvent, ClaimEvent): their JSON data in words ---------------------------------------
# Keys of event data that hold the id of another record, by event model and kind ("*": any kind).
EVENT_REFERENCES: dict[str, dict[str, dict[str, str]]] = {
    "claims.claimevent": {
        "assigned": {"from": "accounts.user", "to": "accounts.user"},
        "*": {"document_id": "claims.claimdocument"},
    },
    "policies.policyevent": {"*": {"renewal_of": "policies.policy", "renewal_id": "policies.policy"}},
}
EVENT_LABELS = {
    "from": "From",
    "to": "To",
    "document_id": "Document",
    "type": "Document type",
    "mime": "File type",
    "renewal_of": "Renews",
    "renewal_id": "Renewed as",
    "renewal_number": "Renewal number",
    "fields": "Changed",
    "amount": "Amount",
}
NAMING_COLUMNS["claims.claimdocument"] = ("id", "filename")


class EventDetails:
    """Renders the `data` of one record's events (an inline's rows) in words. The ids they hold are looked up
    for all the record's events at once, in one query per related model."""

    def __init__(self, events: Iterable[Any], *, subject_model: type[models.Model]) -> None:
        from django.apps import apps

        self.subject_model = subject_model
        self.related = _Related(None)
        self.events = list(events)
        for event in self.events:
            for key, label in self._references(event).items():
                value = (event.data or {}).get(key)
                if value:
                    self.related.want(apps.get_model(label), value)
        self.related.fetch()

    @staticmethod
    def _references(event: Any) -> dict[str, str]:
        by_kind = EVENT_REFERENCES.get(event._meta.label_lower, {})
        return {**by_kind.get("*", {}), **by_kind.get(event.kind, {})}

    def render(self, event: Any) -> str:
        from django.apps import apps
        from django.utils.html import format_html_join

        data = event.data or {}
        if not isinstance(data, dict) or not data:
            return EMPTY
        references = self._references(event)
        parts: list[tuple[str, str]] = []
        for key, value in data.items():
            if (key == "renewal_number" and "renewal_id" in data) or (value and value == event.reason):
                continue  # already said: the renewal is linked by number; the reason has its own column
            label = EVENT_LABELS.get(key) or _label(_model_field(self.subject_model, key), key)
            if key in references:
                text = self.related.render(apps.get_model(references[key]), value) if value else "Nobody"
            elif isinstance(value, dict) and {"from", "to"} >= set(value):  # an amendment: {field: {from, to}}
                model_field = _model_field(self.subject_model, key)
                text = (
                    f"{render_value(model_field, value.get('from'), self.related)} → "
                    f"{render_value(model_field, value.get('to'), self.related)}"
                )
            elif key == "fields" and isinstance(value, list):
                text = ", ".join(_label(_model_field(self.subject_model, name), name) for name in value)
            elif key == "amount":
                text = format_money(value)
            elif key == "type" and event._meta.label_lower == "claims.claimevent":
                from claims.models import ClaimDocument

                text = str(dict(ClaimDocument.DocumentType.choices).get(value, value))
            elif key in ("from", "to") and isinstance(value, str):
                # A status-like change recorded in data (e.g. a compliance audit's outcome): its choice label.
                model_field = _model_field(self.subject_model, "compliance_status")
                text = render_value(model_field, value, self.related) if model_field else value
            else:
                text = render_value(_model_field(self.subject_model, key), value, self.related)
            parts.append((label, text))
        return format_html_join(mark_safe("<br>"), "{}: {}", parts)


class EventDataInlineMixin:
    """For an inline of domain events: a "Details" column with the event's data in words (use "details" in
    `fields` and `readonly_fields` instead of "data"). The ids in the data of the rows the formset shows are
    looked up together when the formset reads its rows: one query per related model, whatever the rows."""

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)

        class EventFormSet(formset):
            def get_queryset(self):
                first = not hasattr(self, "_queryset")
                queryset = super().get_queryset()
                if first:
                    details = EventDetails(queryset, subject_model=self.fk.related_model)  # evaluates it once
                    for event in queryset:  # the result cache the forms index into
                        event._event_details = details
                return queryset

        return EventFormSet

    @admin.display(description="Details")
    def details(self, event: Any) -> str:
        details = getattr(event, "_event_details", None)
        if details is None:  # a row not read through the formset: on its own
            subject = next(
                f for f in event._meta.concrete_fields if f.is_relation and f.related_model is not get_user_model()
            )
            details = EventDetails([event], subject_model=subject.related_model)
        return details.render(event)
