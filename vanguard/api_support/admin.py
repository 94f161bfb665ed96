"""The login-attempt log, read-only, for compliance officers (who hold the audit-trail permission); staff who may
lift a lockout (claims managers, superusers) read it too and lift locks from it with an audited action."""

from django.contrib import admin, messages

from vanguard.accounts.lockout import lockout_lift
from vanguard.admin_search import PostedSearchMixin
from vanguard.api_support.models import LoginAttempt
from vanguard.core.errors import DomainError

AUDIT_PERMISSION = "compliance.view_auditentry"
LIFT_PERMISSION = "api_support.lift_lockout"


@admin.register(LoginAttempt)
class LoginAttemptAdmin(PostedSearchMixin, admin.ModelAdmin):
    list_display = ["created_at", "username", "ip_address", "outcome", "locked_by", "interface", "lifted_by"]
    list_filter = ["outcome", "interface", "created_at"]
    list_select_related = ["lifted_by"]
    search_fields = ["username", "ip_address"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = [f.name for f in LoginAttempt._meta.fields]
    actions = ["lift_lockout"]

    # Whoever may read the audit trail may read the sign-in log; nobody edits or deletes it.
    def has_view_permission(self, request, obj=None):
        return (
            request.user.has_perm(AUDIT_PERMISSION)
            or request.user.has_perm(LIFT_PERMISSION)
            or super().has_view_permission(request, obj)
        )

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_lift_permission(self, request):
        return request.user.has_perm(LIFT_PERMISSION)

    @admin.action(
        description="Lift the lockout of the selected account names (and locked addresses)", permissions=["lift"]
    )
    def lift_lockout(self, request, queryset):
        """One lift per distinct account name and per address that locked a selected attempt; each is recorded
        by the service. Messages count them and name no one (account names are personal data)."""
        names = {name for name in queryset.values_list("username", flat=True) if name}
        addresses = {str(ip) for ip in queryset.filter(locked_by="ip").values_list("ip_address", flat=True) if ip}
        locked = {"account": 0, "ip": 0}
        for username, ip in [(name, "") for name in sorted(names)] + [("", ip) for ip in sorted(addresses)]:
            try:
                for scope in lockout_lift(actor=request.user, username=username, ip=ip, request=request):
                    locked[scope] += 1
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return
        parts = [f"{count} account name{'s' if count != 1 else ''}" for count in [locked["account"]] if count]
        parts += [f"{count} address{'es' if count != 1 else ''}" for count in [locked["ip"]] if count]
        if parts:
            self.message_user(
                request, f"Lockout lifted for {' and '.join(parts)}; they may sign in again now.", messages.SUCCESS
            )
        else:
            self.message_user(
                request, "Nothing was locked; the failure counts were cleared and the lift recorded.", messages.INFO
            )
