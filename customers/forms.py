"""Admin forms for customers: every save goes through customers.services."""

from __future__ import annotations

from django import forms

from customers import services
from customers.models import Customer
from vanguard.core.emails import NormalisedEmailField
from vanguard.forms import ServiceModelForm, TransitionForm

EDITABLE_FIELDS = ["first_name", "last_name", "email", "phone", "date_of_birth", "address", "ssn", "gdpr_consent"]


class CustomerAdminForm(ServiceModelForm):
    """Add calls customer_create; change calls customer_update with only the fields that changed.

    The admin builds this form with exactly the fields the user may see in clear (see CustomerAdmin.
    get_fieldsets): a field left out cannot be read through the form, and a value posted for it is
    ignored, so a user without `customers.view_ssn` can neither read nor overwrite the SSN.
    """

    class Meta:
        model = Customer
        fields = EDITABLE_FIELDS
        # Look-alike addresses (zero-width, full-width...) are one address: normalised before validation.
        field_classes = {"email": NormalisedEmailField}

    def call_service(self) -> Customer:
        data = self.cleaned_data
        if self.instance._state.adding:
            return services.customer_create(
                actor=self.actor,
                email=data["email"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                gdpr_consent=data.get("gdpr_consent", False),
                phone=data.get("phone", ""),
                date_of_birth=data.get("date_of_birth"),
                address=data.get("address", ""),
                ssn=data.get("ssn", ""),
            )
        changes = {name: data[name] for name in self.changed_data if name in services.UPDATABLE_FIELDS}
        if not changes:
            return self.instance
        return services.customer_update(actor=self.actor, customer_id=self.instance.pk, **changes)


class EraseForm(TransitionForm):
    reason = forms.CharField(
        label="Reason",
        max_length=500,
        help_text="Recorded with the erasure, e.g. the subject's request reference.",
        widget=forms.TextInput(attrs={"size": 60}),
    )
