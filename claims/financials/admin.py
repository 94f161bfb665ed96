"""A claim's money in the back office (SPEC §10.5).

On the claim page (claims.admin.ClaimAdmin, through ClaimFinancialsAdminMixin): the financials panel, read-only
inlines of reserve changes, payments (the account masked) and recoveries, and the pages *Set reserve…*, *Request
payment…* and *Record recovery…*, each a form that shows the open reserves and the user's own authority, calls
its claims.financials service, and on a refusal comes back with what was typed and the rule that refused it.

The Payments changelist (ClaimPaymentAdmin): filters status, cost type and *awaiting my approval*; *Approve*,
*Issue*, *Cancel…* and *Void…* as object buttons and changelist actions calling the same services as the API.
The rows are immutable: no add, change or delete through the admin's own forms. The payment page shows the full
payee account only to Finance (claims.issue_payment), and every such view is written to the PII access log.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.module_loading import import_string
from django.utils.safestring import SafeString

from claims.financials import selectors, services
from claims.models import Claim, ClaimPayment, ClaimRecovery, ClaimStatus, PaymentStatus, ReserveChange
from vanguard.accounts.authority import authority_limit
from vanguard.admin import ReadOnlyInlineMixin, VanguardModelAdmin, money_column, refusal_text, short_date
from vanguard.admin_search import PostedSearchMixin, search_words
from vanguard.core.errors import DomainError
from vanguard.core.money import format_money
from vanguard.core.net import client_ip
from vanguard.core.numbers import is_number
from vanguard.core.transitions import Transition

S = ClaimStatus
P = PaymentStatus
FINANCE_PERMISSION = "claims.issue_payment"  # Finance: sees the full payee account on the payment page


def _person(user: Any) -> str:
    """A staff user by name (the e-mail where there is none); the system for scheduled work."""
    if user is None:
        return "system"
    return (getattr(user, "full_name", "") or "").strip() or user.email


# --- the claim page: panel ---------------------------------------------------------------------------------
def financials_panel(claim: Claim) -> SafeString:
    """The seven stored totals as a small table (templates/admin/claims/financials_panel.html)."""
    return render_to_string("admin/claims/financials_panel.html", {"claim": claim})


# --- the claim page: read-only inlines -----------------------------------------------------------------
class ReserveChangeInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = ReserveChange
    fields = ("created_at", "cost_type", "money_previous", "money_new", "reason", "changed_by")
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    verbose_name = "reserve change"
    verbose_name_plural = "reserve changes"

    money_previous = money_column("previous_amount", "Previous", code_in_header=False)
    money_new = money_column("new_amount", "New reserve", code_in_header=False)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

    @admin.display(description="By")
    def changed_by(self, obj: ReserveChange) -> str:
        return _person(obj.actor)


class ClaimPaymentInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = ClaimPayment
    fields = ("payment", "cost_type", "money_amount", "payee_name", "account", "method", "status", "requested")
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    verbose_name = "payment"
    verbose_name_plural = "payments"

    money_amount = money_column("amount", "Amount", code_in_header=False)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("requested_by")

    @admin.display(description="Payment")
    def payment(self, obj: ClaimPayment):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:claims_claimpayment_change", args=[obj.pk]), obj.payment_number
        )

    @admin.display(description="Account")
    def account(self, obj: ClaimPayment) -> str:
        return selectors.mask_account(obj.payee_account) or "—"

    @admin.display(description="Requested")
    def requested(self, obj: ClaimPayment) -> str:
        return f"{short_date(obj.requested_at)} by {_person(obj.requested_by)}"


class ClaimRecoveryInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = ClaimRecovery
    fields = ("received", "kind", "money_amount", "source", "reference", "recorded_by")
    readonly_fields = fields
    ordering = ("-received_at", "-id")
    verbose_name = "recovery"
    verbose_name_plural = "recoveries"

    money_amount = money_column("amount", "Amount", code_in_header=False)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

    @admin.display(description="Received")
    def received(self, obj: ClaimRecovery) -> str:
        return short_date(obj.received_at)

    @admin.display(description="By")
    def recorded_by(self, obj: ClaimRecovery) -> str:
        return _person(obj.actor)


FINANCIAL_INLINES = (ReserveChangeInline, ClaimPaymentInline, ClaimRecoveryInline)


# --- the claim page: Set reserve…, Request payment…, Record recovery… --------------------------------------
def _reserve_done(label: str, change: ReserveChange) -> str:
    return f"{label}: {change.get_cost_type_display().lower()} reserve set to {format_money(change.new_amount)}."


def _payment_done(label: str, payment: ClaimPayment) -> str:
    if payment.status == P.REQUESTED:
        return (
            f"{label}: payment {payment.payment_number} of {format_money(payment.amount)} requested; it needs "
            "the approval of a second person (four eyes)."
        )
    return f"{label}: payment {payment.payment_number} of {format_money(payment.amount)} requested and approved."


def _recovery_done(label: str, recovery: ClaimRecovery) -> str:
    return f"{label}: {recovery.get_kind_display().lower()} recovery of {format_money(recovery.amount)} recorded."


# Not rows of CLAIM_TRANSITIONS: none changes the claim's status (the services may, e.g. an issue that pays the
# claim in full, which is the Payments changelist's). `allowed_from` only decides where the link is offered; the
# service is the judge of every rule.
CLAIM_MONEY_PAGES = (
    Transition(
        name="reserve",
        label="Set reserve…",
        permission="claims.add_reservechange",
        allowed_from=frozenset({S.PENDING, S.PROCESSING, S.APPROVED, S.PAID}),
        service=services.claim_reserve_set,
        form="claims.financials.forms.ReserveForm",
        submit="Set reserve",
        done=_reserve_done,
    ),
    Transition(
        name="payment",
        label="Request payment…",
        permission="claims.add_claimpayment",
        allowed_from=frozenset({S.PROCESSING, S.APPROVED, S.PAID}),
        service=services.payment_request,
        form="claims.financials.forms.PaymentRequestForm",
        submit="Request payment",
        done=_payment_done,
    ),
    Transition(
        name="recovery",
        label="Record recovery…",
        permission="claims.add_claimrecovery",
        allowed_from=frozenset({S.APPROVED, S.PAID, S.CLOSED}),
        service=services.recovery_record,
        form="claims.financials.forms.RecoveryForm",
        submit="Record recovery",
        done=_recovery_done,
    ),
)
_PAGES = {page.name: page for page in CLAIM_MONEY_PAGES}


def authority_text(user: Any) -> str:
    limit = authority_limit(user)
    return "unlimited" if limit is None else format_money(limit)


class ClaimFinancialsAdminMixin:
    """For ClaimAdmin (which lists FINANCIAL_INLINES among its inlines): the panel's read-only field and the three
    money pages, linked beside the transitions."""

    @admin.display(description="Totals")
    def financials(self, obj: Claim) -> SafeString:
        return financials_panel(obj)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/financials/<str:name>/",
                self.admin_site.admin_view(self.money_view),
                name="claims_claim_money",
            ),
            *super().get_urls(),
        ]

    def money_pages(self, request: HttpRequest, obj: Claim) -> list[Transition]:
        return [
            page for page in CLAIM_MONEY_PAGES if page.allows(obj.status) and request.user.has_perm(page.permission)
        ]

    def extra_object_tools(self, request: HttpRequest, obj: Claim) -> list[dict[str, str]]:
        tools = [
            {"label": page.label, "url": reverse("admin:claims_claim_money", args=[obj.pk, page.name])}
            for page in self.money_pages(request, obj)
        ]
        return [*tools, *super().extra_object_tools(request, obj)]

    def transition_notes(self, request: HttpRequest, transition: Transition, objects: list) -> list[str]:
        if transition.name not in _PAGES or _PAGES[transition.name] is not transition:
            return super().transition_notes(request, transition, objects)
        claim = objects[0]
        reserves = (
            f"Open reserves: indemnity {format_money(claim.reserve_indemnity)}, expense "
            f"{format_money(claim.reserve_expense)}."
        )
        authority = f"Your authority limit: {authority_text(request.user)}."
        if transition.name == "reserve":
            return [
                reserves,
                f"{authority} A reserve above it is refused; the indemnity reserve may not exceed the "
                "policy's coverage less the indemnity already paid.",
            ]
        if transition.name == "payment":
            held = selectors.unissued_by_cost_type(claim_id=claim.pk)
            lines = [
                f"{reserves} Payments not yet issued hold indemnity {format_money(held['indemnity'])} and "
                f"expense {format_money(held['expense'])} of them."
            ]
            if claim.approved_amount is not None:
                remaining = claim.approved_amount - claim.paid_indemnity - held["indemnity"]
                lines.append(
                    f"Approved {format_money(claim.approved_amount)}; indemnity paid "
                    f"{format_money(claim.paid_indemnity)} and {format_money(held['indemnity'])} requested "
                    f"or approved: at most {format_money(max(remaining, 0))} more indemnity."
                )
            lines.append(
                f"{authority} A payment above it, or above the four-eyes limit "
                f"({format_money(settings.PAYMENT_FOUR_EYES_LIMIT)}), waits for a second person's approval."
            )
            return lines
        return [f"Recovered so far: {format_money(claim.recovered)}; net incurred {format_money(claim.net_incurred)}."]

    def money_view(self, request: HttpRequest, object_id: str, name: str) -> HttpResponse:
        page = _PAGES.get(name)
        if page is None:
            raise PermissionDenied
        claim = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not (self.has_view_permission(request, claim) and request.user.has_perm(page.permission)):
            raise PermissionDenied
        change_url = reverse("admin:claims_claim_change", args=[claim.pk])
        bound = request.method == "POST" and "apply" in request.POST
        form = import_string(page.form)(request.POST if bound else None, objects=[claim])

        def form_page() -> TemplateResponse:
            return self.render_transition_form(
                request, page, [claim], form, post_url=request.get_full_path(), cancel_url=change_url
            )

        if not bound or not form.is_valid():
            return form_page()
        label = self.message_label(claim)
        try:
            result = page.service(actor=request.user, claim_id=claim.pk, **form.inputs(claim))
        except (DomainError, ValidationError) as exc:
            # Keep what was typed: the same form again, the rule on its field (or above the form).
            field = getattr(exc, "field", None)
            form.add_error(field if field in form.fields else None, refusal_text(exc))
            return form_page()
        self.message_user(request, page.success_message(label, result), messages.SUCCESS)
        return HttpResponseRedirect(change_url)


# --- the Payments changelist ---------------------------------------------------------------------------------
class AwaitingMyApprovalFilter(admin.SimpleListFilter):
    title = "approval"
    parameter_name = "awaiting"

    def lookups(self, request, model_admin):
        return (("mine", "Awaiting my approval"),)

    def queryset(self, request, queryset):
        if self.value() == "mine":
            return selectors.payments_awaiting_approval(request.user, queryset)
        return queryset


PAYMENT_TRANSITIONS = (
    Transition(
        name="approve",
        label="Approve",
        permission="claims.approve_payment",
        allowed_from=frozenset({P.REQUESTED}),
        target=P.APPROVED,
        service=services.payment_approve,
        done="{obj}: approved.",
        action="approve_payments",
        action_label="Approve selected payments",
        done_many="approved",
    ),
    Transition(
        name="issue",
        label="Issue",
        permission="claims.issue_payment",
        allowed_from=frozenset({P.APPROVED}),
        target=P.ISSUED,
        service=services.payment_issue,
        done="{obj}: issued.",
        action="issue_payments",
        action_label="Issue selected payments (the money has left)",
        done_many="issued",
    ),
    Transition(
        name="cancel",
        label="Cancel…",
        permission="claims.cancel_payment",
        allowed_from=frozenset({P.REQUESTED, P.APPROVED}),
        target=P.CANCELLED,
        service=services.payment_cancel,
        form="claims.financials.forms.PaymentReasonForm",
        submit="Cancel payment",
        submit_many="Cancel payments",
        done="{obj}: cancelled.",
        action="cancel_payments",
        action_label="Cancel selected payments…",
        done_many="cancelled",
        note="A cancelled payment moves no money; the reason is recorded on it.",
    ),
    Transition(
        name="void",
        label="Void…",
        permission="claims.void_payment",
        allowed_from=frozenset({P.ISSUED}),
        target=P.VOIDED,
        service=services.payment_void,
        form="claims.financials.forms.PaymentReasonForm",
        submit="Void payment",
        submit_many="Void payments",
        done="{obj}: voided.",
        action="void_payments",
        action_label="Void selected payments…",
        done_many="voided",
        note="Voiding restores the reserve and lowers the amount paid; a paid claim goes back to approved.",
    ),
)


@admin.register(ClaimPayment)
class ClaimPaymentAdmin(PostedSearchMixin, VanguardModelAdmin):
    # Fits a 1440 px screen beside the navigation and the filters; the payee account is never in the list.
    list_display = (
        "payment",
        "claim_link",
        "cost_type",
        "money_amount",
        "payee",
        "method",
        "status",
        "requested",
        "requested_by_name",
    )
    list_select_related = ("claim", "requested_by")
    list_filter = ("status", "cost_type", AwaitingMyApprovalFilter)
    # A payee is often a person: the search posts and travels as a token, never in the URL (vanguard.admin_search).
    search_fields = ("=payment_number", "=claim__claim_number", "payee_name")
    search_help_text = "Payment or claim number (exact), or the payee's name."
    ordering = ("-created_at", "-id")
    transitions = PAYMENT_TRANSITIONS

    money_amount = money_column("amount", "Amount")
    money_amount_detail = money_column("amount", "Amount", code_in_header=False)

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("claim", "requested_by")

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        # An exact reference uses its unique index; a payee's name its trigram index (migration 0007). Django's
        # own OR of the three across the claims join could only be answered by scanning every payment.
        term = search_term.strip()
        if is_number(term, "PAY"):
            return queryset.filter(payment_number=term.upper()), False
        if is_number(term, "CLM"):
            return queryset.filter(claim__claim_number=term.upper()), False
        if not term:
            return super().get_search_results(request, queryset, search_term)
        for word in search_words(term):  # the admin's semantics: every word somewhere in the name
            queryset = queryset.filter(payee_name__icontains=word)
        return queryset, False

    # --- immutable rows: viewed, never added, changed or deleted through the admin's forms ------------
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # --- list columns ------------------------------------------------------------------------------------
    @admin.display(description="Payment", ordering="payment_number")
    def payment(self, obj: ClaimPayment) -> str:
        return obj.payment_number

    @admin.display(description="Claim", ordering="claim__claim_number")
    def claim_link(self, obj: ClaimPayment):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:claims_claim_change", args=[obj.claim_id]), obj.claim.claim_number
        )

    @admin.display(description="Payee", ordering="payee_name")
    def payee(self, obj: ClaimPayment):
        return format_html('<span title="{}">{}</span>', obj.payee_name, obj.payee_name)

    @admin.display(description="Requested", ordering="requested_at")
    def requested(self, obj: ClaimPayment) -> str:
        return short_date(obj.requested_at)

    @admin.display(description="Requested by", ordering="requested_by__full_name")
    def requested_by_name(self, obj: ClaimPayment) -> str:
        return _person(obj.requested_by)

    # --- the payment page (read-only) ------------------------------------------------------------------
    def get_fieldsets(self, request: HttpRequest, obj: Any = None):
        return [
            (None, {"fields": ("payment_number", "claim_link", "cost_type", "money_amount_detail", "status")}),
            (
                "Payee",
                {"fields": ("payee_name", "payee_account_shown", "payee_is_policyholder", "method", "reference")},
            ),
            (
                "Four eyes and issue",
                {
                    "fields": (
                        "requested_line",
                        "approved_line",
                        "issued_line",
                        "cancelled_line",
                        "cancel_reason",
                        "voided_line",
                        "void_reason",
                    )
                },
            ),
            ("Record", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None):
        return [name for _title, options in self.get_fieldsets(request, obj) for name in options["fields"]]

    def shows_full_account(self, request: HttpRequest) -> bool:
        return request.user.has_perm(FINANCE_PERMISSION)

    @admin.display(description="Payee account")
    def payee_account_shown(self, obj: ClaimPayment) -> str:
        # Set per request in render_change_form: Finance sees the account in clear (and the view is logged).
        if getattr(obj, "_show_full_account", False):
            return obj.payee_account or "—"
        return selectors.mask_account(obj.payee_account) or "—"

    @staticmethod
    def _line(user: Any, moment: Any) -> str:
        return "—" if moment is None else f"{short_date(moment)} by {_person(user)}"

    @admin.display(description="Requested")
    def requested_line(self, obj: ClaimPayment) -> str:
        return self._line(obj.requested_by, obj.requested_at)

    @admin.display(description="Approved")
    def approved_line(self, obj: ClaimPayment) -> str:
        return self._line(obj.approved_by, obj.approved_at)

    @admin.display(description="Issued")
    def issued_line(self, obj: ClaimPayment) -> str:
        return self._line(obj.issued_by, obj.issued_at)

    @admin.display(description="Cancelled")
    def cancelled_line(self, obj: ClaimPayment) -> str:
        return self._line(obj.cancelled_by, obj.cancelled_at)

    @admin.display(description="Voided")
    def voided_line(self, obj: ClaimPayment) -> str:
        return self._line(obj.voided_by, obj.voided_at)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if change and obj is not None:
            obj._show_full_account = self.shows_full_account(request)
            if obj._show_full_account and obj.payee_account:
                from compliance.services import pii_access_record

                # The payee is often the policyholder: the view is logged against the claim's customer.
                pii_access_record(
                    actor=request.user,
                    customer_id=obj.claim.policy.customer_id,
                    fields=["payee_account"],
                    interface="admin",
                    remote_addr=client_ip(request),
                )
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    # --- transitions ---------------------------------------------------------------------------------
    def perform_transition(self, request: HttpRequest, name: str, obj: ClaimPayment, data: dict) -> ClaimPayment:
        transition = next(t for t in PAYMENT_TRANSITIONS if t.name == name)
        return transition.service(actor=request.user, payment_id=obj.pk, **data)

    def transition_summary(self, request: HttpRequest, obj: ClaimPayment) -> list[tuple[str, str]]:
        return [
            ("Payment", obj.payment_number),
            ("Claim", obj.claim.claim_number),
            ("Cost type", obj.get_cost_type_display()),
            ("Amount", format_money(obj.amount)),
            ("Payee", obj.payee_name),
            ("Status", obj.get_status_display()),
        ]

    def transition_notes(self, request: HttpRequest, transition: Transition, objects: list) -> list[str]:
        notes = super().transition_notes(request, transition, objects)
        if transition.name == "approve":
            notes.append(
                f"Your authority limit: {authority_text(request.user)}. You cannot approve a payment you "
                "requested (four eyes)."
            )
        return notes
