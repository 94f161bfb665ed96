"""Compliance services (SPEC §7): PII access log, GDPR subject-access export and erasure, data retention.

Legal hold (what blocks an erasure): a policy that is still a live contract — ``pending`` (about to start),
``active`` or ``inactive`` (suspended, may be reinstated) — or an open claim — ``pending``, ``processing``
or ``approved`` (approved but not yet paid). Cancelled and expired policies and denied, paid or closed
claims do not hold: those financial records are kept, only the person's identity is removed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from typing import Any
from uuid import UUID

from auditlog.context import disable_auditlog
from django.contrib.admin.models import LogEntry as AdminLogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django_cryptography.fields import EncryptedMixin

from claims.models import Claim, ClaimDocument, ClaimEvent
from compliance import chain
from compliance.models import AuditEntry, FormerPersonalValue, PIIAccessLog
from customers import pii
from customers.models import Customer
from policies.models import Policy, PolicyEvent
from vanguard.accounts.permissions import require
from vanguard.api_support.models import LoginAttempt
from vanguard.errors import Conflict
from vanguard.request_context import request_id_var

logger = logging.getLogger(__name__)

INTERFACES = frozenset(PIIAccessLog.Interface.values)
HOLDING_POLICY_STATUSES = frozenset({Policy.Status.PENDING, Policy.Status.ACTIVE, Policy.Status.INACTIVE})
HOLDING_CLAIM_STATUSES = frozenset(Claim.OPEN_STATUSES)
# Customer fields that hold the person's identity; their values are erased from the audit history.
PERSONAL_FIELDS = frozenset({"first_name", "last_name", "email", "phone", "date_of_birth", "address", "ssn",
                             "ssn_hash"})
ALL_PII_FIELDS = ["email", "first_name", "last_name", "phone", "date_of_birth", "address", "ssn"]
ERASED_NAME = "Erased"


def _check_interface(interface: str) -> str:
    if interface not in INTERFACES:
        raise ValueError(f"Unknown interface {interface!r}; expected one of {sorted(INTERFACES)}")
    return interface


def _context_remote_addr() -> str | None:
    from auditlog.context import auditlog_value

    try:
        return auditlog_value.get().get("remote_addr")
    except LookupError:
        return None


def pii_access_record(
    *, actor, customer_id: UUID, fields: list[str], interface: str, remote_addr: str | None = None
) -> None:
    """Record that `actor` saw `fields` of a customer in clear (SPEC §7.3): one PIIAccessLog row with
    the request id of the current request or job. Writes nothing when no field was shown in clear."""
    _check_interface(interface)
    if not fields:
        return
    PIIAccessLog.objects.create(
        actor=actor,
        customer_id=customer_id,
        fields=sorted(set(fields)),
        interface=interface,
        remote_addr=remote_addr or _context_remote_addr(),
        request_id=(request_id_var.get() or "")[:64],
    )


# --- holds ----------------------------------------------------------------------------------------------


def customer_legal_hold(*, customer_id: UUID) -> str | None:
    """Why this customer's data must be kept (an active policy or an open claim), or None."""
    policies = list(
        Policy.objects.filter(customer_id=customer_id, status__in=HOLDING_POLICY_STATUSES)
        .order_by("policy_number").values_list("policy_number", "status")
    )
    claims = list(
        Claim.objects.filter(policy__customer_id=customer_id, status__in=HOLDING_CLAIM_STATUSES)
        .order_by("claim_number").values_list("claim_number", "status")
    )
    if not policies and not claims:
        return None
    reasons = []
    if policies:
        reasons.append(f"{len(policies)} live polic{'y' if len(policies) == 1 else 'ies'} ("
                       + ", ".join(f"{number} {status}" for number, status in policies) + ")")
    if claims:
        reasons.append(f"{len(claims)} open claim{'' if len(claims) == 1 else 's'} ("
                       + ", ".join(f"{number} {status}" for number, status in claims) + ")")
    return "Legal hold: the customer has " + " and ".join(reasons) + "; their data cannot be erased yet."


# --- export -------------------------------------------------------------------------------------------


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _money(value) -> str | None:
    return str(value) if value is not None else None


