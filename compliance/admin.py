"""Read-only compliance views (SPEC §4 "Audit", §7.1, §7.3): the audit trail and the PII access log.

Compliance officers browse and filter both; nobody — superusers included — can add, change or delete a
row here. django-auditlog registers its own LogEntry admin for the swapped model (with a free-text search
over the change sets, which hold personal data); it is replaced by this one.
"""

from __future__ import annotations

from auditlog.mixins import LogEntryAdminMixin
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst

from compliance.models import AuditCheckpoint, AuditEntry, AuditVerification, PIIAccessLog
from vanguard.admin import EstimatedCountPaginator
from vanguard.admin_search import PostedSearchMixin
from vanguard.history import changes_table, person, readable_additional_data, readable_entries

if admin.site.is_registered(AuditEntry):
    admin.site.unregister(AuditEntry)

ENCRYPTED_CUSTOMER_FIELDS = ("customer__phone", "customer__date_of_birth", "customer__address", "customer__ssn")


class AuditedModelFilter(admin.RelatedFieldListFilter):
    """The audit trail's "content type" filter offers the audited models only, not every framework table."""

    def field_choices(self, field, request, model_admin):
        from auditlog.registry import auditlog
        from django.contrib.contenttypes.models import ContentType

        types = ContentType.objects.get_for_models(*auditlog.get_models()).values()
        return sorted(((ct.pk, capfirst(ct.model_class()._meta.verbose_name)) for ct in types), key=lambda c: c[1])


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
    list_display = ("seq", "timestamp", "action", "content_type", "object_repr", "actor_email", "remote_addr", "cid")
    list_display_links = ("seq", "timestamp")
    list_filter = ("action", ("content_type", AuditedModelFilter), ("timestamp", admin.DateFieldListFilter), "actor")
    # Exact and prefix lookups only: a free-text search over change sets would scan the table and match
    # personal data.
    search_fields = ("=object_pk", "=cid", "^actor_email", "^object_repr")
    search_help_text = "Object id, correlation id (exact), actor e-mail or object name (starts with)."
    list_select_related = ("content_type",)
    ordering = ("-seq",)
    fieldsets = (
        (None, {"fields": ("seq", "timestamp", "action", "resource_url", "object_pk", "object_repr")}),
        ("Who and where", {"fields": ("actor_display", "actor_email", "remote_addr", "remote_port", "cid")}),
        ("Changes", {"fields": ("msg", "pretty_additional_data")}),
        ("Tamper evidence", {"fields": ("prev_hash", "entry_hash"), "classes": ("collapse",)}),
    )
    readonly_fields = (
        "seq",
        "timestamp",
        "action",
        "resource_url",
        "object_pk",
        "object_repr",
        "actor_display",
        "actor_email",
        "remote_addr",
        "remote_port",
        "cid",
        "msg",
        "pretty_additional_data",
        "prev_hash",
        "entry_hash",
    )

    @admin.display(description="Changes")
    def msg(self, obj: AuditEntry) -> str:
        # The same readable table as the object's History page (labels, names, formatted values), not
        # auditlog's raw one. No request here: related records are always linked; their own admin decides who
        # may open them.
        return changes_table(readable_entries([obj]))

    @admin.display(description="Actor")
    def actor_display(self, obj: AuditEntry) -> str:
        return person(obj.actor) if obj.actor_id else (obj.actor_email or "System")

    @admin.display(description="Additional data")
    def pretty_additional_data(self, obj: AuditEntry) -> str:
        pairs = readable_additional_data(obj.additional_data)
        if not pairs:
            return "-"
        return format_html(
            "<dl class='vanguard-additional-data'>{}</dl>",
            format_html_join("", "<dt>{}</dt><dd>{}</dd>", pairs),
        )


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
