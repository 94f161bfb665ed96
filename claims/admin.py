"""Claims in the back office (SPEC §2.4, §2.5, §4).

Add and change call claim_create/claim_update/claim_assign. Status, amounts and the decision are
read-only: they change only through the transitions (object buttons and changelist actions), each
guarded by its claims.* permission and calling the same service as the API. Documents are uploaded in
the inline through claim_document_add and downloaded only through a permission-checked view.
"""

from __future__ import annotations

import datetime as dt
import re

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.forms.models import BaseInlineFormSet
from django.http import FileResponse, Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from claims import services
from claims.forms import ApproveForm, ClaimChangeForm, ClaimCreateForm, DenyForm, DocumentUploadForm, ReopenForm
from claims.models import Claim, ClaimDocument, ClaimEvent
from customers.search import customers_matching
from vanguard.accounts.authority import authority_limit
from vanguard.accounts.permissions import can
from vanguard.accounts.roles import CLAIMS_ADJUSTER, CLAIMS_MANAGER
from vanguard.admin import Transition, VanguardModelAdmin, money_column, refusal_text
from vanguard.admin_search import PostedSearchMixin
from vanguard.errors import DomainError
from vanguard.history import EventDataInlineMixin
from vanguard.money import format_money

S = Claim.Status
CLAIM_NUMBER = re.compile(r"^CLM-[0-9A-F]{8}$")
POLICY_NUMBER = re.compile(r"^POL-[0-9A-F]{8}$")
CUSTOMER_PII = (
    "policy__customer__phone", "policy__customer__date_of_birth", "policy__customer__address",
    "policy__customer__ssn",
)
ASSIGNABLE = frozenset(set(S) - {S.PAID, S.CLOSED})


class ClaimStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return (("open", "Open (pending, processing, approved)"), *S.choices)

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(status__in=Claim.OPEN_STATUSES)
        if self.value() in S.values:
            return queryset.filter(status=self.value())
        return queryset


class AssigneeFilter(admin.SimpleListFilter):
    title = "assignee"
    parameter_name = "assignee"

    def lookups(self, request, model_admin):
        from vanguard.accounts.models import User

        handlers = (
            User.objects.filter(is_active=True, is_system=False, groups__name__in=[CLAIMS_ADJUSTER, CLAIMS_MANAGER])
            .exclude(pk=request.user.pk)
            .distinct()
            .order_by("full_name", "email")
            .values_list("pk", "full_name", "email")
        )
        # By name (the e-mail where there is none): e-mails do not fit the filter column.
        return (
            ("mine", "Mine"), ("none", "Unassigned"),
            *((str(pk), name or email) for pk, name, email in handlers),
        )

    def queryset(self, request, queryset):
        value = self.value()
        if value == "mine":
            return queryset.filter(assigned_to=request.user)
        if value == "none":
            return queryset.filter(assigned_to__isnull=True)
        if value:
            try:
                return queryset.filter(assigned_to_id=value)
            except (ValueError, TypeError):
                return queryset.none()
        return queryset