def customer_export(
    *, actor, customer_id: UUID, interface: str, remote_addr: str | None = None
) -> dict[str, Any]:
    """GDPR subject-access export (SPEC §7.2): everything held about the person, JSON-serialisable.

    Profile with PII in clear, consent history (from the audit trail), policies with their events, claims
    with their events and document metadata, the audit history of the customer record, the former values of
    their personal fields (kept for erasure), and who (the staff member's e-mail) saw which of their PII when
    and through which interface. Requires
    `customers.export_customer`; records one PII access row (interface "export"). `interface` is the
    caller's ("admin" or "api"), kept in the export's metadata.
    """
    require(actor, "customers.export_customer", "export customers' personal data")
    _check_interface(interface)
    customer = Customer.objects.get(pk=customer_id)
    policies = list(
        Policy.objects.filter(customer_id=customer_id).order_by("start_date", "policy_number")
        .prefetch_related("events")
    )
    claims = list(
        Claim.objects.filter(policy__customer_id=customer_id).select_related("policy")
        .order_by("reported_date", "claim_number").prefetch_related("events", "documents")
    )
    ct = ContentType.objects.get_for_model(Customer)
    history = list(
        AuditEntry.objects.filter(content_type=ct, object_pk=str(customer.pk))
        .order_by(F("seq").asc(nulls_last=True), "pk")
        .values("seq", "timestamp", "action", "changes", "actor_email")
    )
    accesses = list(
        PIIAccessLog.objects.filter(customer_id=customer_id).order_by("created_at", "id")
        .values("created_at", "interface", "fields", "actor__email")
    )
    former_values = list(
        FormerPersonalValue.objects.filter(customer_id=customer_id).values_list("field", "value", "created_at")
    )
    consent_history = [
        {"at": _iso(row["timestamp"]), "changes": {
            name: row["changes"][name] for name in ("gdpr_consent", "gdpr_consent_date",
                                                    "gdpr_consent_withdrawn_at", "data_retention_date")
            if name in row["changes"]
        }}
        for row in history
        if isinstance(row["changes"], dict) and "gdpr_consent" in row["changes"]
    ]
    action_names = dict(AuditEntry.Action.choices)
    exported_at = timezone.now()
    data = {
        "export": {
            "generated_at": _iso(exported_at),
            "format": "vanguard-subject-access/1",
            "requested_through": interface,
        },
        "customer": {
            "id": str(customer.pk),
            "email": customer.email,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "phone": customer.phone or None,
            "date_of_birth": _iso(customer.date_of_birth),
            "address": customer.address or None,
            "ssn": customer.ssn or None,
            "pii_encrypted": customer.pii_encrypted,
            "created_at": _iso(customer.created_at),
            "updated_at": _iso(customer.updated_at),
            "erased_at": _iso(customer.erased_at),
        },
        "consent": {
            "gdpr_consent": customer.gdpr_consent,
            "gdpr_consent_date": _iso(customer.gdpr_consent_date),
            "gdpr_consent_withdrawn_at": _iso(customer.gdpr_consent_withdrawn_at),
            "data_retention_date": _iso(customer.data_retention_date),
            "history": consent_history,
        },
        "policies": [
            {
                "id": str(p.pk),
                "policy_number": p.policy_number,
                "policy_type": p.policy_type,
                "status": p.status,
                "premium_amount": _money(p.premium_amount),
                "coverage_amount": _money(p.coverage_amount),
                "start_date": _iso(p.start_date),
                "end_date": _iso(p.end_date),
                "cancellation_reason": p.cancellation_reason or None,
                "cancelled_at": _iso(p.cancelled_at),
                "renewal_of": str(p.renewal_of_id) if p.renewal_of_id else None,
                "created_at": _iso(p.created_at),
                "events": [_event(e) for e in sorted(p.events.all(), key=lambda e: (e.created_at, e.pk))],
            }
            for p in policies
        ],
        "claims": [
            {
                "id": str(c.pk),
                "claim_number": c.claim_number,
                "policy_number": c.policy.policy_number,
                "claim_type": c.claim_type,
                "status": c.status,
                "claim_amount": _money(c.claim_amount),
                "approved_amount": _money(c.approved_amount),
                "description": c.description,
                "decision_reason": c.decision_reason or None,
                "incident_date": _iso(c.incident_date),
                "reported_date": _iso(c.reported_date),
                "processed_date": _iso(c.processed_date),
                "events": [_event(e) for e in sorted(c.events.all(), key=lambda e: (e.created_at, e.pk))],
                "documents": [
                    {
                        "id": str(d.pk), "filename": d.filename, "document_type": d.document_type,
                        "mime_type": d.mime_type, "file_size": d.file_size, "sha256": d.sha256,
                        "uploaded_at": _iso(d.created_at),
                    }
                    for d in sorted(c.documents.all(), key=lambda d: (d.created_at, d.pk))
                ],
            }
            for c in claims
        ],
        "record_history": [
            {"seq": row["seq"], "at": _iso(row["timestamp"]), "action": str(action_names.get(row["action"])),
             "changes": row["changes"], "by": row["actor_email"]}
            for row in history
        ],
        # Kept (encrypted) only so that an erasure can find them: still data held about the person.
        "former_values": [
            {"field": name, "value": value, "replaced_at": _iso(at)} for name, value, at in former_values
        ],
        "pii_accesses": [
            {"at": _iso(row["created_at"]), "by": row["actor__email"], "interface": row["interface"],
             "fields": row["fields"]}
            for row in accesses
        ],
    }
    pii_access_record(actor=actor, customer_id=customer.pk, fields=ALL_PII_FIELDS, interface="export",
                      remote_addr=remote_addr)
    return data


