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

import contextlib
import datetime as dt
from collections.abc import Iterator
from functools import partial
from typing import Any

from auditlog.context import _set_extra_data, auditlog_value
from auditlog.registry import auditlog
from django.apps import apps
from django.conf import settings
from django.db.models.signals import m2m_changed, pre_save

MASK = "customers.pii.audit_mask"
# The customer's fields whose former values an erasure must still be able to find (ssn_hash is derived).
FORMER_VALUE_FIELDS = ("first_name", "last_name", "email", "phone", "date_of_birth", "address", "ssn")
STAFF_M2M_FIELDS = ("groups", "user_permissions")


# auditlog's `set_extra_data` connects a pre_save receiver for each context it opens and disconnects it at the
# end: per request, two trips through the signal's lock and a flush of its receiver cache, and while N requests
# are in flight every audit entry calls N receivers of which all but one ignore it. `audit_context` instead
# only sets auditlog's context variable, with a fixed dispatch id that the one receiver connected at start-up
# (`connect_context_receiver`) recognises; auditlog's own set_actor/set_extra_data still work beside it, each
# with its own receiver and id. Relies on auditlog's `auditlog_value` and `_set_extra_data` (pinned; see
# docs/architecture.md).
CONTEXT_DUID = ("vanguard", "audit_context")


@contextlib.contextmanager
def audit_context(*, actor: Any, remote_addr: str | None) -> Iterator[dict]:
    """Attribute the audit entries written inside the block to `actor` and `remote_addr` (a request, a job, a
    command). The dict is the live context: the API's token auth names the actor in it once it is known."""
    context = {"actor": actor, "remote_addr": remote_addr, "signal_duid": CONTEXT_DUID}
    token = auditlog_value.set(context)
    try:
        yield context
    finally:
        auditlog_value.reset(token)


def connect_context_receiver() -> None:
    from auditlog import get_logentry_model

    pre_save.connect(
        partial(_set_extra_data, signal_duid=CONTEXT_DUID),
        sender=get_logentry_model(),
        dispatch_uid="vanguard.audit_context",
        weak=False,
    )


def _register(model, **options) -> None:
    """auditlog.register, tracking the row's own columns only. By default auditlog also walks every reverse
    relation (a claim's events, payments, documents) and stores ``"claims.ClaimEvent.None"`` for each in every
    creation and deletion entry: noise in the trail, and a related manager built per relation per entry."""
    auditlog.register(model, include_fields=[f.name for f in model._meta.concrete_fields], **options)


def register_models() -> None:
    Customer = apps.get_model("customers", "Customer")
    _register(
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
        _register(apps.get_model(label), exclude_fields=["updated_at"])
    # A payee's bank account is encrypted at rest: the trail records that it changed, never its value.
    _register(
        apps.get_model("claims", "ClaimPayment"),
        exclude_fields=["updated_at"],
        mask_fields=["payee_account"],
        mask_callable=MASK,
    )
    User = apps.get_model("accounts", "User")
    _register(
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
