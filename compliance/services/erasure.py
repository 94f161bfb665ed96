"""GDPR erasure (SPEC §7.2): anonymise a person for good, keep their policies and claims.

Legal hold (what blocks an erasure): a policy that is still a live contract — ``pending`` (about to start),
``active`` or ``inactive`` (suspended, may be reinstated) — or an open claim — ``pending``, ``processing``
or ``approved`` (approved but not yet paid) — or a claim payment not yet issued (requested or approved).
Cancelled and expired policies and denied, paid or closed claims do not hold: those financial records are kept,
only the person's identity is removed.

This module decides what identifies the person (`_needles`) and records the erasure; the rows of the other apps
are rewritten by their own services: `customers.services.customer_anonymise`, `claims.erasure`,
`policies.erasure`. It reads every app (compliance may) and writes only the audit trail, the admin's log and the
sign-in attempts.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from typing import TYPE_CHECKING, Any
from uuid import UUID

from auditlog.context import disable_auditlog
from django.contrib.admin.models import LogEntry as AdminLogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from claims.erasure import claims_anonymise_payees, claims_policyholder_payees, claims_scrub_personal_text
from claims.models import (
    PAYMENT_UNISSUED,
    Claim,
    ClaimDocument,
    ClaimEvent,
    ClaimPayment,
    ClaimRecovery,
    ReserveChange,
)
from compliance import chain
from compliance.models import AuditEntry, FormerPersonalValue
from compliance.services.pii_access import _check_interface
from customers import pii
from customers.models import Customer
from customers.services import ANONYMISED_FIELDS, ERASED_NAME, customer_anonymise
from policies.erasure import policies_scrub_personal_text
from policies.models import Policy, PolicyEvent
from vanguard.accounts.permissions import require
from vanguard.api_support.models import LoginAttempt
from vanguard.core.erasure import fit_column
from vanguard.core.errors import Conflict

if TYPE_CHECKING:
    from vanguard.accounts.models import User

logger = logging.getLogger(__name__)

HOLDING_POLICY_STATUSES = frozenset({Policy.Status.PENDING, Policy.Status.ACTIVE, Policy.Status.INACTIVE})
HOLDING_CLAIM_STATUSES = frozenset(Claim.OPEN_STATUSES)
# Customer fields that hold the person's identity; their values are erased from the audit history.
PERSONAL_FIELDS = frozenset(ANONYMISED_FIELDS)


# --- holds ----------------------------------------------------------------------------------------------


def customer_legal_hold(*, customer_id: UUID) -> str | None:
    """Why this customer's data must be kept (an active policy or an open claim), or None."""
    policies = list(
        Policy.objects.filter(customer_id=customer_id, status__in=HOLDING_POLICY_STATUSES)
        .order_by("policy_number")
        .values_list("policy_number", "status")
    )
    claims = list(
        Claim.objects.filter(policy__customer_id=customer_id, status__in=HOLDING_CLAIM_STATUSES)
        .order_by("claim_number")
        .values_list("claim_number", "status")
    )
    # A payment not yet issued is money still to be sent to someone (perhaps the person): it holds too.
    payments = list(
        ClaimPayment.objects.filter(claim__policy__customer_id=customer_id, status__in=PAYMENT_UNISSUED)
        .order_by("payment_number")
        .values_list("payment_number", "status")
    )
    if not policies and not claims and not payments:
        return None
    reasons = []
    if policies:
        reasons.append(
            f"{len(policies)} live polic{'y' if len(policies) == 1 else 'ies'} ("
            + ", ".join(f"{number} {status}" for number, status in policies)
            + ")"
        )
    if claims:
        reasons.append(
            f"{len(claims)} open claim{'' if len(claims) == 1 else 's'} ("
            + ", ".join(f"{number} {status}" for number, status in claims)
            + ")"
        )
    if payments:
        reasons.append(
            f"{len(payments)} payment{'' if len(payments) == 1 else 's'} awaiting issue ("
            + ", ".join(f"{number} {status}" for number, status in payments)
            + ")"
        )
    return "Legal hold: the customer has " + " and ".join(reasons) + "; their data cannot be erased yet."