def _event(event) -> dict[str, Any]:
    return {
        "kind": event.kind, "from": event.from_status or None, "to": event.to_status or None,
        "reason": event.reason or None, "data": event.data, "at": _iso(event.created_at),
    }


# --- erasure ----------------------------------------------------------------------------------------------


# Words that do not identify anyone on their own: name particles, and the generic words of an address line.
NAME_PARTICLES = frozenset({"van", "von", "der", "den", "del", "della", "des", "dos", "das", "bin", "ibn", "bint",
                            "mac", "the"})
ADDRESS_WORDS = frozenset({
    "flat", "apartment", "apt", "unit", "suite", "floor", "room", "block", "building", "house", "the", "and",
    "street", "road", "lane", "avenue", "ave", "drive", "close", "court", "way", "place", "crescent", "terrace",
    "gardens", "square", "hill", "park", "grove", "row", "walk", "mews", "rise", "view", "north", "south", "east",
    "west", "upper", "lower", "rd", "st", "ln", "dr", "ct", "pl",
})
GENERIC_MAILBOXES = frozenset({"info", "mail", "email", "contact", "admin", "office", "hello", "home", "post"})
# A UK postcode anywhere in an address: the full code and its outward part ("SW1A") identify; the inward
# part alone ("1AA") does not.
UK_POSTCODE = re.compile(r"(?<![^\W_])([A-Z]{1,2}\d[A-Z\d]?) ?(\d[A-Z]{2})(?![^\W_])", re.IGNORECASE)
NAME_FIELDS = ("first_name", "last_name", "email")


def _person_values(customer: Customer) -> dict[str, set[str]]:
    """Every value each personal field of the customer ever held: the current one, the former ones kept
    encrypted (`FormerPersonalValue`, written on every change since it exists), and the names and e-mails
    of the customer's audit history (stored there in clear; the encrypted fields are "[redacted]" there,
    so changes made before former values were kept cannot be recovered for them)."""
    values: dict[str, set[str]] = {name: set() for name in (*PERSONAL_FIELDS, "date_of_birth")}
    for name in values:
        current = getattr(customer, name)
        if current not in (None, ""):
            values[name].add(current.isoformat() if isinstance(current, dt.date) else str(current))
    for name, value in FormerPersonalValue.objects.filter(customer_id=customer.pk).values_list("field", "value"):
        values.setdefault(name, set()).add(value)
    ct = ContentType.objects.get_for_model(Customer)
    for changes in AuditEntry.objects.filter(content_type=ct, object_pk=str(customer.pk)).values_list(
        "changes", flat=True
    ):
        for name in NAME_FIELDS:
            pair = changes.get(name) if isinstance(changes, dict) else None
            for value in pair if isinstance(pair, list) else []:
                if isinstance(value, str) and value not in ("", "None", pii.REDACTED, chain.ERASED):
                    values[name].add(value)
    return values


