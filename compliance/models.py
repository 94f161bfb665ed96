"""Compliance models: the tamper-evident audit trail (SPEC §7.1) and the PII access log (§7.3).

`AuditEntry` is swapped in for django-auditlog's LogEntry. An entry is written with a pending seal and
chained shortly after its commit: it then takes the next sequence number, links to the previous entry's hash
and carries its own (`compliance.chain` explains the hash, the sealing and how GDPR redaction keeps it
verifiable). Entries are never
updated through the ORM: `save()` on an existing entry raises; the one sanctioned rewrite is the GDPR
redaction in `compliance.chain.redact_entries`, which records itself as a new chained entry.
"""

from __future__ import annotations

import secrets

from auditlog.models import AbstractLogEntry
from django.conf import settings
from django.db import models, router, transaction
from django_cryptography.fields import encrypt


def _new_salt() -> str:
    return secrets.token_hex(16)


class AuditEntryImmutable(Exception):
    """An audit entry was about to be changed or deleted through the ORM."""


class AuditEntry(AbstractLogEntry):
    # History outlives staff accounts and content types: a user with audit history is deactivated, never
    # deleted (SET_NULL would rewrite sealed rows and break the chain).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        blank=True,
        null=True,
        related_name="+",
        verbose_name="actor",
    )
    # Indexes: every one is written twice per entry (the insert, then the sealing UPDATE, which changes `seq` and
    # so is never HOT), so only those a query reads. auditlog's own `db_index` on the content type (the prefix of
    # compliance_audit_obj_idx), `object_id` (our keys are UUIDs: always NULL), `action` (four values) and the
    # `LIKE` twins PostgreSQL gets for indexed text columns (searches here are exact) are dropped;
    # `object_pk` and `cid` keep a plain b-tree for the admin's exact searches.
    content_type = models.ForeignKey(
        "contenttypes.ContentType",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="content type",
        db_index=False,
    )
    object_pk = models.CharField(max_length=255, verbose_name="object pk")
    object_id = models.BigIntegerField(blank=True, null=True, verbose_name="object id")
    action = models.PositiveSmallIntegerField(choices=AbstractLogEntry.Action.choices, verbose_name="action")
    cid = models.CharField(max_length=255, blank=True, null=True, verbose_name="Correlation ID")
    seq = models.BigIntegerField("sequence", null=True, blank=True, editable=False)
    # Random per entry and part of the hashed content; wiped by GDPR redaction so the recorded digest of the
    # original content cannot be brute-forced back into the erased values.
    salt = models.CharField(max_length=32, blank=True, default=_new_salt, editable=False)
    prev_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    entry_hash = models.CharField(max_length=64, blank=True, default="", editable=False)

    class Meta(AbstractLogEntry.Meta):
        verbose_name = "audit entry"
        verbose_name_plural = "audit trail"
        # Newest first, the entries still waiting for their sequence number (NULL) at the top.
        ordering = [models.F("seq").desc(nulls_first=True), "-id"]
        indexes = [
            models.Index(fields=["content_type", "object_pk"], name="compliance_audit_obj_idx"),
            models.Index(fields=["object_pk"], name="compliance_audit_object_pk_idx"),
            models.Index(fields=["cid"], name="compliance_audit_cid_idx"),
            # The sealer's and the verifier's "unsealed entries in id order".
            models.Index(fields=["id"], condition=models.Q(seq__isnull=True), name="compliance_audit_unsealed_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["seq"], name="compliance_auditentry_seq_unique"),
            # A copy of a genuine unsealed row (same content, same pending seal) would otherwise be chained as a
            # second entry: its random salt gives it away (compliance.chain, "replay"). Redacted rows have none.
            models.UniqueConstraint(
                fields=["salt"], condition=~models.Q(salt=""), name="compliance_auditentry_salt_unique"
            ),
        ]

    def __str__(self) -> str:
        where = f"#{self.seq}" if self.seq is not None else "(unsealed)"
        return f"{where} {self.get_action_display()} {self.object_repr}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AuditEntryImmutable("Audit entries are append-only; they cannot be changed.")
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        # The entry's seal is settled with its transaction (sealed after commit, or under the head lock held
        # until commit in inline mode), so the insert needs a transaction even when the caller autocommits.
        with transaction.atomic(using=using, savepoint=False):
            super().save(*args, **kwargs)

    def _save_table(self, raw=False, cls=None, force_insert=False, force_update=False, using=None, update_fields=None):
        # Stamping happens here rather than in save(): this is the first point after the pre_save receivers
        # through which auditlog's context sets actor and remote address, and those are part of the hash.
        from compliance import chain

        if self._state.adding and not raw:
            chain.prepare(self, using=using)
        return super()._save_table(raw, cls, force_insert, force_update, using, update_fields)

    def delete(self, *args, **kwargs):
        raise AuditEntryImmutable("Audit entries are append-only; they cannot be deleted.")


class PIIAccessLog(models.Model):
    """One row each time a user saw a customer's PII in clear (SPEC §7.3): who, whom, which fields, when,
    from where, through which interface. Append-only; browsable read-only by compliance officers."""

    class Interface(models.TextChoices):
        ADMIN = "admin", "Admin"
        API = "api", "API"
        EXPORT = "export", "Export"
        TASK = "task", "Task"
        COMMAND = "command", "Command"

    id = models.BigAutoField(primary_key=True)
    # Indexed by compliance_pii_actor_idx and compliance_pii_customer_idx, which lead with them: no second index
    # for every read to write.
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False)
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+", db_index=False)
    fields = models.JSONField(default=list, help_text="Names of the fields shown in clear.")
    interface = models.CharField(max_length=16, choices=Interface.choices)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "PII access"
        verbose_name_plural = "PII access log"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(interface__in=["admin", "api", "export", "task", "command"]),
                name="compliance_piiaccesslog_interface_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "created_at"], name="compliance_pii_customer_idx"),
            models.Index(fields=["actor", "created_at"], name="compliance_pii_actor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.interface} access at {self.created_at:%Y-%m-%d %H:%M}"


class AuditCheckpoint(models.Model):
    """The chain head as last verified by `verify_audit_chain`: a later run checks that this entry still
    exists with the same hash, so truncating the tail of the chain is detected too."""

    id = models.BigAutoField(primary_key=True)
    seq = models.BigIntegerField()
    entry_hash = models.CharField(max_length=64)
    entries = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        get_latest_by = "created_at"

    def __str__(self) -> str:
        return f"checkpoint #{self.seq}"


class AuditVerification(models.Model):
    """One run of the audit-chain verification (the daily job or the command), kept so that a break found
    at 04:00 stays visible afterwards: /health/ready carries the last outcome as a note (SPEC §5) and the
    admin lists the runs. Holds counts and the first break's position only, never entry content."""

    id = models.BigAutoField(primary_key=True)
    ok = models.BooleanField()
    entries = models.BigIntegerField()
    head_seq = models.BigIntegerField(null=True, blank=True)
    breaks = models.PositiveIntegerField(default=0)
    first_break = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        get_latest_by = "created_at"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ok=True, breaks=0) | models.Q(ok=False, breaks__gt=0),
                name="compliance_auditverification_ok_means_no_breaks",
            ),
        ]

    def __str__(self) -> str:
        return f"{'intact' if self.ok else 'BROKEN'} at {self.created_at:%Y-%m-%d %H:%M}"


class FormerPersonalValue(models.Model):
    """A value a customer's personal field held before it was changed, kept encrypted for their erasure.

    The audit trail masks encrypted fields as "[redacted]", so it cannot tell an erasure what a former phone
    or address was, yet such a value may still sit in a claim description or an event. Each change of a
    personal field (`compliance.audit`) keeps the value it replaced here; `customer_erase` searches for
    every one of them and then deletes the rows. Encrypted like the customer's own fields (and rotated with
    them by `rotate_encryption_key`); never audited, shown or exported in clear except in the subject-access
    export.
    """

    id = models.BigAutoField(primary_key=True)
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    field = models.CharField(max_length=32)
    value = encrypt(models.TextField())
    encryption_key_id = models.CharField(max_length=32, blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["customer", "created_at"], name="compliance_former_cust_idx")]

    def __str__(self) -> str:
        return f"former {self.field} of {self.customer_id}"
