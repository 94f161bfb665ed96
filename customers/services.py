"""Every write to customers (SPEC §2.2, §7.2). Interfaces call these; they never save models themselves."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_cryptography.fields import EncryptedMixin

from customers import pii
from customers.models import EMAIL_UNIQUE_CONSTRAINT, Customer
from vanguard.accounts.permissions import require
from vanguard.core.emails import normalise_email
from vanguard.core.errors import BusinessRuleViolation, Conflict

if TYPE_CHECKING:
    from vanguard.accounts.models import User

UPDATABLE_FIELDS = frozenset({"first_name", "last_name", "phone", "address", "gdpr_consent", "date_of_birth", "ssn"})


def _validate_birth_date(value: dt.date | None) -> None:
    if value and value > timezone.localdate():
        raise ValidationError({"date_of_birth": ["The date of birth cannot be in the future."]})


def _save(customer: Customer, *, update_fields: list[str] | None = None) -> None:
    """full_clean for the friendly message, the database constraint for the race (duplicate email → 409).

    On an update only the changed fields are validated: a value stored before a format rule existed (a national
    id of "12") must not block an unrelated change, nor be reported to someone who cannot see or fix it."""
    exclude = None
    if update_fields is not None:
        exclude = [f.name for f in customer._meta.concrete_fields if f.name not in update_fields]
    # The constraints are the database's to check, on save: the unique e-mail's query here would race with a
    # concurrent create anyway, and the refusal below is the one that counts.
    customer.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    try:
        # Every caller holds its own transaction.atomic, which rolls the refusal back: a savepoint here would only
        # cost two round trips. savepoint=False still marks the transaction for rollback on the error.
        with transaction.atomic(savepoint=False):
            customer.save(update_fields=update_fields)
    except IntegrityError as exc:
        # By the violated constraint's name (psycopg's diagnostics), not by "email" anywhere in the message: the
        # lower-case check names the e-mail too, and is no duplicate.
        if getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None) == EMAIL_UNIQUE_CONSTRAINT:
            raise Conflict("A customer with this email address already exists.", field="email") from exc
        raise


@transaction.atomic
def customer_create(
    *,
    actor: User,
    email: str,
    first_name: str,
    last_name: str,
    gdpr_consent: bool,
    phone: str = "",
    date_of_birth: dt.date | None = None,
    address: str = "",
    ssn: str = "",
) -> Customer:
    """Create a customer. Consent is required (400); a duplicate email, in any case or look-alike form
    (vanguard.core.emails.normalise_email), is a 409.

    Sets the consent date and the retention date (consent + DATA_RETENTION_DAYS) and the SSN blind index.
    """
    require(actor, "customers.add_customer", "create customers")
    if not gdpr_consent:
        raise BusinessRuleViolation("GDPR consent is required to create a customer.", field="gdpr_consent")
    _validate_birth_date(date_of_birth)
    now = timezone.now()
    customer = Customer(
        email=normalise_email(email),
        first_name=(first_name or "").strip(),
        last_name=(last_name or "").strip(),
        phone=phone or "",
        date_of_birth=date_of_birth,
        address=address or "",
        ssn=(ssn or "").strip(),
        ssn_hash=pii.ssn_hash(ssn),
        gdpr_consent=True,
        gdpr_consent_date=now,
        data_retention_date=now + timedelta(days=settings.DATA_RETENTION_DAYS),
        encryption_key_id=settings.ENCRYPTION_KEY_ID,
    )
    _save(customer)
    return customer


@transaction.atomic
def customer_update(*, actor: User, customer_id: UUID, **changes) -> Customer:
    """Change a customer's names, contact data or consent. An erased customer is read-only (409).

    Withdrawing consent records the withdrawal time; giving it again restarts the retention clock.
    Returns the customer unchanged when nothing differs.
    """
    require(actor, "customers.change_customer", "change customers")
    unknown = set(changes) - UPDATABLE_FIELDS
    if unknown:
        raise ValidationError({name: ["This field cannot be changed."] for name in sorted(unknown)})
    customer = Customer.objects.select_for_update(no_key=True).get(pk=customer_id)
    if customer.is_erased:
        raise Conflict("This customer's personal data was erased; the record is read-only.")
    if "date_of_birth" in changes:
        _validate_birth_date(changes["date_of_birth"])
    changed: list[str] = []
    for name, value in changes.items():
        if name in {"first_name", "last_name", "ssn"}:
            value = (value or "").strip()
        if name in {"phone", "address", "ssn"}:
            value = value or ""
        if getattr(customer, name) != value:
            setattr(customer, name, value)
            changed.append(name)
    if "ssn" in changed:
        customer.ssn_hash = pii.ssn_hash(customer.ssn)
        changed.append("ssn_hash")
    if "gdpr_consent" in changed:
        now = timezone.now()
        if customer.gdpr_consent:
            customer.gdpr_consent_date = now
            customer.gdpr_consent_withdrawn_at = None
            customer.data_retention_date = now + timedelta(days=settings.DATA_RETENTION_DAYS)
            changed += ["gdpr_consent_date", "gdpr_consent_withdrawn_at", "data_retention_date"]
        else:
            # Withdrawal: the consent date stays as the record of when it was given.
            customer.gdpr_consent_withdrawn_at = now
            changed.append("gdpr_consent_withdrawn_at")
    if not changed:
        return customer
    _save(customer, update_fields=[*changed, "updated_at"])
    return customer


# --- GDPR erasure -------------------------------------------------------------------------------------------------

# What an erased customer is called: the row stays, as the holder of the policies and claims that are kept.
ERASED_NAME = "Erased"
# The fields that hold the person's identity, all replaced by an erasure.
ANONYMISED_FIELDS = ("first_name", "last_name", "email", "phone", "date_of_birth", "address", "ssn", "ssn_hash")


def customer_anonymise(*, customer: Customer, erased_at: dt.datetime) -> list[str]:
    """Remove the person's identity from a customer row, for the GDPR erasure only
    (`compliance.services.erasure.customer_erase`, which has locked this row FOR UPDATE, checked the permission
    and the legal hold, and records the erasure in the audit trail itself, with auditlog disabled around this
    call). Names → "Erased", email → ``erased-<id>@erased.invalid``, phone, birth date, address, SSN and its
    blind index cleared, `erased_at` set. Takes the locked instance rather than an id: the erasure worked out
    what identifies the person from exactly this state. Returns the anonymised fields whose value changed."""
    before = {name: getattr(customer, name) for name in ANONYMISED_FIELDS}
    customer.first_name = customer.last_name = ERASED_NAME
    customer.email = f"erased-{customer.pk}@erased.invalid"
    customer.phone = customer.address = customer.ssn = customer.ssn_hash = ""
    customer.date_of_birth = None
    customer.erased_at = erased_at
    # The row is stamped with the current key id, so every encrypted field is rewritten under the current
    # key, the ones already empty included: an empty value is still a ciphertext, and one left under the
    # old key on a row marked with the new id is skipped by a resumed rotation and fails its final check.
    # (Leaving the old id instead would be correct too, but would record a key the row no longer uses.)
    customer.encryption_key_id = settings.ENCRYPTION_KEY_ID
    encrypted = [f.name for f in Customer._meta.concrete_fields if isinstance(f, EncryptedMixin)]
    changed = [name for name in ANONYMISED_FIELDS if getattr(customer, name) != before[name]]
    # The database checks the constraints on save; validating them here too would only add the unique e-mail's
    # query (the erased address is unique by its id).
    customer.full_clean(validate_unique=False, validate_constraints=False)
    customer.save(update_fields=sorted({*changed, *encrypted, "erased_at", "encryption_key_id", "updated_at"}))
    return changed
