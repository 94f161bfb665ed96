"""Admin forms for a claim's money (SPEC §10.5). They only validate; the admin calls claims.financials.services
with their values and, when the service refuses, shows the same form again with what was typed and the rule."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.admin.widgets import AdminSplitDateTime
from django.utils import timezone

from claims.financials import selectors
from claims.models import Claim, CostType, PaymentMethod, RecoveryKind
from vanguard.core.money import format_money
from vanguard.forms import TransitionForm

_TEXTAREA = {"rows": 3, "cols": 60}


def open_reserve(claim: Claim, cost_type: str) -> Decimal:
    return getattr(claim, f"reserve_{cost_type}")


def cost_type_choices(claim: Claim | None, held: dict[str, Decimal] | None = None) -> list[tuple[str, str]]:
    """Each cost type with its open reserve on this claim, shown beside the choice; with `held` (what payments
    not yet issued hold), what is left of it for a new payment."""
    if claim is None:
        return list(CostType.choices)
    if held is None:
        return [
            (value, f"{label} (open reserve {format_money(open_reserve(claim, value))})")
            for value, label in CostType.choices
        ]
    return [
        (
            value,
            f"{label} (available {format_money(open_reserve(claim, value) - held[value])} of the open "
            f"reserve of {format_money(open_reserve(claim, value))})",
        )
        for value, label in CostType.choices
    ]


class _ClaimMoneyForm(TransitionForm):
    """A form about one claim (the page's record)."""

    def __init__(self, data=None, *, objects=(), **kwargs):
        super().__init__(data, objects=objects, **kwargs)
        self.claim = self.objects[0] if self.objects else None
        if "cost_type" in self.fields:
            self.fields["cost_type"].choices = cost_type_choices(self.claim, self.held())

    def held(self) -> dict[str, Decimal] | None:
        return None


class ReserveForm(_ClaimMoneyForm):
    cost_type = forms.ChoiceField(label="Cost type", choices=CostType.choices, initial=CostType.INDEMNITY)
    amount = forms.DecimalField(
        label="New open reserve",
        max_digits=15,
        decimal_places=2,
        min_value=Decimal("0.00"),
        help_text="What the claim is still expected to cost for this cost type; 0 closes the reserve.",
    )
    reason = forms.CharField(
        label="Reason",
        max_length=2000,
        widget=forms.Textarea(attrs=_TEXTAREA),
        help_text="Recorded with the change, e.g. the expert's report.",
    )


class PaymentRequestForm(_ClaimMoneyForm):
    cost_type = forms.ChoiceField(label="Cost type", choices=CostType.choices, initial=CostType.INDEMNITY)
    amount = forms.DecimalField(
        label="Amount",
        max_digits=15,
        decimal_places=2,
        min_value=Decimal("0.01"),
        help_text="At most the open reserve of the cost type.",
    )
    payee_name = forms.CharField(label="Payee", max_length=200)
    payee_account = forms.CharField(
        label="Payee account",
        max_length=64,
        required=False,
        help_text="IBAN or account number; stored encrypted, shown masked.",
    )
    payee_is_policyholder = forms.BooleanField(label="The payee is the policyholder", required=False)
    method = forms.ChoiceField(label="Method", choices=PaymentMethod.choices, initial=PaymentMethod.BANK_TRANSFER)
    reference = forms.CharField(label="Reference", max_length=100, required=False, help_text="e.g. the invoice number.")

    def held(self) -> dict[str, Decimal] | None:
        # A payment may use the open reserve less what the payments not yet issued already hold.
        return None if self.claim is None else selectors.unissued_by_cost_type(claim_id=self.claim.pk)


class RecoveryForm(_ClaimMoneyForm):
    kind = forms.ChoiceField(label="Kind", choices=RecoveryKind.choices)
    amount = forms.DecimalField(label="Amount", max_digits=15, decimal_places=2, min_value=Decimal("0.01"))
    source = forms.CharField(
        label="Received from", max_length=200, help_text="Who paid it back, e.g. the other driver's insurer."
    )
    reference = forms.CharField(label="Reference", max_length=100, required=False)
    received_at = forms.SplitDateTimeField(
        label="Received", required=False, widget=AdminSplitDateTime, help_text="Leave empty for now."
    )

    def clean_received_at(self):
        received = self.cleaned_data.get("received_at")
        if received and received > timezone.now():
            raise forms.ValidationError("The recovery cannot be received in the future.")
        return received

    def inputs(self, obj: Any) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["received_at"] = data.get("received_at") or None
        return data


class PaymentReasonForm(TransitionForm):
    """Cancel or void: the reason, required and recorded on the payment."""

    reason = forms.CharField(label="Reason", max_length=2000, widget=forms.Textarea(attrs=_TEXTAREA))
