"""The outbox backlog, read-only, for superusers: what is waiting and what keeps failing."""

from django.contrib import admin

from vanguard.outbox.models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ["id", "task", "created_at", "available_at", "attempts", "last_error"]
    list_filter = ["task", "last_error"]
    ordering = ["available_at", "id"]
    show_full_result_count = False
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
