"""Customers (SPEC §2.2): contact PII encrypted at rest, SSN with a keyed blind index."""

from __future__ import annotations

import uuid

from django.core.validators import MaxLengthValidator, MinLengthValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django_cryptography.fields import encrypt

from customers import pii

PHONE_VALIDATOR = RegexValidator(r"^\+?[1-9]\d{1,14}$", "Enter a phone number in E.164 format, e.g. +442071234567.")
NAME_VALIDATORS = [MinLengthValidator(1), MaxLengthValidator(100)]
# Named once: customers.services reports its violation (and only its) as a duplicate e-mail.
EMAIL_UNIQUE_CONSTRAINT = "customers_customer_email_ci_unique"


class Customer(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254, help_text="Stored lower-case; unique regardless of case.")
    first_name = models.CharField(max_length=100, validators=NAME_VALIDATORS)
    last_name = models.CharField(max_length=100, validators=NAME_VALIDATORS)
    phone = encrypt(
        models.CharField(
            max_length=16,
            blank=True,
            default="",
            validators=[PHONE_VALIDATOR],
            help_text="International format: + and the country code, digits only, e.g. +442071234567.",
        )
    )
    date_of_birth = encrypt(models.DateField(null=True, blank=True, validators=[pii.validate_not_future]))
    address = encrypt(models.TextField(blank=True, default="", max_length=500))
    ssn = encrypt(
        models.CharField(
            "national id (SSN)",
            max_length=32,
            blank=True,
            default="",
            validators=[pii.validate_national_id],
            help_text=pii.NATIONAL_ID_HELP,
        )
    )
    ssn_hash = models.CharField("national id blind index", max_length=64, blank=True, default="", editable=False)
    # What every list shows of the encrypted contact fields, kept beside them in clear so that a page of fifty
    # customers decrypts nothing (three Fernet decryptions a row were two thirds of a list's cost). They hold only
    # what any viewer of a list sees (pii.mask_phone, pii.mask_text, the national id's last four), are derived in
    # save() from the encrypted values, are left out of the audit trail (compliance.audit) and are cleared with
    # them by an erasure.
    phone_masked = models.CharField("phone (masked)", max_length=24, blank=True, default="", editable=False)
    address_masked = models.CharField("address (masked)", max_length=8, blank=True, default="", editable=False)
    ssn_last4 = models.CharField("national id, last four", max_length=4, blank=True, default="", editable=False)
    pii_encrypted = models.BooleanField("PII encrypted", default=True, editable=False)
    encryption_key_id = models.CharField("encryption key", max_length=32, blank=True, default="", editable=False)
    gdpr_consent = models.BooleanField("GDPR consent", default=False)
    gdpr_consent_date = models.DateTimeField("consent given at", null=True, blank=True)
    gdpr_consent_withdrawn_at = models.DateTimeField("consent withdrawn at", null=True, blank=True)
    data_retention_date = models.DateTimeField("keep data until", null=True, blank=True)
    erased_at = models.DateTimeField("erased at", null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)  # indexed with id: Meta.indexes
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("view_pii", "Can view contact PII (phone, birth date, address) in clear"),
            ("view_ssn", "Can view the full SSN"),
            ("export_customer", "Can export a customer's personal data (GDPR)"),
            ("erase_customer", "Can erase a customer's personal data (GDPR)"),
        ]
        constraints = [
            models.UniqueConstraint(Lower("email"), name=EMAIL_UNIQUE_CONSTRAINT),
            models.CheckConstraint(condition=models.Q(email=Lower("email")), name="customers_customer_email_lowercase"),
            models.CheckConstraint(
                condition=~models.Q(first_name="") & ~models.Q(last_name=""), name="customers_customer_names_present"
            ),
            models.CheckConstraint(
                condition=models.Q(gdpr_consent=False) | models.Q(gdpr_consent_date__isnull=False),
                name="customers_customer_consent_dated",
            ),
        ]
        indexes = [
            # Exact lookups only: a plain b-tree (db_index would add a LIKE twin every insert writes too).
            models.Index(fields=["ssn_hash"], name="customers_ssn_hash_idx"),
            # The default order of every list (-created_at, -id), whole: the admin's page and the API's keyset
            # cursor walk it without sorting, even where many rows share one created_at.
            models.Index(fields=["created_at", "id"], name="customers_created_id_idx"),
            models.Index(fields=["gdpr_consent", "data_retention_date"], name="customers_consent_ret_idx"),
            # The retention job's scan (compliance.services.customers_due_for_erasure): live rows only.
            models.Index(
                fields=["data_retention_date"],
                condition=models.Q(erased_at__isnull=True),
                name="customers_retention_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} <{self.email}>"

    def save(self, *args, **kwargs) -> None:
        self.refresh_masks()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            sources = set(update_fields) & MASKED_FROM.keys()
            kwargs["update_fields"] = {*update_fields, *(MASKED_FROM[name] for name in sources)}
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None

    @property
    def ssn_masked(self) -> str:
        return f"***-**-{self.ssn_last4}" if self.ssn_last4 else ""

    def refresh_masks(self) -> None:
        """Derive the masked columns from the encrypted fields' current values."""
        self.phone_masked = pii.mask_phone(self.phone)
        self.address_masked = pii.mask_text(self.address)
        self.ssn_last4 = pii.ssn_last4(self.ssn) or ""


# Each encrypted contact field and the plain column that holds its masked form.
MASKED_FROM = {"phone": "phone_masked", "address": "address_masked", "ssn": "ssn_last4"}
