"""django-auditlog registration for every domain model and the staff user (SPEC §7.1).

Encrypted fields are masked with `customers.pii.audit_mask`, which writes "[redacted]" and keeps no part
of the value (auditlog's default mask keeps half of it). A staff user's roles and direct permissions are
many-to-many relations: they are registered as `m2m_fields`, so granting or withdrawing a role writes a
chained entry naming the groups added or removed, with its actor.

Because the mask keeps nothing, the trail cannot tell a GDPR erasure what a customer's former phone or
address was. `_keep_former_values` is the encrypted counterpart of the masked diff: hooked next to auditlog's
own receiver (so every path auditlog sees — services, admin, shell — is covered), it keeps each personal
value a save replaces in `compliance.FormerPersonalValue`, for `customer_erase` to search for and delete.
"""

from __future__ import annotations

import datetime as dt

from auditlog.registry import auditlog
from django.apps import apps
from django.conf import settings
from django.db.models.signals import m2m_changed, pre_save

MASK = "customers.pii.audit_mask"
# The customer's fields whose former values an erasure must still be able to find (ssn_hash is derived).
FORMER_VALUE_FIELDS = ("first_name", "last_name", "email", "phone", "date_of_birth", "address", "ssn")
STAFF_M2M_FIELDS = ("groups", "user_permissions")


def register_models() -> None:
    Customer = apps.get_model("customers", "Customer")
    auditlog.register(
        Customer,
        # The masked columns are derived from the encrypted ones (and hold part of them): the trail keeps neither.
        exclude_fields=["updated_at", "phone_masked", "address_masked", "ssn_last4"],
        mask_fields=["phone", "date_of_birth", "address", "ssn", "ssn_hash"],
        mask_callable=MASK,
    )
    pre_save.connect(_keep_former_values, sender=Customer, dispatch_uid="compliance.keep_former_values")
    for label in (
        "policies.Policy",
        "policies.PolicyEvent",
        "claims.Claim",
        "claims.ClaimDocument",
        "claims.ClaimEvent",
        "claims.ReserveChange",
        "claims.ClaimRecovery",
    ):
        auditlog.register(apps.get_model(label), exclude_fields=["updated_at"])
    # A payee's bank account is encrypted at rest: the trail records that it changed, never its value.
    auditlog.register(
        apps.get_model("claims", "ClaimPayment"),
        exclude_fields=["updated_at"],
        mask_fields=["payee_account"],
        mask_callable=MASK,
    )
    User = apps.get_model("accounts", "User")
    auditlog.register(
        User,
        exclude_fields=["updated_at", "last_login"],
        mask_fields=["password"],
        mask_callable=MASK,
        m2m_fields=set(STAFF_M2M_FIELDS),
    )
    for name in STAFF_M2M_FIELDS:
        _record_clears_accurately(User, name)


def _record_clears_accurately(model, field_name: str) -> None:
    """auditlog records `clear()` as the removal of every row of the related table, not of the rows the
    instance had (jazzband/django-auditlog#539): clearing one user's roles would name every role. Put a
    wrapper in place of its receiver for this relation that remembers the linked rows before the clear and
    hands them to auditlog as an ordinary removal afterwards; every other action goes to auditlog as is."""
    relation = getattr(model, field_name)
    through, field = relation.through, relation.field
    logged = auditlog._m2m_signals[model][field_name]
    dispatch_uid = auditlog._m2m_dispatch_uid(m2m_changed, through)
    if not m2m_changed.disconnect(sender=through, dispatch_uid=dispatch_uid):
        raise RuntimeError(f"auditlog's receiver for {model.__name__}.{field_name} was not found")

    def receiver(signal, sender, instance, action, reverse, pk_set, **kwargs):
        cleared = instance.__dict__.setdefault("_audit_m2m_cleared", {})
        if action == "pre_clear":
            own, other = (
                (field.m2m_reverse_field_name(), field.m2m_field_name())
                if reverse
                else (field.m2m_field_name(), field.m2m_reverse_field_name())
            )
            cleared[through] = set(through.objects.filter(**{own: instance.pk}).values_list(other, flat=True))
            return
        if action == "post_clear":
            action, pk_set = "post_remove", cleared.pop(through, set())
        logged(signal, action=action, sender=sender, instance=instance, reverse=reverse, pk_set=pk_set, **kwargs)

    m2m_changed.connect(receiver, sender=through, weak=False, dispatch_uid=dispatch_uid)


def _keep_former_values(sender, instance, raw: bool = False, update_fields=None, **kwargs) -> None:
    """Keep (encrypted) the personal values this save replaces. Not on create, not on a fixture load, not
    for the erasure itself (`erased_at` is set: what it replaces is being erased, not kept)."""
    if raw or instance._state.adding or instance.pk is None or instance.erased_at is not None:
        return
    names = [name for name in FORMER_VALUE_FIELDS if update_fields is None or name in update_fields]
    if not names:
        return
    old = sender.objects.filter(pk=instance.pk).values_list(*names).first()
    if old is None:
        return
    FormerPersonalValue = apps.get_model("compliance", "FormerPersonalValue")
    kept = [
        FormerPersonalValue(
            customer_id=instance.pk, field=name, value=_text(before), encryption_key_id=settings.ENCRYPTION_KEY_ID
        )
        for name, before in zip(names, old, strict=True)
        if before not in (None, "") and before != getattr(instance, name)
    ]
    if kept:
        FormerPersonalValue.objects.bulk_create(kept)


def _text(value: object) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)