# --- erasure ----------------------------------------------------------------------------------------------


# Words that do not identify anyone on their own: name particles, and the generic words of an address line.
NAME_PARTICLES = frozenset(
    {"van", "von", "der", "den", "del", "della", "des", "dos", "das", "bin", "ibn", "bint", "mac", "the"}
)
ADDRESS_WORDS = frozenset(
    {
        "flat",
        "apartment",
        "apt",
        "unit",
        "suite",
        "floor",
        "room",
        "block",
        "building",
        "house",
        "the",
        "and",
        "street",
        "road",
        "lane",
        "avenue",
        "ave",
        "drive",
        "close",
        "court",
        "way",
        "place",
        "crescent",
        "terrace",
        "gardens",
        "square",
        "hill",
        "park",
        "grove",
        "row",
        "walk",
        "mews",
        "rise",
        "view",
        "north",
        "south",
        "east",
        "west",
        "upper",
        "lower",
        "rd",
        "st",
        "ln",
        "dr",
        "ct",
        "pl",
    }
)
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


def _needles(customer: Customer, *, extra: set[str] | frozenset[str] = frozenset()) -> list[str]:
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
    - `extra`: further whole values known to name the person (the payee names they were paid under).
    """
    values = _person_values(customer)
    found: set[str] = {value.strip() for value in extra if value and value.strip() != ERASED_NAME}
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
        for model in (
            Customer,
            Policy,
            PolicyEvent,
            Claim,
            ClaimEvent,
            ClaimDocument,
            ReserveChange,
            ClaimPayment,
            ClaimRecovery,
        )
        for f in model._meta.concrete_fields
        if f.choices
        for value, _ in f.flatchoices
    )


@transaction.atomic
def customer_erase(*, actor: User, customer_id: UUID, interface: str, reason: str = "") -> Customer:
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
    needles, keep = _needles(customer, extra=claims_policyholder_payees(customer_id=customer.pk)), _choice_values()
    now = timezone.now()
    before = {name: getattr(customer, name) for name in PERSONAL_FIELDS}
    # The erasure writes its own audit entry below (with the redaction record); auditlog's automatic
    # entries would put the erased values into the trail as "old" values.
    with disable_auditlog():
        changed = customer_anonymise(customer=customer, erased_at=now)
        payees = claims_anonymise_payees(customer_id=customer.pk)
        scrubbed = _scrub_related(customer_id=customer.pk, needles=needles, keep=keep)
    if payees:
        scrubbed["claims.claimpayment"] = sorted({*scrubbed.get("claims.claimpayment", []), *payees})
    related = _related_objects(customer)
    redactions = _redact_audit_history(customer, related, needles=needles, keep=keep)
    admin_log = _scrub_admin_log(customer, related, needles=needles, keep=keep)
    login_attempts = _scrub_login_attempts(needles=needles)
    former_values, _ = FormerPersonalValue.objects.filter(customer_id=customer.pk).delete()
    AuditEntry.objects.log_create(
        customer,
        action=AuditEntry.Action.UPDATE,
        changes={
            name: [chain.ERASED if before[name] not in ("", None) else before[name], _plain(getattr(customer, name))]
            for name in sorted(changed)
        }
        | {"erased_at": [None, now.isoformat()]},
        actor=actor if getattr(actor, "pk", None) else None,
        actor_email=getattr(actor, "email", None),
        additional_data={
            # The reason is free text typed by staff: it may name the person too.
            "gdpr_erasure": {
                "interface": interface,
                "reason": chain.scrub(reason or "", needles, keep=keep),
                "scrubbed": scrubbed,
                "redacted_entries": len(redactions),
                "admin_log_entries": admin_log,
                "login_attempts": login_attempts,
                "former_values": former_values,
            },
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
    """Remove the person's values from free text kept with their claims, policies and events (descriptions,
    reasons, event data, document names), through the services those apps keep for the erasure. The records
    stay; only the identifying text goes."""
    if not needles:
        return {}

    def scrub(value: Any) -> Any:
        return chain.scrub(value, needles, keep=keep)

    return {
        **claims_scrub_personal_text(customer_id=customer_id, scrub=scrub),
        **policies_scrub_personal_text(customer_id=customer_id, scrub=scrub),
    }


def _related_objects(customer: Customer) -> list[tuple[type, list[str]]]:
    """The customer and everything attached to them (policies, claims, documents, events), as the
    (model, pks) whose audit entries and admin log entries carry the person's values."""
    return [
        (Customer, [str(customer.pk)]),
        (Policy, [str(pk) for pk in Policy.objects.filter(customer_id=customer.pk).values_list("pk", flat=True)]),
        (Claim, [str(pk) for pk in Claim.objects.filter(policy__customer_id=customer.pk).values_list("pk", flat=True)]),
        (
            ClaimDocument,
            [
                str(pk)
                for pk in ClaimDocument.objects.filter(claim__policy__customer_id=customer.pk).values_list(
                    "pk", flat=True
                )
            ],
        ),
        (
            PolicyEvent,
            [
                str(pk)
                for pk in PolicyEvent.objects.filter(policy__customer_id=customer.pk).values_list("pk", flat=True)
            ],
        ),
        (
            ClaimEvent,
            [
                str(pk)
                for pk in ClaimEvent.objects.filter(claim__policy__customer_id=customer.pk).values_list("pk", flat=True)
            ],
        ),
        # The claims' money (SPEC §10): payees and reasons are in these rows' audit history.
        *(
            (
                model,
                [
                    str(pk)
                    for pk in model.objects.filter(claim__policy__customer_id=customer.pk).values_list("pk", flat=True)
                ],
            )
            for model in (ReserveChange, ClaimPayment, ClaimRecovery)
        ),
    ]


