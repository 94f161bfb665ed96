"""Admin forms for policies. They validate; the admin calls policies.services with their values (every save and
transition)."""

from __future__ import annotations

from django import forms
from django.contrib.admin.widgets import AdminSplitDateTime
from django.utils import timezone

from policies import services
from policies.models import Policy
from vanguard.admin import term_text
from vanguard.forms import ServiceModelForm, TransitionForm


def policy_choice_label(policy: Policy) -> str:
    """A policy as staff pick it (autocompletes): "POL-34663B29 · Ada Lovelace · Home · Active · <term>".
    Needs the customer (select_related) to avoid a query per row."""
    return " · ".join(
        (
            policy.policy_number,
            policy.customer.full_name,
            policy.get_policy_type_display(),
            policy.get_status_display(),
            term_text(policy.start_date, policy.end_date),
        )
    )


class PolicyCreateForm(ServiceModelForm):
    """Add: policy_create (number, status and minimum premium decided by the service)."""

    class Meta:
        model = Policy
        fields = ["customer", "policy_type", "premium_amount", "coverage_amount", "start_date", "end_date"]

    def call_service(self) -> Policy:
        data = self.cleaned_data
        return services.policy_create(
            actor=self.actor,
            customer_id=data["customer"].pk,
            policy_type=data["policy_type"],
            premium_amount=data["premium_amount"],
            coverage_amount=data["coverage_amount"],
            start_date=data["start_date"],
            end_date=data["end_date"],
        )


class PolicyChangeForm(ServiceModelForm):
    """Change: policy_update with only what changed (premium and coverage while pending or active, end date
    until the policy is cancelled or expired). Status never changes here: it has its own transitions."""

    class Meta:
        model = Policy
        fields = ["premium_amount", "coverage_amount", "end_date"]

    def call_service(self) -> Policy:
        changes = {name: self.cleaned_data[name] for name in self.changed_data if name in self.Meta.fields}
        return services.policy_update(actor=self.actor, policy_id=self.instance.pk, **changes)


class CancelForm(TransitionForm):
    reason = forms.CharField(
        label="Cancellation reason", max_length=2000, widget=forms.Textarea(attrs={"rows": 3, "cols": 60})
    )
    effective_date = forms.SplitDateTimeField(
        label="Effective from",
        widget=AdminSplitDateTime,
        initial=timezone.now,
        help_text="When cover ends. Defaults to now; back-dating is allowed.",
    )


class AuditForm(TransitionForm):
    outcome = forms.ChoiceField(
        label="Outcome", choices=Policy.ComplianceStatus.choices, initial=Policy.ComplianceStatus.COMPLIANT
    )
    note = forms.CharField(
        label="Note", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3, "cols": 60})
    )
