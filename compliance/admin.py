"""Read-only compliance views (SPEC §4 "Audit", §7.1, §7.3): the audit trail and the PII access log.

Compliance officers browse and filter both; nobody — superusers included — can add, change or delete a
row here. django-auditlog registers its own LogEntry admin for the swapped model (with a free-text search
over the change sets, which hold personal data); it is replaced by this one.
"""

from __future__ import annotations

import json

from auditlog.mixins import LogEntryAdminMixin
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from compliance.models import AuditCheckpoint, AuditEntry, AuditVerification, PIIAccessLog
from vanguard.admin import EstimatedCountPaginator
from vanguard.admin_search import PostedSearchMixin

if admin.site.is_registered(AuditEntry):
    admin.site.unregister(AuditEntry)

ENCRYPTED_CUSTOMER_FIELDS = ("customer__phone", "customer__date_of_birth", "customer__address", "customer__ssn")


class ReadOnlyAdmin(admin.ModelAdmin):
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 100
    actions = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(PostedSearchMixin, LogEntryAdminMixin, ReadOnlyAdmin):
    list_display = ("seq", "timestamp", "action", "content_type", "object_repr", "actor_email", "remote_addr",
                    "cid")
    list_display_links = ("seq", "timestamp")
    list_filter = ("action", "content_type", ("timestamp", admin.DateFieldListFilter), "actor")
    # Exact and prefix lookups only: a free-text search over change sets would scan the table and match
    # personal data.
    search_fields = ("=object_pk", "=cid", "^actor_email", "^object_repr")
    search_help_text = "Object id, correlation id (exact), actor e-mail or object name (starts with)."
    list_select_related = ("content_type",)
    ordering = ("-seq",)
    fieldsets = (
        (None, {"fields": ("seq", "timestamp", "action", "resource_url", "object_pk", "object_repr")}),
        ("Who and where", {"fields": ("actor", "actor_email", "remote_addr", "remote_port", "cid")}),
        ("Changes", {"fields": ("msg", "pretty_additional_data")}),
        ("Tamper evidence", {"fields": ("prev_hash", "entry_hash"), "classes": ("collapse",)}),
    )
    readonly_fields = ("seq", "timestamp", "action", "resource_url", "object_pk", "object_repr", "actor",
                       "actor_email", "remote_addr", "remote_port", "cid", "msg", "pretty_additional_data",
                       "prev_hash", "entry_hash")

    @admin.display(description="Additional data")
    def pretty_additional_data(self, obj: AuditEntry) -> str:
        if not obj.additional_data:
            return "-"
        return format_html("<pre>{}</pre>", json.dumps(obj.additional_data, indent=2, sort_keys=True))


@admin.register(PIIAccessLog)
class PIIAccessLogAdmin(PostedSearchMixin, ReadOnlyAdmin):
    list_display = ("created_at", "actor", "customer_link", "fields_shown", "interface", "remote_addr", "request_id")
    list_filter = ("interface", ("created_at", admin.DateFieldListFilter), "actor")
    search_fields = ("=customer__id", "^customer__email", "^actor__email", "=request_id")
    search_help_text = "Customer id (exact), customer or staff e-mail (starts with), request id (exact)."
    list_select_related = ("actor", "customer")
    ordering = ("-created_at", "-id")
    fields = ("created_at", "actor", "customer_link", "fields_shown", "interface", "remote_addr", "request_id")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest):
        # The customer is shown by name and e-mail only: do not fetch and decrypt their encrypted columns.
        return super().get_queryset(request).defer(*ENCRYPTED_CUSTOMER_FIELDS)

    @admin.display(description="Customer", ordering="customer__last_name")
    def customer_link(self, obj: PIIAccessLog) -> str:
        url = reverse("admin:customers_customer_change", args=[obj.customer_id])
        return format_html('<a href="{}">{}</a>', url, obj.customer)

    @admin.display(description="Fields shown in clear")
    def fields_shown(self, obj: PIIAccessLog) -> str:
        return ", ".join(obj.fields or [])


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "seq", "entry_hash", "entries")
    ordering = ("-created_at",)


@admin.register(AuditVerification)
class AuditVerificationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "ok", "entries", "head_seq", "breaks", "first_break")
    list_filter = ("ok",)
    ordering = ("-created_at",)