def _object_condition(related: list[tuple[type, list[str]]], pk_field: str) -> Q:
    condition = Q(pk__in=[])
    for model, pks in related:
        if pks:
            condition |= Q(content_type=ContentType.objects.get_for_model(model), **{f"{pk_field}__in": pks})
    return condition


def _redact_audit_history(
    customer: Customer, related: list[tuple[type, list[str]]], *, needles: list[str], keep: frozenset[str]
) -> dict[str, dict[str, str]]:
    """Redact the person's values in the audit entries of the customer and of everything attached to
    them. Entries are locked in sequence order. Pending entries are sealed first, and the head stays locked
    until the erasure commits, so no sealer chains an entry between its read and its rewrite here."""
    chain.seal_pending()
    customer_ct = ContentType.objects.get_for_model(Customer)
    redactions: dict[str, dict[str, str]] = {}
    entries = (
        AuditEntry.objects.filter(_object_condition(related, "object_pk"))
        .select_for_update()
        .order_by(F("seq").asc(nulls_last=True), "pk")
    )
    own = [e for e in entries if e.content_type_id == customer_ct.id]
    others = [e for e in entries if e.content_type_id != customer_ct.id]
    redactions |= chain.redact_entries(
        own, needles=needles, fields=PERSONAL_FIELDS, object_repr=str(customer), keep=keep
    )
    redactions |= chain.redact_entries(others, needles=needles, keep=keep)
    return redactions


def _scrub_admin_log(
    customer: Customer, related: list[tuple[type, list[str]]], *, needles: list[str], keep: frozenset[str]
) -> int:
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
            AdminLogEntry.objects.filter(pk=row.pk).update(
                object_repr=fit_column(object_repr, max_repr), change_message=message
            )
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
