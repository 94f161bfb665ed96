"""Staff users in the back office: email login, roles (groups) and the approval authority limit.

The system actor of scheduled jobs is not a person: it is never listed, shown or editable here.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest

from vanguard.accounts.forms import StaffChangeForm, StaffCreationForm
from vanguard.accounts.handlers import claims_handlers, handler_label
from vanguard.accounts.models import User
from vanguard.accounts.permissions import can
from vanguard.accounts.roles import role_authority_limit
from vanguard.admin import AuditHistoryMixin, is_autocomplete_for
from vanguard.admin_search import PostedSearchMixin
from vanguard.core.money import format_money


def _is_assignee_lookup(request: HttpRequest) -> bool:
    """The claims form's "assigned to" autocomplete (claims managers pick an adjuster by name)."""
    return is_autocomplete_for(request, "claims", "claim", "assigned_to")


@admin.register(User)
class UserAdmin(PostedSearchMixin, AuditHistoryMixin, DjangoUserAdmin):
    form = StaffChangeForm
    add_form = StaffCreationForm
    list_display = ("email", "full_name", "roles", "effective_authority", "is_active", "is_superuser", "last_login")
    list_filter = ("is_active", "is_superuser", "groups")
    search_fields = ("email", "full_name")
    ordering = ("email",)
    show_full_result_count = False
    filter_horizontal = ("groups", "user_permissions")
    readonly_fields = ("effective_authority", "last_login", "date_joined", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name",)}),
        ("Role and authority", {"fields": ("groups", "authority_limit", "effective_authority")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined", "created_at", "updated_at"), "classes": ("collapse",)}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "full_name", "password1", "password2")}),
        ("Role and authority", {"fields": ("groups", "authority_limit")}),
    )

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).filter(is_system=False).prefetch_related("groups")

    @admin.display(description="Roles")
    def roles(self, obj: User) -> str:
        return ", ".join(sorted(group.name for group in obj.groups.all())) or "-"

    @admin.display(description="Approval authority")
    def effective_authority(self, obj: User) -> str:
        # From the prefetched groups, not vanguard.accounts.authority (one query per row).
        if obj.is_superuser:
            return "unlimited"
        if obj.authority_limit is not None:
            return f"{format_money(obj.authority_limit)} (own limit)"
        return f"{format_money(role_authority_limit({group.name for group in obj.groups.all()}))} (role default)"

    def has_view_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        if super().has_view_permission(request, obj):
            return True
        # Claims managers may look staff up by name to assign a claim, without seeing the staff list.
        return obj is None and _is_assignee_lookup(request) and can(request.user, "claims.assign_claim")

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        if _is_assignee_lookup(request):
            # Only people who can handle claims: claim_assign refuses anyone else.
            queryset = claims_handlers(queryset)
        return super().get_search_results(request, queryset, search_term)

    def autocomplete_label(self, obj: User) -> str:
        roles = self.roles(obj)
        return f"{handler_label(obj)} · {roles}" if roles != "-" else handler_label(obj)

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        # Staff users are referenced by audit rows and decisions: deactivate them instead.
        return False
