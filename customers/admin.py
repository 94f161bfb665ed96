"""Customers in the back office (SPEC §2.2, §4, §7.2, §7.3).

PII rules: the list shows only masked contact data. The change form shows phone, birth date and
address in clear only to users with `customers.view_pii`, and the SSN only to users with
`customers.view_ssn`; everyone else gets read-only masked values and no form field at all, so the
clear value is neither in the page nor writable. Every change view that shows PII in clear writes a
PII access row. Encrypted fields never appear in list_display, search, filters or ordering.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from customers import pii
from customers.forms import CustomerAdminForm
from customers.models import Customer
from customers.search import DIGITS_ONLY_ID, is_sensitive_term, looks_like_ssn
from policies.models import Policy
from vanguard.accounts.permissions import can
from vanguard.admin import (
    ReadOnlyInlineMixin,
    Transition,
    VanguardModelAdmin,
    is_autocomplete_for,
    money_column,
    refusal_text,
    short_date,
    term_text,
)
from vanguard.admin_search import PostedSearchMixin
from vanguard.core.errors import DomainError
from vanguard.core.money import format_money
from vanguard.core.net import client_ip
from vanguard.core.numbers import is_number

CONTACT_FIELDS = ("phone", "date_of_birth", "address")
MASKED_CONTACT_FIELDS = ("masked_phone", "masked_date_of_birth", "masked_address")
EXPORT_MAX = 50
CLAIMS_SHOWN = 20


class PolicyInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = Policy
    fk_name = "customer"
    fields = ("policy_number", "policy_type", "status", "money_premium", "money_coverage", "term")
    readonly_fields = fields
    show_change_link = True
    ordering = ("-start_date",)
    money_premium = money_column("premium_amount", "Premium")
    money_coverage = money_column("coverage_amount", "Coverage")

    @admin.display(description="Term")
    def term(self, obj: Policy) -> str:
        return term_text(obj.start_date, obj.end_date)


class ErasureFilter(admin.SimpleListFilter):
    title = "erasure"
    parameter_name = "erased"

    def lookups(self, request, model_admin):
        return (("no", "Not erased"), ("yes", "Erased (GDPR)"))

    def queryset(self, request, queryset):
        if self.value() in ("no", "yes"):
            return queryset.filter(erased_at__isnull=self.value() == "no")
        return queryset


@admin.register(Customer)
class CustomerAdmin(PostedSearchMixin, VanguardModelAdmin):
    form = CustomerAdminForm
    list_display = ("full_name_display", "email_display", "masked_phone", "consent_status", "customer_since")
    list_display_links = ("full_name_display", "email_display")
    list_filter = ("gdpr_consent", ("created_at", admin.DateFieldListFilter), ErasureFilter)
    search_fields = ("last_name", "first_name", "email")
    search_help_text = "Name or email (partial), policy number (POL-…) or national id (exact)."
    ordering = ("-created_at",)
    date_hierarchy = None
    inlines = (PolicyInline,)
    actions = ("export_personal_data", "erase_personal_data")
    transitions = (
        Transition(
            "erase",
            "Erase (GDPR)…",
            "erase",
            form="customers.forms.EraseForm",
            submit="Erase personal data",
            # Never the person's name or e-mail: the message outlives the erasure (session, screenshots).
            done="Personal data erased. The customer is kept anonymised with their policies and claims.",
        ),
    )

    # --- list ---------------------------------------------------------------------------------------------
    def get_queryset(self, request: HttpRequest):
        queryset = super().get_queryset(request)
        if getattr(request, "_customer_changelist", False):
            # The list shows the masked phone only: do not fetch and decrypt the other encrypted columns.
            queryset = queryset.defer("date_of_birth", "address", "ssn")
        return queryset

    def is_sensitive_search(self, term: str) -> bool:
        # Every term the other admins keep out of the URL (e-mails, phone numbers and digit runs), and anything
        # shaped like a national id too (letters and digits, "AB123456C").
        return super().is_sensitive_search(term) or is_sensitive_term(term)

    def changelist_view(self, request, extra_context=None):
        request._customer_changelist = True
        return super().changelist_view(request, extra_context)

    @admin.display(description="Name", ordering="last_name")
    def full_name_display(self, obj: Customer) -> str:
        return "Erased customer" if obj.is_erased else obj.full_name

    @admin.display(description="Email", ordering="email")
    def email_display(self, obj: Customer) -> str:
        # An erased customer's address is a placeholder (erased-<id>@erased.invalid): nothing to read, and too
        # long for the column.
        return "—" if obj.is_erased else obj.email

    @admin.display(description="GDPR consent", ordering="gdpr_consent")
    def consent_status(self, obj: Customer) -> str:
        # An erasure keeps the consent flag as it was (SPEC §7.2 changes only the personal values), but a ticked
        # "consent" beside an anonymised record misleads: say what applies.
        # One word, so the column stays narrow; the dates are on the change page.
        if obj.is_erased:
            return "Erased"
        if obj.gdpr_consent_withdrawn_at and not obj.gdpr_consent:
            return "Withdrawn"
        return "Given" if obj.gdpr_consent else "Not given"

    @admin.display(description="Customer since", ordering="created_at")
    def customer_since(self, obj: Customer) -> str:
        return short_date(obj.created_at)

    @admin.display(description="Phone")
    def masked_phone(self, obj: Customer) -> str:
        return obj.phone_masked or "-"

    @admin.display(description="Date of birth")
    def masked_date_of_birth(self, obj: Customer) -> str:
        return pii.mask_text(obj.date_of_birth) or "-"

    @admin.display(description="Address")
    def masked_address(self, obj: Customer) -> str:
        return pii.mask_text(obj.address) or "-"

    @admin.display(description="National id (SSN)")
    def masked_ssn(self, obj: Customer) -> str:
        return obj.ssn_masked or "-"

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        """Name and email as usual; a policy number or a national id matches exactly, the national id
        through its blind index (the encrypted column itself cannot be searched)."""
        if is_autocomplete_for(request, "policies", "policy", "customer"):
            # Writing a policy: erased customers cannot take out new business.
            queryset = queryset.filter(erased_at__isnull=True)
        term = search_term.strip()
        if request.path == reverse("admin:autocomplete"):
            # The autocomplete widget sends what is typed as `?term=` in a GET: it never matches a national id or
            # an e-mail (the changelist's search box posts those), so there is no reason to type one there.
            if is_sensitive_term(term):
                return queryset.none(), False
            return super().get_search_results(request, queryset, search_term)
        if is_number(term, "POL"):
            # A reference number is never part of a name or email: skip the (unindexed) text scan.
            holders = Policy.objects.filter(policy_number=term.upper()).values("customer_id")
            return queryset.filter(pk__in=holders), False
        if DIGITS_ONLY_ID.match(term):
            return queryset.filter(ssn_hash=pii.ssn_hash(term)), False
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if looks_like_ssn(term):  # e.g. "AB123456C": could also be part of an email, so both
            results = results | queryset.filter(ssn_hash=pii.ssn_hash(term))
        return results, may_have_duplicates

    # --- change form --------------------------------------------------------------------------------------
    def get_fieldsets(self, request: HttpRequest, obj: Customer | None = None):
        user = request.user
        if obj is None:
            # Adding: staff type what the customer gives them; there is no stored value to disclose.
            contact, national_id = CONTACT_FIELDS, ("ssn",)
        else:
            contact = CONTACT_FIELDS if user.has_perm("customers.view_pii") else MASKED_CONTACT_FIELDS
            national_id = ("ssn",) if user.has_perm("customers.view_ssn") else ("masked_ssn",)
        consent = (
            ("gdpr_consent",)
            if obj is None
            else (
                "consent_status" if obj.is_erased else "gdpr_consent",
                "gdpr_consent_date",
                "gdpr_consent_withdrawn_at",
                "data_retention_date",
            )
        )
        fieldsets = [
            (None, {"fields": ("first_name", "last_name", "email")}),
            ("Contact details (encrypted at rest)", {"fields": contact}),
            ("National id (encrypted at rest)", {"fields": national_id}),
            ("GDPR", {"fields": consent}),
        ]
        if obj is not None:
            if user.has_perm("claims.view_claim"):
                fieldsets.append(("Claims", {"fields": ("claims_summary",)}))
            fieldsets.append(
                (
                    "Record",
                    {
                        "fields": ("erased_at", "pii_encrypted", "encryption_key_id", "created_at", "updated_at"),
                        "classes": ("collapse",),
                    },
                )
            )
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Customer | None = None):
        readonly = [
            *MASKED_CONTACT_FIELDS,
            "masked_ssn",
            "gdpr_consent_date",
            "gdpr_consent_withdrawn_at",
            "data_retention_date",
            "erased_at",
            "pii_encrypted",
            "encryption_key_id",
            "created_at",
            "updated_at",
            "claims_summary",
            "consent_status",
        ]
        if obj is not None:
            readonly.append("email")  # the lookup key: not changeable (customer_update refuses it)
        return readonly

    def has_change_permission(self, request: HttpRequest, obj: Customer | None = None) -> bool:
        if obj is not None and obj.is_erased:
            return False  # an erased customer is read-only
        return super().has_change_permission(request, obj)

    def has_export_permission(self, request: HttpRequest, obj: Customer | None = None) -> bool:
        return can(request.user, "customers.export_customer")

    def has_erase_permission(self, request: HttpRequest, obj: Customer | None = None) -> bool:
        if obj is not None and obj.is_erased:
            return False
        return can(request.user, "customers.erase_customer")

    @admin.display(description="Claims")
    def claims_summary(self, obj: Customer):
        from claims.models import Claim

        claims = list(
            Claim.objects.filter(policy__customer=obj)
            .select_related("policy")
            .only(
                "pk", "claim_number", "claim_type", "claim_amount", "status", "reported_date", "policy__policy_number"
            )
            .order_by("-reported_date")[: CLAIMS_SHOWN + 1]
        )
        if not claims:
            return "No claims."
        rows = format_html_join(
            "",
            "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td class='vanguard-money'>{}</td><td>{}</td>"
            "<td>{}</td></tr>",
            (
                (
                    reverse("admin:claims_claim_change", args=[claim.pk]),
                    claim.claim_number,
                    claim.policy.policy_number,
                    claim.get_claim_type_display(),
                    format_money(claim.claim_amount),
                    claim.get_status_display(),
                    f"{claim.reported_date:%Y-%m-%d}",
                )
                for claim in claims[:CLAIMS_SHOWN]
            ),
        )
        more = ""
        if len(claims) > CLAIMS_SHOWN:
            url = reverse("admin:claims_claim_changelist") + f"?customer__id__exact={obj.pk}"
            more = format_html("<p><a href='{}'>All claims of this customer →</a></p>", url)
        return format_html(
            "<table class='vanguard-related'><thead><tr><th>Claim</th><th>Policy</th><th>Type</th>"
            "<th class='vanguard-money'>Amount</th>"
            "<th>Status</th><th>Reported</th></tr></thead><tbody>{}</tbody></table>{}",
            rows,
            more,
        )

    def save_model(self, request: HttpRequest, obj: Customer, form, change: bool) -> None:
        """The service saved the customer. A national id another live customer already has is accepted (a
        duplicate record or a typing error is for staff to resolve, and refusing would block the real person
        behind a mistyped record) but warned about, naming the other customers with a link, never the id."""
        from customers.selectors import customers_sharing_national_id

        if "ssn" not in form.changed_data:
            return
        others = customers_sharing_national_id(customer=obj)
        if others:
            links = format_html_join(
                ", ",
                '<a href="{}">{}</a>',
                ((reverse("admin:customers_customer_change", args=[other.pk]), other.full_name) for other in others),
            )
            self.message_user(
                request,
                format_html(
                    "Saved, but this national id is also recorded for {}. Two people do not share a national id: "
                    "check it for a typing error, or whether the customer was entered twice.",
                    links,
                ),
                messages.WARNING,
            )

    def clear_pii_fields(self, request: HttpRequest, obj: Customer) -> list[str]:
        """The PII fields this user sees in clear on this customer's change page."""
        shown = []
        if request.user.has_perm("customers.view_pii"):
            shown += [name for name in CONTACT_FIELDS if getattr(obj, name) not in (None, "")]
        if request.user.has_perm("customers.view_ssn") and obj.ssn:
            shown.append("ssn")
        return shown

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if change and obj is not None and not obj.is_erased:
            shown = self.clear_pii_fields(request, obj)
            if shown:
                from compliance.services import pii_access_record

                pii_access_record(
                    actor=request.user,
                    customer_id=obj.pk,
                    fields=shown,
                    interface="admin",
                    remote_addr=client_ip(request),
                )
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    # --- GDPR: export and erasure -----------------------------------------------------------------------
    def get_urls(self):
        return [
            path(
                "<path:object_id>/export/",
                self.admin_site.admin_view(self.export_view),
                name="customers_customer_export",
            ),
            *super().get_urls(),
        ]

    def extra_object_tools(self, request: HttpRequest, obj: Customer) -> list[dict[str, str]]:
        if not self.has_export_permission(request, obj):
            return []
        return [{"label": "Export personal data", "url": reverse("admin:customers_customer_export", args=[obj.pk])}]

    def available_transitions(self, request, obj):
        if obj.is_erased:
            return []
        shown = super().available_transitions(request, obj)
        erase = next((t for t in shown if t["name"] == "erase"), None)
        if erase is not None:
            from compliance.services import customer_legal_hold

            # The erasure service would refuse: offer the button disabled, with the service's own reason.
            erase["disabled_reason"] = customer_legal_hold(customer_id=obj.pk)
        return shown

    def export_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        customer = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_export_permission(request, customer):
            raise PermissionDenied
        return self._export_response(request, [customer])

    def _export_response(self, request: HttpRequest, customers: list[Customer]) -> HttpResponse | None:
        from compliance.services import customer_export

        exports = []
        for customer in customers:
            try:
                exports.append(
                    customer_export(
                        actor=request.user, customer_id=customer.pk, interface="admin", remote_addr=client_ip(request)
                    )
                )
            except DomainError as exc:
                self.message_user(request, f"{self.message_label(customer)}: {refusal_text(exc)}", messages.ERROR)
        if not exports:
            return None
        body = exports[0] if len(exports) == 1 else {"customers": exports}
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        name = f"customer-{customers[0].pk}" if len(exports) == 1 else f"customers-{len(exports)}"
        response = HttpResponse(
            json.dumps(body, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False),
            content_type="application/json; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="{name}-export-{stamp}.json"'
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Export personal data (JSON download)", permissions=["export"])
    def export_personal_data(self, request: HttpRequest, queryset):
        customers = list(queryset[: EXPORT_MAX + 1])
        if len(customers) > EXPORT_MAX:
            self.message_user(request, f"Export at most {EXPORT_MAX} customers at a time.", messages.WARNING)
            return None
        return self._export_response(request, customers)

    @admin.action(description="Erase personal data (GDPR)…", permissions=["erase"])
    def erase_personal_data(self, request: HttpRequest, queryset):
        return self.run_transition_action(request, queryset, "erase", done="erased")

    def message_label(self, obj: Customer) -> str:
        return obj.full_name  # not __str__: messages carry no e-mail address

    def transition_summary(self, request: HttpRequest, obj: Customer) -> list[tuple[str, str]]:
        from claims.models import Claim

        return [
            ("Customer", obj.full_name),
            ("Customer since", short_date(obj.created_at)),
            ("Policies", f"{obj.policies.count():,}"),
            ("Claims", f"{Claim.objects.filter(policy__customer=obj).count():,}"),
        ]

    def transition_notes(self, request: HttpRequest, transition: Transition, objects: list) -> list[str]:
        if transition.name != "erase":
            return []
        return [
            "Erasure anonymises the customer: names, email, phone, birth date, address and national id are "
            "removed for good; policies and claims are kept as financial records. A customer with an active "
            "policy or an open claim is under legal hold and will be refused. This cannot be undone."
        ]

    def perform_transition(self, request: HttpRequest, name: str, obj: Customer, data: dict):
        from compliance.services import customer_erase

        if name == "erase":
            return customer_erase(actor=request.user, customer_id=obj.pk, interface="admin", reason=data["reason"])
        raise PermissionDenied