def _address_needles(address: str) -> set[str]:
    """The whole address (as stored and on one line), its premises parts and its postcode.

    The address is split into parts at commas and line breaks. The premises are the parts up to and
    including the street line (the first part starting with a house number; the first part when none
    does): a house name ("Larkspur Cottage"), a flat line and the street line ("99 Grimwald Lane"). A
    premises part counts only when it has a word of three letters or more that is not a generic address
    word: "Flat 3" does not. The parts after it (town, county, country) do not identify anyone alone and
    are kept, as are a street name without its number ("Grimwald Lane", shared by the neighbours), a house
    number and generic words ("Lane", "Flat"). A UK postcode anywhere counts, with and without its space,
    and so does its outward part ("BS35").
    """
    parts = [part.strip() for part in re.split(r"[,\n]", address) if part.strip()]
    found = {address.strip(), ", ".join(parts)}
    street = next((i for i, part in enumerate(parts) if part[:1].isdigit()), 0)
    for part in parts[: street + 1]:
        if any(len(word) >= 3 and word.lower() not in ADDRESS_WORDS for word in re.findall(r"[^\W\d_]+", part)):
            found.add(part)
    for match in UK_POSTCODE.finditer(address):
        outward, inward = match.groups()
        found |= {f"{outward} {inward}", f"{outward}{inward}", outward}
    return found


def _needles(customer: Customer) -> list[str]:
    """What erasure searches for: every value the person ever had (`_person_values`) and the parts of them
    that identify the person on their own, lower-cased, longest first. Matched as whole values or words
    only (`compliance.chain.scrub`): "Ness" never touches "business".

    - Names: each first and last name (two letters or more), each first-last combination, and each part
      of a name of three letters or more ("Anne-Marie" → "Anne", "Marie") except particles ("van", "der").
    - E-mail: the address, and its local part unless shorter than four letters or a generic mailbox.
    - Phone: as stored and without its "+". SSN: as stored and normalised (`pii.normalise_ssn`), and the
      current blind index. Birth date: ISO, day/month/year and month/day/year.
    - Address: see `_address_needles` (street line, house name, postcode and its outward part; never a
      street name, town or house number alone).
    """
    values = _person_values(customer)
    found: set[str] = set()
    names = {"first_name": set(), "last_name": set()}
    for field, known in names.items():
        for name in values[field]:
            name = name.strip()
            if len(name) >= 2 and name != ERASED_NAME:
                known.add(name)
                found.add(name)
                found.update(p for p in re.split(r"[\s-]+", name) if len(p) >= 3 and p.lower() not in NAME_PARTICLES)
    found.update(f"{first} {last}" for first in names["first_name"] for last in names["last_name"])
    for email in values["email"]:
        found.add(email)
        local = email.partition("@")[0]
        if len(local) >= 4 and local.lower() not in GENERIC_MAILBOXES:
            found.add(local)
    for phone in values["phone"]:
        found |= {phone, phone.lstrip("+")}
    for ssn in values["ssn"]:
        found |= {ssn, pii.normalise_ssn(ssn)}
    found |= values["ssn_hash"]
    for iso in values["date_of_birth"]:
        try:
            born = dt.date.fromisoformat(iso)
        except ValueError:
            continue
        found |= {iso, f"{born:%d/%m/%Y}", f"{born:%m/%d/%Y}"}
    for address in values["address"]:
        found |= _address_needles(address)
    return sorted({v.lower() for v in found if len(v) >= 2}, key=len, reverse=True)


def _choice_values() -> frozenset[str]:
    """The choice values of the records an erasure scrubs (types, statuses, event kinds). A string that is
    exactly one of them is the record's data, not the person's, even for a customer named Flood."""
    return frozenset(
        str(value)
        for model in (Customer, Policy, PolicyEvent, Claim, ClaimEvent, ClaimDocument)
        for f in model._meta.concrete_fields if f.choices
        for value, _ in f.flatchoices
    )


