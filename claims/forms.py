"""Admin forms for claims. They validate; the admin calls claims.services with their values (every save, upload
and transition)."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from claims import services
from claims.documents import inspect_upload
from claims.models import Claim, ClaimDocument
from policies.forms import policy_choice_label
from vanguard.accounts.handlers import handler_label
from vanguard.core.errors import DomainError
from vanguard.core.money import format_money
from vanguard.forms import ServiceModelForm, TransitionForm


class ClaimCreateForm(ServiceModelForm):
    """Add: claim_create (coverage, policy term and claimable status checked by the service)."""

    class Meta:
        model = Claim
        fields = ["policy", "claim_type", "claim_amount", "incident_date", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "policy" in self.fields:  # the chosen policy, shown again after a refusal, reads like the picker's
            self.fields["policy"].label_from_instance = policy_choice_label

    def call_service(self) -> Claim:
        data = self.cleaned_data
        return services.claim_create(
            actor=self.actor,
            policy_id=data["policy"].pk,
            claim_type=data["claim_type"],
            claim_amount=data["claim_amount"],
            incident_date=data["incident_date"],
            description=data.get("description", ""),
        )


class ClaimChangeForm(ServiceModelForm):
    """Change: the description (claim_update) and, for claims managers, the assignee (claim_assign).
    Status, amounts and the decision change only through the transitions."""

    class Meta:
        model = Claim
        fields = ["description", "assigned_to"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "assigned_to" in self.fields:
            self.fields["assigned_to"].label_from_instance = handler_label

    def call_service(self) -> Claim:
        changes = {}
        if "description" in self.changed_data:
            changes["description"] = self.cleaned_data["description"]
        if "assigned_to" in self.changed_data:
            assignee = self.cleaned_data["assigned_to"]
            changes["assignee_id"] = assignee.pk if assignee else None
        return services.claim_update(actor=self.actor, claim_id=self.instance.pk, **changes)


class DocumentUploadForm(forms.ModelForm):
    """One upload in the claim's documents inline. The content is sniffed here so a refused file is
    reported on the form; the admin then stores it through claim_document_add (which checks again)."""

    class Meta:
        model = ClaimDocument
        fields = ["file", "document_type"]

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if upload:
            try:
                inspect_upload(upload)
            except DomainError as exc:
                raise forms.ValidationError(exc.message) from exc
        return upload


class DenyForm(TransitionForm):
    reason = forms.CharField(
        label="Reason for the denial",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Recorded on the claim and sent to the customer.",
    )


class ReopenForm(TransitionForm):
    reason = forms.CharField(
        label="Reason for reopening",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Recorded in the claim's events, e.g. new evidence received.",
    )


class ApproveForm(TransitionForm):
    """One amount per selected claim (defaults to the amount claimed) and an optional note."""

    note = forms.CharField(
        label="Note", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2, "cols": 60})
    )

    def __init__(self, data=None, *, objects: list[Claim], **kwargs):
        super().__init__(data, objects=objects, **kwargs)
        amounts = {}
        for claim in objects:
            amounts[self.amount_field(claim)] = forms.DecimalField(
                label="Amount to approve" if len(objects) == 1 else claim.claim_number,
                max_digits=15,
                decimal_places=2,
                min_value=Decimal("0.01"),
                initial=claim.claim_amount,
                help_text=f"Claimed {format_money(claim.claim_amount)}; defaults to the full amount.",
            )
        self.fields = {**amounts, **self.fields}

    @staticmethod
    def amount_field(claim: Claim) -> str:
        return f"amount_{claim.pk}"

    def inputs(self, obj: Claim) -> dict:
        return {"amount": self.cleaned_data[self.amount_field(obj)], "note": self.cleaned_data.get("note", "")}
