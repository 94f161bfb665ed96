"""The login-attempt log, read-only, for compliance officers (who hold the audit-trail permission)."""

from django.contrib import admin

from vanguard.admin_search import PostedSearchMixin
from vanguard.api_support.models import LoginAttempt

AUDIT_PERMISSION = "compliance.view_auditentry"


@admin.register(LoginAttempt)
class LoginAttemptAdmin(PostedSearchMixin, admin.ModelAdmin):
    list_display = ["created_at", "username", "ip_address", "outcome", "locked_by", "interface"]
    list_filter = ["outcome", "interface", "created_at"]
    search_fields = ["username", "ip_address"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = [f.name for f in LoginAttempt._meta.fields]

    # Whoever may read the audit trail may read the sign-in log; nobody edits or deletes it.
    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(AUDIT_PERMISSION) or super().has_view_permission(request, obj)

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
