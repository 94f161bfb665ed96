"""Claims in the back office (SPEC §2.4, §2.5, §4).

Add and change call claim_create/claim_update. Status, amounts and the decision are read-only: they change
only through the transitions (object buttons and changelist actions), built from claims.services.
CLAIM_TRANSITIONS, each guarded by its row's claims.* permission and calling the same service as the API.
Documents are uploaded in the inline through claim_document_add and downloaded only through a
permission-checked view.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.forms.models import BaseInlineFormSet
from django.http import FileResponse, Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.html import format_html

from claims import services
from claims.documents import human_size
from claims.financials.admin import FINANCIAL_INLINES, ClaimFinancialsAdminMixin
from claims.forms import ClaimChangeForm, ClaimCreateForm, DocumentUploadForm
from claims.models import Claim, ClaimDocument, ClaimEvent
from customers.search import customers_matching
from vanguard.accounts.authority import authority_limit
from vanguard.accounts.permissions import can
from vanguard.accounts.roles import CLAIMS_ADJUSTER, CLAIMS_MANAGER
from vanguard.admin import ReadOnlyInlineMixin, Transition, VanguardModelAdmin, money_column, refusal_text
from vanguard.admin_search import PostedSearchMixin
from vanguard.core.errors import DomainError
from vanguard.core.money import format_money
from vanguard.core.numbers import is_number
from vanguard.history import EventDataInlineMixin

S = Claim.Status
CUSTOMER_PII = (
    "policy__customer__phone",
    "policy__customer__date_of_birth",
    "policy__customer__address",
    "policy__customer__ssn",
)


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
            ("mine", "Mine"),
            ("none", "Unassigned"),
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


class ClaimDocumentInline(ReadOnlyInlineMixin, admin.TabularInline):
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
    # The configured limit, read when the page is drawn (settings may change it, tests do).
    verbose_name_plural = lazy(
        lambda: f"upload documents (JPEG, PNG, GIF, PDF, DOC, DOCX; {human_size(settings.DOCUMENT_MAX_BYTES)} at most)",
        str,
    )()

    def get_queryset(self, request):
        return super().get_queryset(request).none()

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_add_permission(request, obj)


class ClaimEventInline(EventDataInlineMixin, ReadOnlyInlineMixin, admin.TabularInline):
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
class ClaimAdmin(ClaimFinancialsAdminMixin, PostedSearchMixin, VanguardModelAdmin):
    # Fits a 1440 px screen beside the navigation and the filters: nothing wraps (vanguard/admin.css), the
    # assignee by name, the age in days.
    list_display = ("claim", "policy_link", "customer_name", "type", "money_claimed", "status", "assignee", "age")
    list_select_related = ("policy", "policy__customer", "assigned_to")
    list_filter = (
        ClaimStatusFilter,
        "claim_type",
        AssigneeFilter,
        AgeFilter,
        ("incident_date", admin.DateFieldListFilter),
    )
    search_fields = (
        "=claim_number",
        "=policy__policy_number",
        "policy__customer__last_name",
        "policy__customer__first_name",
        "policy__customer__email",
    )
    search_help_text = "Claim or policy number (exact), or the customer's name or email."
    autocomplete_fields = ("policy", "assigned_to")
    ordering = ("-created_at",)
    # The money (claims.financials.admin) after the documents, before the events that tell its story.
    inlines = (ClaimDocumentInline, ClaimDocumentUploadInline, *FINANCIAL_INLINES, ClaimEventInline)
    inlines_on_add = (ClaimDocumentUploadInline,)
    transitions = services.CLAIM_TRANSITIONS  # buttons, pages, actions and their permissions

    def get_queryset(self, request: HttpRequest):
        # The customer is shown by name: never fetch (and decrypt) their encrypted columns here.
        return (
            super()
            .get_queryset(request)
            .select_related("policy", "policy__customer", "assigned_to")
            .defer(*CUSTOMER_PII)
        )

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        term = search_term.strip().upper()
        # An exact reference uses its unique index instead of a text scan over customers' names.
        if is_number(term, "CLM"):
            return queryset.filter(claim_number=term), False
        if is_number(term, "POL"):
            return queryset.filter(policy__policy_number=term), False
        if not term:
            return super().get_search_results(request, queryset, search_term)
        # Customers first, on their own trigram-indexed columns (see PolicyAdmin.get_search_results); the words
        # keep their case as typed (icontains ignores it anyway). Their claims then come from the claims' own
        # customer column (claims_customer_created_idx), with no join through the policies.
        customers = customers_matching(search_term.strip()).values("pk")
        return queryset.filter(customer_id__in=customers), False

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        # The "all claims of this policy" links, and of a customer as made before claims carried their customer
        # (customer__id__exact, one relation deep, Django allows by itself).
        if lookup in {"policy__customer__id__exact", "policy__id__exact"}:
            return True
        return super().lookup_allowed(lookup, value, request)

    # --- list columns -----------------------------------------------------------------------------------
    @admin.display(description="Policy", ordering="policy__policy_number")
    def policy_link(self, obj: Claim):
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:policies_policy_change", args=[obj.policy_id]),
            obj.policy.policy_number,
        )

    @admin.display(description="Customer", ordering="policy__customer__last_name")
    def customer_name(self, obj: Claim):
        customer = obj.policy.customer
        return format_html(
            '<a href="{}" title="{}">{}</a>',
            reverse("admin:customers_customer_change", args=[customer.pk]),
            customer.full_name,
            customer.full_name,
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
            (
                None,
                {
                    "fields": (
                        "claim_number",
                        "policy_link",
                        "customer_name",
                        "claim_type",
                        "incident_date",
                        "reported_date",
                        "age_days",
                    )
                },
            ),
            (
                "Amount and decision",
                {
                    "fields": (
                        "money_claim_amount",
                        "status",
                        "money_approved",
                        "decision_reason",
                        "processed_date",
                        "decided_by",
                    )
                },
            ),
            ("Financials", {"fields": ("financials",)}),
            ("Handling", {"fields": ("assigned_to", "description", "created_by")}),
            ("Record", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        readonly = [
            "claim_number",
            "policy_link",
            "customer_name",
            "claim_type",
            "incident_date",
            "reported_date",
            "age_days",
            "money_claim_amount",
            "status",
            "money_approved",
            "decision_reason",
            "processed_date",
            "decided_by",
            "financials",
            "created_by",
            "created_at",
            "updated_at",
        ]
        if obj.status not in services.EDITABLE:
            readonly.append("description")
        assignable = services.CLAIM_TRANSITIONS["assign_me"].allows(obj.status)  # settled claims keep their handler
        if not (can(request.user, "claims.assign_claim") and assignable):
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
                    actor=request.user,
                    claim_id=form.instance.pk,
                    fileobj=upload,
                    filename=upload.name,
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

    # --- transitions (claims.services.CLAIM_TRANSITIONS) ------------------------------------------------------
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
        if transition.name == "approve":  # the user's own limit: not a line the table can hold
            limit = authority_limit(request.user)
            authority = "unlimited" if limit is None else format_money(limit)
            return [
                f"Your approval authority: {authority} per claim. An approval may not exceed the amount "
                "claimed or the policy's coverage."
            ]
        return super().transition_notes(request, transition, objects)
