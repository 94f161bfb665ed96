"""Policies in the back office (SPEC §2.3, §4).

Add and change call policy_create/policy_update. Status, compliance status and the cancellation fields
are read-only: they change only through the transitions (object buttons and changelist actions), built from
policies.services.POLICY_TRANSITIONS, which call the same services as the API.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from customers.search import customers_matching
from policies import services
from policies.forms import PolicyChangeForm, PolicyCreateForm, policy_choice_label
from policies.models import Policy, PolicyEvent
from vanguard.admin import ReadOnlyInlineMixin, VanguardModelAdmin, is_autocomplete_for, money_column, term_text
from vanguard.admin_search import PostedSearchMixin
from vanguard.core.money import format_money
from vanguard.core.numbers import is_number
from vanguard.history import EventDataInlineMixin

S = Policy.Status
CUSTOMER_PII = ("customer__phone", "customer__date_of_birth", "customer__address", "customer__ssn")


class EndsWithinFilter(admin.SimpleListFilter):
    title = "ends within"
    parameter_name = "ends_within"

    def lookups(self, request, model_admin):
        return (("30", "30 days"), ("60", "60 days"), ("90", "90 days"))

    def queryset(self, request, queryset):
        if self.value() in {"30", "60", "90"}:
            now = timezone.now()
            return queryset.filter(end_date__gte=now, end_date__lt=now + dt.timedelta(days=int(self.value())))
        return queryset


class PolicyEventInline(EventDataInlineMixin, ReadOnlyInlineMixin, admin.TabularInline):
    model = PolicyEvent
    # "details": the event's data in words (vanguard.history), not its raw JSON with ids.
    fields = ("created_at", "kind", "from_status", "to_status", "actor", "reason", "details")
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    verbose_name = "event"
    verbose_name_plural = "events (why and by whom)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


@admin.register(Policy)
class PolicyAdmin(PostedSearchMixin, VanguardModelAdmin):
    # Fits a 1440 px screen beside the navigation and the filters: money formatted and right-aligned, the
    # term as one column of two short dates (sorted by its end), nothing wrapping (vanguard/admin.css).
    list_display = ("policy", "customer_link", "type", "status", "money_premium", "money_coverage", "term")
    list_select_related = ("customer",)
    list_filter = (
        "policy_type",
        "status",
        "compliance_status",
        ("start_date", admin.DateFieldListFilter),
        EndsWithinFilter,
    )
    search_fields = ("=policy_number", "customer__last_name", "customer__first_name", "customer__email")
    search_help_text = "Policy number (exact), or the customer's name or email."
    autocomplete_fields = ("customer",)
    ordering = ("-created_at",)
    inlines = (PolicyEventInline,)
    transitions = services.POLICY_TRANSITIONS  # buttons, pages, actions and their permissions

    def get_queryset(self, request: HttpRequest):
        # The customer is shown by name: never fetch (and decrypt) their encrypted columns here.
        return super().get_queryset(request).select_related("customer").defer(*CUSTOMER_PII)

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        if is_autocomplete_for(request, "claims", "claim", "policy"):
            # Filing a claim: offer only policies a claim can be filed against.
            queryset = queryset.filter(status__in=Policy.CLAIMABLE_STATUSES)
        term = search_term.strip()
        if is_number(term, "POL"):
            # An exact reference: use the unique index, skip the text scan over customers' names.
            return queryset.filter(policy_number=term.upper()), False
        if not term:
            return super().get_search_results(request, queryset, search_term)
        # Customers first, on their own trigram-indexed columns, then their policies through the customer_id
        # index: an OR of LIKEs across the join could only be answered by scanning every policy.
        return queryset.filter(customer_id__in=customers_matching(term).values("pk")), False

    money_premium = money_column("premium_amount", "Premium")
    money_coverage = money_column("coverage_amount", "Coverage")
    # The change form's read-only amounts (a cancelled or expired policy): with their currency.
    money_premium_amount = money_column("premium_amount", "Premium amount", code_in_header=False)
    money_coverage_amount = money_column("coverage_amount", "Coverage amount", code_in_header=False)

    def autocomplete_label(self, obj: Policy) -> str:
        return policy_choice_label(obj)

    @admin.display(description="Policy", ordering="policy_number")
    def policy(self, obj: Policy) -> str:
        return obj.policy_number

    @admin.display(description="Type", ordering="policy_type")
    def type(self, obj: Policy) -> str:
        return obj.get_policy_type_display()

    @admin.display(description="Term", ordering="end_date")
    def term(self, obj: Policy) -> str:
        return term_text(obj.start_date, obj.end_date)

    @admin.display(description="Customer", ordering="customer__last_name")
    def customer_link(self, obj: Policy):
        url = reverse("admin:customers_customer_change", args=[obj.customer_id])
        name = obj.customer.full_name
        return format_html('<a href="{}" title="{}">{}</a>', url, name, name)

    @admin.display(description="Renewal of")
    def renewal_link(self, obj: Policy):
        if obj.renewal_of_id is None:
            return "-"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:policies_policy_change", args=[obj.renewal_of_id]), obj.renewal_of
        )

    # --- forms ----------------------------------------------------------------------------------------
    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = PolicyChangeForm if obj is not None else PolicyCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [
                (None, {"fields": ("customer", "policy_type")}),
                ("Money", {"fields": ("premium_amount", "coverage_amount")}),
                ("Term", {"fields": ("start_date", "end_date")}),
            ]
        # Amounts that can no longer change are shown formatted ("405,266.00 EUR"), not as an input's digits.
        money = (
            ("premium_amount", "coverage_amount")
            if obj.status in Policy.AMENDABLE_STATUSES
            else ("money_premium_amount", "money_coverage_amount")
        )
        return [
            (None, {"fields": ("policy_number", "customer", "policy_type", "status", "renewal_link")}),
            ("Money", {"fields": money}),
            ("Term", {"fields": ("start_date", "end_date", "cancellation_reason", "cancelled_at")}),
            ("Compliance", {"fields": ("compliance_status", "last_audit_date")}),
            ("Record", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        readonly = [
            "policy_number",
            "customer",
            "policy_type",
            "status",
            "renewal_link",
            "start_date",
            "cancellation_reason",
            "cancelled_at",
            "compliance_status",
            "last_audit_date",
            "created_at",
            "updated_at",
        ]
        if obj.status not in Policy.AMENDABLE_STATUSES:
            readonly += ["money_premium_amount", "money_coverage_amount"]
        if obj.status in Policy.TERMINAL_STATUSES:
            readonly.append("end_date")
        return readonly

    # --- transition pages ------------------------------------------------------------------------------
    def transition_summary(self, request: HttpRequest, obj: Policy) -> list[tuple[str, str]]:
        return [
            ("Policy", obj.policy_number),
            ("Customer", obj.customer.full_name),
            ("Type", obj.get_policy_type_display()),
            ("Status", obj.get_status_display()),
            ("Premium", format_money(obj.premium_amount)),
            ("Coverage", format_money(obj.coverage_amount)),
            ("Term", term_text(obj.start_date, obj.end_date)),
        ]