@transaction.atomic
def customer_erase(*, actor, customer_id: UUID, interface: str, reason: str = "") -> Customer:
    """GDPR erasure (SPEC §7.2): anonymise the person, keep their policies and claims.

    Requires `customers.erase_customer` (the system actor of the retention job may). Locks the customer
    row (FOR UPDATE, which also holds off new policies referencing it) and refuses with `Conflict` (409)
    naming the legal hold when a live policy or an open claim exists. Then: names → "Erased", email →
    ``erased-<id>@erased.invalid``, phone, birth date, address, SSN and SSN hash cleared, `erased_at` set;
    the person's values are scrubbed from their claims' free text, events and document names, from the
    admin's own log, and redacted from the audit history (`compliance.chain`); one chained audit entry
    records the erasure, its reason and interface, and the redactions. Idempotent: an erased customer is
    returned unchanged.
    """
    require(actor, "customers.erase_customer", "erase customers' personal data")
    _check_interface(interface)
    customer = Customer.objects.select_for_update().get(pk=customer_id)
    if customer.is_erased:
        return customer
    hold = customer_legal_hold(customer_id=customer.pk)
    if hold:
        raise Conflict(hold)
    needles, keep = _needles(customer), _choice_values()
    now = timezone.now()
    before = {name: getattr(customer, name) for name in PERSONAL_FIELDS}
    customer.first_name = customer.last_name = ERASED_NAME
    customer.email = f"erased-{customer.pk}@erased.invalid"
    customer.phone = customer.address = customer.ssn = customer.ssn_hash = ""
    customer.date_of_birth = None
    customer.erased_at = now
    from django.conf import settings

    # The row is stamped with the current key id, so every encrypted field is rewritten under the current
    # key, the ones already empty included: an empty value is still a ciphertext, and one left under the
    # old key on a row marked with the new id is skipped by a resumed rotation and fails its final check.
    # (Leaving the old id instead would be correct too, but would record a key the row no longer uses.)
    customer.encryption_key_id = settings.ENCRYPTION_KEY_ID
    encrypted = [f.name for f in Customer._meta.concrete_fields if isinstance(f, EncryptedMixin)]
    changed = [name for name in PERSONAL_FIELDS if getattr(customer, name) != before[name]]
    customer.full_clean(validate_unique=False, validate_constraints=False)
    scrubbed: dict[str, list[str]] = {}
    # The erasure writes its own audit entry below (with the redaction record); auditlog's automatic
    # entries would put the erased values into the trail as "old" values.
    with disable_auditlog():
        customer.save(update_fields=sorted({*changed, *encrypted, "erased_at", "encryption_key_id", "updated_at"}))
        scrubbed = _scrub_related(customer_id=customer.pk, needles=needles, keep=keep)
    related = _related_objects(customer)
    redactions = _redact_audit_history(customer, related, needles=needles, keep=keep)
    admin_log = _scrub_admin_log(customer, related, needles=needles, keep=keep)
    login_attempts = _scrub_login_attempts(needles=needles)
    former_values, _ = FormerPersonalValue.objects.filter(customer_id=customer.pk).delete()
    AuditEntry.objects.log_create(
        customer,
        action=AuditEntry.Action.UPDATE,
        changes={name: [chain.ERASED if before[name] not in ("", None) else before[name],
                        _plain(getattr(customer, name))] for name in sorted(changed)}
        | {"erased_at": [None, now.isoformat()]},
        actor=actor if getattr(actor, "pk", None) else None,
        actor_email=getattr(actor, "email", None),
        additional_data={
            # The reason is free text typed by staff: it may name the person too.
            "gdpr_erasure": {"interface": interface, "reason": chain.scrub(reason or "", needles, keep=keep),
                             "scrubbed": scrubbed, "redacted_entries": len(redactions),
                             "admin_log_entries": admin_log, "login_attempts": login_attempts,
                             "former_values": former_values},
            chain.REDACTIONS_KEY: redactions,
        },
    )
    # Chained with the erasure (the head is still held): the redacted entries and the record vouching for them
    # become visible together, so no verification in between sees a redacted entry nobody vouches for.
    chain.seal_pending()
    logger.info("customer erased", extra={"customer_id": str(customer.pk), "interface": interface})
    return customer