class AgeFilter(admin.SimpleListFilter):
    title = "waiting"
    parameter_name = "age"

    def lookups(self, request, model_admin):
        return (("7", "over 7 days"), ("30", "over 30 days"), ("90", "over 90 days"))

    def queryset(self, request, queryset):
        if self.value() in {"7", "30", "90"}:
            return queryset.filter(reported_date__lt=timezone.now() - dt.timedelta(days=int(self.value())))
        return queryset


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ClaimDocumentInline(ReadOnlyInline):
    model = ClaimDocument
    fields = ("download", "document_type", "mime_type", "size", "uploaded_by", "created_at")
    readonly_fields = fields
    ordering = ("-created_at",)
    verbose_name = "document"
    verbose_name_plural = "documents"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("uploaded_by")

    @admin.display(description="File")
    def download(self, obj: ClaimDocument):
        url = reverse("admin:claims_claim_document", args=[obj.claim_id, obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.filename)

    @admin.display(description="Size")
    def size(self, obj: ClaimDocument) -> str:
        return f"{obj.file_size / 1024:,.0f} KB" if obj.file_size >= 1024 else f"{obj.file_size} bytes"


class DocumentUploadFormSet(BaseInlineFormSet):
    pass


class ClaimDocumentUploadInline(admin.TabularInline):
    """Empty rows for new uploads only; the documents themselves are listed by ClaimDocumentInline."""

    model = ClaimDocument
    form = DocumentUploadForm
    formset = DocumentUploadFormSet
    fields = ("file", "document_type")
    extra = 1
    can_delete = False
    verbose_name = "new document"
    verbose_name_plural = "upload documents (JPEG, PNG, GIF, PDF, DOC, DOCX; 10 MB at most)"

    def get_queryset(self, request):
        return super().get_queryset(request).none()

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_add_permission(request, obj)


class ClaimEventInline(EventDataInlineMixin, ReadOnlyInline):
    model = ClaimEvent
    # "details": the event's data in words (vanguard.history), not its raw JSON with ids.
    fields = ("created_at", "kind", "from_status", "to_status", "actor", "reason", "details")
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    verbose_name = "event"
    verbose_name_plural = "events (why and by whom)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


@admin.register(Claim)
class ClaimAdmin(PostedSearchMixin, VanguardModelAdmin):
    # Fits a 1440 px screen beside the navigation and the filters: nothing wraps (vanguard/admin.css), the
    # assignee by name, the age in days.
    list_display = ("claim", "policy_link", "customer_name", "type", "money_claimed", "status", "assignee", "age")
    list_select_related = ("policy", "policy__customer", "assigned_to")
    list_filter = (ClaimStatusFilter, "claim_type", AssigneeFilter, AgeFilter,
                   ("incident_date", admin.DateFieldListFilter))
    search_fields = (
        "=claim_number", "=policy__policy_number", "policy__customer__last_name", "policy__customer__first_name",
        "policy__customer__email",
    )
    search_help_text = "Claim or policy number (exact), or the customer's name or email."
    autocomplete_fields = ("policy", "assigned_to")
    ordering = ("-created_at",)
    inlines = (ClaimDocumentInline, ClaimDocumentUploadInline, ClaimEventInline)
    inlines_on_add = (ClaimDocumentUploadInline,)
    actions = (
        "start_processing", "approve_claims", "deny_claims", "assign_to_me", "mark_paid", "close_claims",
        "reopen_claims",
    )
    transitions = (
        Transition("start", "Start processing", "process", frozenset(services.PROCESSABLE),
                   done="{obj} is now in processing."),
        Transition("approve", "Approve…", "decide", frozenset(services.DECIDABLE), ApproveForm,
                   submit="Approve claim", submit_many="Approve claims",
                   done=lambda label, claim: f"{label} approved for {format_money(claim.approved_amount)}."),
        Transition("deny", "Deny…", "decide", frozenset(services.DECIDABLE), DenyForm,
                   submit="Deny claim", submit_many="Deny claims", done="{obj} denied."),
        Transition("assign_me", "Assign to me", "process", ASSIGNABLE, done="{obj} assigned to you."),
        Transition("paid", "Mark paid", "decide", frozenset(services.PAYABLE), done="{obj} marked paid."),
        Transition("close", "Close", "decide", frozenset(services.CLOSABLE), done="{obj} closed."),
        Transition("reopen", "Reopen…", "reopen", frozenset(services.REOPENABLE), ReopenForm,
                   submit="Reopen claim", submit_many="Reopen claims", done="{obj} reopened: back in processing."),
    )

    def get_queryset(self, request: HttpRequest):
        # The customer is shown by name: never fetch (and decrypt) their encrypted columns here.
        return (
            super().get_queryset(request)
            .select_related("policy", "policy__customer", "assigned_to")
            .defer(*CUSTOMER_PII)
        )

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        term = search_term.strip().upper()
        # An exact reference uses its unique index instead of a text scan over customers' names.
        if CLAIM_NUMBER.match(term):
            return queryset.filter(claim_number=term), False
        if POLICY_NUMBER.match(term):
            return queryset.filter(policy__policy_number=term), False
        if not term:
            return super().get_search_results(request, queryset, search_term)
        # Customers first, on their own trigram-indexed columns (see PolicyAdmin.get_search_results); the words
        # keep their case as typed (icontains ignores it anyway).
        customers = customers_matching(search_term.strip()).values("pk")
        return queryset.filter(policy__customer_id__in=customers), False

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        if lookup in {"policy__customer__id__exact", "policy__id__exact"}:
            return True  # the "all claims of this customer/policy" links
        return super().lookup_allowed(lookup, value, request)

    # --- list columns -----------------------------------------------------------------------------------
    @admin.display(description="Policy", ordering="policy__policy_number")
    def policy_link(self, obj: Claim):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:policies_policy_change", args=[obj.policy_id]),
            obj.policy.policy_number,
        )

    @admin.display(description="Customer", ordering="policy__customer__last_name")
    def customer_name(self, obj: Claim):
        customer = obj.policy.customer
        return format_html(
            '<a href="{}" title="{}">{}</a>', reverse("admin:customers_customer_change", args=[customer.pk]),
            customer.full_name, customer.full_name,
        )

    @admin.display(description="Age (days)", ordering="reported_date")
    def age_days(self, obj: Claim) -> int:
        return (timezone.now() - obj.reported_date).days

    @admin.display(description="Claim", ordering="claim_number")
    def claim(self, obj: Claim) -> str:
        return obj.claim_number

    @admin.display(description="Type", ordering="claim_type")
    def type(self, obj: Claim) -> str:
        return obj.get_claim_type_display()

    @admin.display(description="Age", ordering="-reported_date")
    def age(self, obj: Claim) -> str:
        days = self.age_days(obj)
        return "1 day" if days == 1 else f"{days:,} days"

    money_claimed = money_column("claim_amount", "Claimed")
    money_claim_amount = money_column("claim_amount", "Claim amount", code_in_header=False)
    money_approved = money_column("approved_amount", "Approved amount", code_in_header=False)

    @admin.display(description="Assignee", ordering="assigned_to__full_name")
    def assignee(self, obj: Claim):
        user = obj.assigned_to
        if user is None:
            return "-"
        return format_html('<span title="{}">{}</span>', user.email, user.get_full_name())

    # --- forms ------------------------------------------------------------------------------------------
    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = ClaimChangeForm if obj is not None else ClaimCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ("policy", "claim_type", "claim_amount", "incident_date", "description")})]
        return [
            (None, {"fields": ("claim_number", "policy_link", "customer_name", "claim_type", "incident_date",
                               "reported_date", "age_days")}),
            ("Amount and decision", {"fields": ("money_claim_amount", "status", "money_approved", "decision_reason",
                                                "processed_date", "decided_by")}),
            ("Handling", {"fields": ("assigned_to", "description", "created_by")}),
            ("Record", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        readonly = [
            "claim_number", "policy_link", "customer_name", "claim_type", "incident_date", "reported_date", "age_days",
            "money_claim_amount", "status", "money_approved", "decision_reason", "processed_date", "decided_by",
            "created_by", "created_at", "updated_at",
        ]
        if obj.status not in services.EDITABLE:
            readonly.append("description")
        if not (can(request.user, "claims.assign_claim") and obj.status in ASSIGNABLE):
            readonly.append("assigned_to")
        return readonly

    def save_formset(self, request, form, formset, change) -> None:
        super().save_formset(request, form, formset, change)
        if not isinstance(formset, DocumentUploadFormSet):
            return
        for upload_form in formset.forms:
            upload = upload_form.cleaned_data.get("file") if upload_form.has_changed() else None
            if not upload:
                continue
            try:
                document = services.claim_document_add(
                    actor=request.user, claim_id=form.instance.pk, fileobj=upload, filename=upload.name,
                    document_type=upload_form.cleaned_data.get("document_type") or ClaimDocument.DocumentType.OTHER,
                )
            except DomainError as exc:
                self.message_user(request, f"{upload.name}: {refusal_text(exc)}", messages.ERROR)
            else:
                formset.new_objects.append(document)

    # --- documents: served only through this permission-checked view ----------------------------------
    def get_urls(self):
        return [
            path(
                "<path:object_id>/documents/<uuid:document_id>/",
                self.admin_site.admin_view(self.document_view),
                name="claims_claim_document",
            ),
            *super().get_urls(),
        ]

    def document_view(self, request: HttpRequest, object_id: str, document_id) -> FileResponse:
        claim = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not (self.has_view_permission(request, claim) and request.user.has_perm("claims.view_claimdocument")):
            raise PermissionDenied
        document = get_object_or_404(ClaimDocument, pk=document_id, claim_id=claim.pk)
        try:
            handle = document.file.open("rb")
        except FileNotFoundError as exc:
            raise Http404("The stored file is missing.") from exc
        response = FileResponse(handle, as_attachment=True, filename=document.filename, content_type=document.mime_type)
        response["Cache-Control"] = "private, no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response

    # --- permissions for transitions --------------------------------------------------------------------
    def has_process_permission(self, request: HttpRequest, obj: Claim | None = None) -> bool:
        return can(request.user, "claims.process_claim")

    def has_decide_permission(self, request: HttpRequest, obj: Claim | None = None) -> bool:
        return can(request.user, "claims.decide_claim")

    def has_reopen_permission(self, request: HttpRequest, obj: Claim | None = None) -> bool:
        return can(request.user, "claims.reopen_claim")

    def available_transitions(self, request, obj):
        shown = super().available_transitions(request, obj)
        if obj.assigned_to_id == request.user.pk:
            shown = [t for t in shown if t["name"] != "assign_me"]
        return shown

    # --- transition pages ----------------------------------------------------------------------------------
    def transition_summary(self, request: HttpRequest, obj: Claim) -> list[tuple[str, str]]:
        return [
            ("Claim", obj.claim_number),
            ("Policy", obj.policy.policy_number),
            ("Customer", obj.policy.customer.full_name),
            ("Type", obj.get_claim_type_display()),
            ("Status", obj.get_status_display()),
            ("Claimed", format_money(obj.claim_amount)),
            ("Coverage", format_money(obj.policy.coverage_amount)),
            ("Approved so far", format_money(obj.approved_amount)),
        ]

    def transition_notes(self, request: HttpRequest, transition: Transition, objects: list) -> list[str]:
        if transition.name == "approve":
            limit = authority_limit(request.user)
            authority = "unlimited" if limit is None else format_money(limit)
            return [f"Your approval authority: {authority} per claim. An approval may not exceed the amount "
                    "claimed or the policy's coverage."]
        if transition.name == "deny":
            return ["The reason is recorded on the claim and sent to the customer."]
        if transition.name == "reopen":
            return ["Reopening puts the claim back in processing and clears its decision (kept in its events)."]
        return []

    def transition_form(self, request, transition, objects):
        data = request.POST if request.method == "POST" and "apply" in request.POST else None
        if transition.form is ApproveForm:
            return ApproveForm(data, claims=objects)
        return transition.form(data)

    def perform_transition(self, request: HttpRequest, name: str, obj: Claim, data: dict) -> Claim:
        actor, claim_id = request.user, obj.pk
        if name == "start":
            return services.claim_start_processing(actor=actor, claim_id=claim_id)
        if name == "approve":
            return services.claim_approve(
                actor=actor, claim_id=claim_id, amount=data[ApproveForm.amount_field(obj)], note=data.get("note", "")
            )
        if name == "deny":
            return services.claim_deny(actor=actor, claim_id=claim_id, reason=data["reason"])
        if name == "assign_me":
            return services.claim_assign(actor=actor, claim_id=claim_id, assignee_id=actor.pk)
        if name == "paid":
            return services.claim_mark_paid(actor=actor, claim_id=claim_id)
        if name == "close":
            return services.claim_close(actor=actor, claim_id=claim_id)
        if name == "reopen":
            return services.claim_reopen(actor=actor, claim_id=claim_id, reason=data["reason"])
        raise ValueError(name)

    # --- changelist actions -------------------------------------------------------------------------------
    @admin.action(description="Start processing selected claims", permissions=["process"])
    def start_processing(self, request, queryset):
        return self.run_transition_action(request, queryset, "start", done="moved to processing")

    @admin.action(description="Approve selected claims…", permissions=["decide"])
    def approve_claims(self, request, queryset):
        return self.run_transition_action(request, queryset, "approve", done="approved")

    @admin.action(description="Deny selected claims…", permissions=["decide"])
    def deny_claims(self, request, queryset):
        return self.run_transition_action(request, queryset, "deny", done="denied")

    @admin.action(description="Assign selected claims to me", permissions=["process"])
    def assign_to_me(self, request, queryset):
        return self.run_transition_action(request, queryset, "assign_me", done="assigned to you")

    @admin.action(description="Mark selected claims paid", permissions=["decide"])
    def mark_paid(self, request, queryset):
        return self.run_transition_action(request, queryset, "paid", done="marked paid")

    @admin.action(description="Close selected claims", permissions=["decide"])
    def close_claims(self, request, queryset):
        return self.run_transition_action(request, queryset, "close", done="closed")

    @admin.action(description="Reopen selected claims…", permissions=["reopen"])
    def reopen_claims(self, request, queryset):
        return self.run_transition_action(request, queryset, "reopen", done="reopened")