def _plain(value):
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _scrub_related(*, customer_id: UUID, needles: list[str], keep: frozenset[str]) -> dict[str, list[str]]:
    """Remove the person's values from free text kept with their claims and events (descriptions,
    reasons, event data, document names). The records stay; only the identifying text goes."""
    scrubbed: dict[str, list[str]] = {}
    if not needles:
        return scrubbed
    targets = [
        (Claim.objects.filter(policy__customer_id=customer_id), ["description", "decision_reason"]),
        (ClaimEvent.objects.filter(claim__policy__customer_id=customer_id), ["reason", "data"]),
        (PolicyEvent.objects.filter(policy__customer_id=customer_id), ["reason", "data"]),
        (ClaimDocument.objects.filter(claim__policy__customer_id=customer_id), ["filename"]),
        (Policy.objects.filter(customer_id=customer_id), ["cancellation_reason"]),
    ]
    for queryset, fields in targets:
        for obj in queryset.select_for_update(of=("self",)).only("pk", *fields).order_by("pk"):
            changed = []
            for name in fields:
                value = getattr(obj, name)
                new = _fit(chain.scrub(value, needles, keep=keep), obj._meta.get_field(name).max_length)
                if new != value:
                    setattr(obj, name, new)
                    changed.append(name)
            if changed:
                obj.save(update_fields=changed)
                scrubbed.setdefault(obj._meta.label_lower, []).append(str(obj.pk))
    return scrubbed


def _fit(value: Any, max_length: int | None) -> Any:
    # "[erased]" is longer than a short needle: a scrubbed text must still fit its column.
    if isinstance(value, str) and max_length and len(value) > max_length:
        return value[:max_length]
    return value


def _related_objects(customer: Customer) -> list[tuple[type, list[str]]]:
    """The customer and everything attached to them (policies, claims, documents, events), as the
    (model, pks) whose audit entries and admin log entries carry the person's values."""
    return [
        (Customer, [str(customer.pk)]),
        (Policy, [str(pk) for pk in Policy.objects.filter(customer_id=customer.pk).values_list("pk", flat=True)]),
        (Claim, [str(pk) for pk in Claim.objects.filter(policy__customer_id=customer.pk)
                 .values_list("pk", flat=True)]),
        (ClaimDocument, [str(pk) for pk in ClaimDocument.objects.filter(claim__policy__customer_id=customer.pk)
                         .values_list("pk", flat=True)]),
        (PolicyEvent, [str(pk) for pk in PolicyEvent.objects.filter(policy__customer_id=customer.pk)
                       .values_list("pk", flat=True)]),
        (ClaimEvent, [str(pk) for pk in ClaimEvent.objects.filter(claim__policy__customer_id=customer.pk)
                      .values_list("pk", flat=True)]),
    ]


def _object_condition(related: list[tuple[type, list[str]]], pk_field: str) -> Q:
    condition = Q(pk__in=[])
    for model, pks in related:
        if pks:
            condition |= Q(content_type=ContentType.objects.get_for_model(model), **{f"{pk_field}__in": pks})
    return condition


def _redact_audit_history(customer: Customer, related: list[tuple[type, list[str]]], *, needles: list[str],
                          keep: frozenset[str]) -> dict[str, dict[str, str]]:
    """Redact the person's values in the audit entries of the customer and of everything attached to
    them. Entries are locked in sequence order. Pending entries are sealed first, and the head stays locked
    until the erasure commits, so no sealer chains an entry between its read and its rewrite here."""
    chain.seal_pending()
    customer_ct = ContentType.objects.get_for_model(Customer)
    redactions: dict[str, dict[str, str]] = {}
    entries = (AuditEntry.objects.filter(_object_condition(related, "object_pk")).select_for_update()
               .order_by(F("seq").asc(nulls_last=True), "pk"))
    own = [e for e in entries if e.content_type_id == customer_ct.id]
    others = [e for e in entries if e.content_type_id != customer_ct.id]
    redactions |= chain.redact_entries(own, needles=needles, fields=PERSONAL_FIELDS, object_repr=str(customer),
                                       keep=keep)
    redactions |= chain.redact_entries(others, needles=needles, keep=keep)
    return redactions


def _scrub_admin_log(customer: Customer, related: list[tuple[type, list[str]]], *, needles: list[str],
                     keep: frozenset[str]) -> int:
    """Scrub Django's admin log (`django_admin_log`, not part of the audit chain) for the person's
    records: the object representation and the change message, which names changed fields and the
    representations of inline objects (a document's file name). Returns how many rows changed."""
    customer_ct = ContentType.objects.get_for_model(Customer)
    max_repr = AdminLogEntry._meta.get_field("object_repr").max_length
    changed = 0
    rows = AdminLogEntry.objects.filter(_object_condition(related, "object_id")).select_for_update().order_by("pk")
    for row in rows.only("pk", "content_type_id", "object_id", "object_repr", "change_message"):
        if row.content_type_id == customer_ct.id:
            object_repr = str(customer)
        else:
            object_repr = chain.scrub(row.object_repr, needles, keep=keep)
        message = _scrub_change_message(row.change_message, needles, keep)
        if (object_repr, message) != (row.object_repr, row.change_message):
            AdminLogEntry.objects.filter(pk=row.pk).update(object_repr=_fit(object_repr, max_repr),
                                                           change_message=message)
            changed += 1
    return changed


def _scrub_change_message(message: str, needles: list[str], keep: frozenset[str]) -> str:
    # The admin stores JSON with non-ASCII characters escaped: scrub the decoded structure, so "Zoë" is
    # found as well; a plain-text message (older rows, third-party code) is scrubbed as text.
    try:
        parsed = json.loads(message)
    except (TypeError, ValueError):
        return chain.scrub(message, needles, keep=keep)
    scrubbed = chain.scrub(parsed, needles, keep=keep)
    return message if scrubbed == parsed else json.dumps(scrubbed)


def _scrub_login_attempts(*, needles: list[str]) -> int:
    """Failed staff sign-ins typed with one of the person's e-mails (`LoginAttempt.username`, stored
    lower-cased as typed). The rows are not audited and not append-only (the prune job deletes them), and
    their time, address and outcome stay useful for security: only the name is erased."""
    emails = [needle for needle in needles if "@" in needle]
    if not emails:
        return 0
    return LoginAttempt.objects.filter(username__in=emails).update(username=chain.ERASED)


# --- retention ----------------------------------------------------------------------------------------


def customers_due_for_erasure(*, now: dt.datetime | None = None):
    """Customers past their retention date, not yet erased, with no live policy and no open claim."""
    now = now or timezone.now()
    return (
        Customer.objects.filter(data_retention_date__lt=now, erased_at__isnull=True)
        .exclude(policies__status__in=HOLDING_POLICY_STATUSES)
        .exclude(policies__claims__status__in=HOLDING_CLAIM_STATUSES)
    )


def customers_enforce_retention(*, actor, now: dt.datetime | None = None, batch_size: int = 200) -> int:
    """Erase every customer due under the retention rule, one transaction per customer. A customer who
    gained a hold meanwhile is skipped (the service re-checks under lock). Returns how many were erased."""
    erased = 0
    skipped: set[UUID] = set()
    while True:
        ids = list(
            customers_due_for_erasure(now=now).exclude(pk__in=skipped).order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return erased
        for customer_id in ids:
            try:
                customer_erase(actor=actor, customer_id=customer_id, interface="task",
                               reason="Data retention period ended")
                erased += 1
            except Conflict as exc:
                logger.info("retention erasure skipped: %s", exc.message, extra={"customer_id": str(customer_id)})
                skipped.add(customer_id)


# --- chain checkpoints ----------------------------------------------------------------------------------


def audit_checkpoint_record(*, report) -> None:
    """Remember the head of a chain that just verified intact (see `compliance.chain.verify_chain`)."""
    from compliance.models import AuditCheckpoint

    if report.ok and report.head_seq:
        AuditCheckpoint.objects.create(seq=report.head_seq, entry_hash=report.head_hash, entries=report.entries)


def audit_verification_record(*, report):
    """Record the outcome of a chain verification, intact or broken, for the readiness note and the admin
    (SPEC §5). Only the break's position and kind are kept (`ChainBreak.__str__`), never entry content."""
    from compliance.models import AuditVerification

    return AuditVerification.objects.create(
        ok=report.ok, entries=report.entries, head_seq=report.head_seq, breaks=len(report.breaks),
        first_break=str(report.first_break)[:500] if report.first_break else "",
    )
