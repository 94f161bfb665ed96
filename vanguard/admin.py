"""The Vanguard back office: the admin site (branding, dashboard) and the ModelAdmin base every app uses.

What the base gives each domain admin:
- the History link opens django-auditlog's history of the object (what changed, by whom, with redactions);
- nothing is ever deleted through the admin (financial records and personal data leave only through
  services: cancellation, closure, GDPR erasure);
- forms only validate (vanguard.forms.ServiceModelForm); the view calls the form's service after
  `is_valid()` and shows a refusal on the form; when the page comes back with any error — the main form or an
  inline — the whole request's writes are rolled back, so a refusal saves nothing;
- transitions as object buttons on the change page and as changelist actions, both calling the same
  service per object, catching each refusal and reporting it with the rule that refused it. An app declares
  them once, in its services' transition table (vanguard.core.transitions); the buttons, pages, actions and their
  permission checks are built from its rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

from auditlog.mixins import AuditlogHistoryAdminMixin
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connections, router, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import cached_property, lazy
from django.utils.module_loading import import_string
from django.utils.text import capfirst

from vanguard.core.errors import DomainError
from vanguard.core.money import format_money
from vanguard.core.pagination import estimated_rows
from vanguard.core.transitions import Transition, TransitionTable
from vanguard.forms import ServiceModelForm, TransitionForm

# A changelist action runs one service call per object; beyond this many, staff should narrow the filter
# (or an operator should use a command) rather than hold a request open for minutes.
MAX_ACTION_OBJECTS = 500


# Below this many rows an exact COUNT(*) is cheap and the planner's estimate may be stale.
ESTIMATE_COUNT_ABOVE = 50_000


# Filtered and searched changelists count exactly up to this many rows (20 pages of 50), the planner's estimate
# beyond. Lower than the API's threshold: a changelist search joins claims to policies to customers, and a small
# LIMIT lets the planner pick index lookups that stop early over a hash join of every policy.
COUNT_EXACTLY_UP_TO = 1_000
# From this offset on a page first picks its primary keys, then loads those rows with their joins.
DEFERRED_JOIN_FROM = 1_000


class EstimatedCountPaginator(Paginator):
    """An unfiltered changelist of a big table shows PostgreSQL's row estimate instead of counting
    every row on each page view. Filtered and searched lists are counted exactly up to COUNT_EXACTLY_UP_TO
    rows, and estimated by the planner beyond (a search for a common surname must not count 25,000 rows).

    A deep page (page 200 is OFFSET 9,950) would otherwise join every skipped row to its policy, customer and
    assignee only to throw it away; it selects the page's primary keys on the table alone (the ordering index),
    then loads just those rows with the joins: one more query, a constant number of joined rows."""

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        if bottom < DEFERRED_JOIN_FROM or not isinstance(self.object_list, QuerySet):
            return super().page(number)
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        # values_list drops select_related; the ordering (and any join it needs) stays.
        keys = list(self.object_list.values_list("pk", flat=True)[bottom:top])
        return self._get_page(self.object_list.filter(pk__in=keys), number, self)

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        query = getattr(queryset, "query", None)
        if query is not None and not query.where and not query.combinator:
            connection = connections[queryset.db]
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
                        [queryset.model._meta.db_table],
                    )
                    row = cursor.fetchone()
                if row and row[0] is not None and row[0] > ESTIMATE_COUNT_ABOVE:
                    return int(row[0])
        if isinstance(queryset, QuerySet) and connections[queryset.db].vendor == "postgresql":
            # A filter or search matching much of a big table: count up to COUNT_EXACTLY_UP_TO rows (the LIMIT
            # also steers the planner to index lookups that can stop early), the planner's estimate beyond.
            counted = queryset.order_by().values("pk")[: COUNT_EXACTLY_UP_TO + 1].count()
            if counted > COUNT_EXACTLY_UP_TO:
                return max(estimated_rows(queryset), counted)
            return counted
        return super().count


class LabelledAutocompleteJsonView(AutocompleteJsonView):
    """The admin's autocomplete, each result labelled by its ModelAdmin's `autocomplete_label(obj)` where there is
    one (a policy with its customer, type, status and term), so staff see what they pick; `__str__`, used
    everywhere else, stays short. serialize_result is Django's documented hook for this."""

    def serialize_result(self, obj: Any, to_field_name: str) -> dict:
        result = super().serialize_result(obj, to_field_name)
        label = getattr(self.model_admin, "autocomplete_label", None)
        if label is not None:
            result["text"] = label(obj)
        return result


class VanguardAdminSite(admin.AdminSite):
    site_header = "Vanguard back office"
    site_title = "Vanguard back office"
    index_title = "Dashboard"
    index_template = "admin/vanguard/index.html"
    site_url = None  # there is no public site to "view"

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        from vanguard.dashboard import dashboard_for

        context = {"dashboard": dashboard_for(request.user), **(extra_context or {})}
        return super().index(request, context)

    def autocomplete_view(self, request: HttpRequest) -> HttpResponse:
        return LabelledAutocompleteJsonView.as_view(admin_site=self)(request)


def is_autocomplete_for(request: HttpRequest, app_label: str, model_name: str, field_name: str) -> bool:
    """True on the admin autocomplete request that fills `app_label.model_name.field_name`."""
    return (
        request.path == reverse("admin:autocomplete")
        and request.GET.get("app_label") == app_label
        and request.GET.get("model_name") == model_name
        and request.GET.get("field_name") == field_name
    )


def short_date(value: Any) -> str:
    """A day as staff read it ("27 Oct 2025"), in the current time zone; "—" when there is none."""
    if value is None:
        return "—"
    if hasattr(value, "tzinfo") and timezone.is_aware(value):
        value = timezone.localtime(value)
    return date_format(value, "j M Y")


def term_text(start: Any, end: Any) -> str:
    return f"{short_date(start)} \N{EN DASH} {short_date(end)}"


def money_column(field: str, description: str, *, code_in_header: bool = True) -> Callable[[Any, Any], str]:
    """A column showing `field` as money, sortable, right-aligned by vanguard/admin.css (which styles every
    column named money_*): ``money_premium = money_column("premium_amount", "Premium")``. In a list the
    currency code goes in the header ("Premium (EUR)", cells "405,266.00") so the columns fit a 1440 px
    screen; `code_in_header=False` puts it in the value ("405,266.00 EUR"), for a read-only form field."""
    header = lazy(lambda: f"{description} ({settings.CURRENCY})", str)() if code_in_header else description

    @admin.display(description=header, ordering=field)
    def column(self: Any, obj: Any) -> str:
        return format_money(getattr(obj, field), currency=not code_in_header)

    return column


def refusal_text(exc: Exception) -> str:
    """The staff-facing text of a refused operation: the rule and, where there is one, the limit."""
    if isinstance(exc, DomainError):
        return exc.message
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return " ".join(
                f"{'' if name == '__all__' else name.replace('_', ' ').capitalize() + ': '}{message}"
                for name, errors in exc.message_dict.items()
                for message in errors
            )
        return " ".join(exc.messages)
    return str(exc)


class ReadOnlyInlineMixin:
    """An inline that only shows history (events, documents, a customer's policies): nothing is added, changed
    or deleted through it."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class _Refused(Exception):
    """The form's service refused its values: the page is built again with the refusal on the form."""

    def __init__(self, refusal: Exception):
        super().__init__(str(refusal))
        self.refusal = refusal


class _RollBack(Exception):
    """Leaves the savepoint of a service call made only to hear its refusals (the form already had errors)."""


class AuditHistoryMixin(AuditlogHistoryAdminMixin):
    """The object's History page is django-auditlog's (what changed, by whom, redacted), not the admin's log,
    with each entry in words (vanguard.history): labels, people and records by name, formatted values."""

    auditlog_history_template = "admin/vanguard/object_history.html"

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None):
        from vanguard.history import readable_entries, record_name

        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            # auditlog's view would ask for the history of None (a 500): answer like the change page does.
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        # The record as staff name it (a customer by name, a policy by number), not its __str__ with e-mail.
        name = record_name(obj)
        extra_context = {"title": f"History of {name}", "history_record": name, **(extra_context or {})}
        response = self.auditlog_history_view(request, object_id, extra_context)
        # auditlog builds the page of entries (with the actor joined); its TemplateResponse is still unrendered,
        # so the readable rows are added to its context here (relies on auditlog's "log_entries" context key).
        context = response.context_data
        context["history_rows"] = readable_entries(context["log_entries"], request=request, model=self.model)
        return response


class VanguardModelAdmin(AuditHistoryMixin, admin.ModelAdmin):
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    change_form_template = "admin/vanguard/change_form.html"
    action_form_template = "admin/vanguard/action_form.html"
    # The app's transition table (its services' CLAIM_TRANSITIONS...), or a tuple of Transitions whose
    # perform_transition the admin writes itself.
    transitions: TransitionTable | tuple[Transition, ...] = ()
    inlines_on_add: tuple = ()  # inlines are history (events, policies...): nothing to show before the row exists

    def get_inlines(self, request: HttpRequest, obj: Any):
        return self.inlines if obj is not None else self.inlines_on_add

    # --- permissions ---------------------------------------------------------------------------------
    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # --- forms: they validate; the view calls their service -------------------------------------------
    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.actor = request.user  # a fresh class per call: safe per request
        if issubclass(form, ServiceModelForm):
            form.refusal = getattr(request, "_vanguard_refusal", None)
        return form

    def save_form(self, request, form, change):
        """After `is_valid()`: the form's service writes the row (Django's own save_form would only build it).
        A refusal leaves through _Refused, and changeform_view builds the page again with it on the form."""
        if not isinstance(form, ServiceModelForm) or not form.needs_service():
            return super().save_form(request, form, change)
        try:
            form.instance = form.call_service()
        except (DomainError, ValidationError, ObjectDoesNotExist) as exc:
            raise _Refused(exc) from exc
        return form.save(commit=False)  # the saved instance; nothing left for save_m2m

    def save_model(self, request, obj, form, change) -> None:
        """save_form's service already wrote the row."""

    def save_formset(self, request, form, formset, change) -> None:
        """Inlines are read-only unless an admin says otherwise: never save them behind the services."""
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method != "POST":
            return super().changeform_view(request, object_id, form_url, extra_context)
        with transaction.atomic(using=router.db_for_write(self.model)):
            try:
                response = super().changeform_view(request, object_id, form_url, extra_context)
            except _Refused as refused:
                # Django's view wrote nothing that survived (its own atomic block left with the exception): the
                # same page again, the form reporting the refusal as its errors.
                request._vanguard_refusal = refused.refusal
                response = super().changeform_view(request, object_id, form_url, extra_context)
            context = getattr(response, "context_data", None) or {}
            if context.get("errors"):
                # The page comes back with errors (main form or an inline): keep none of its writes.
                transaction.set_rollback(True)
        return response

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        form = getattr(context.get("adminform"), "form", None)
        if isinstance(form, ServiceModelForm) and form.is_bound and form.errors and form.refusal is None:
            self._hear_the_service(form)
            inline_formsets = [inline.formset for inline in context.get("inline_admin_formsets", [])]
            context["errors"] = helpers.AdminErrorList(form, inline_formsets)
        if obj is not None and change:
            context["transitions"] = self.available_transitions(request, obj)
            context["object_tools"] = self.extra_object_tools(request, obj)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def _hear_the_service(self, form: ServiceModelForm) -> None:
        """Every error at once: the form has errors of its own, so the service is asked only for its refusals
        (consent, cover, premium...), whenever every value is there, in a savepoint that keeps nothing."""
        if form.service_values is None:
            return  # a value is missing or unreadable: the service cannot be asked yet
        kept = form.cleaned_data
        form.cleaned_data = form.service_values
        try:
            with transaction.atomic():
                form.call_service()
                raise _RollBack
        except _RollBack:
            pass
        except (DomainError, ValidationError, ObjectDoesNotExist) as exc:
            form.add_refusal(exc)
        finally:
            form.cleaned_data = {name: value for name, value in kept.items() if name not in form.errors}

    def extra_object_tools(self, request: HttpRequest, obj: Any) -> list[dict[str, str]]:
        """Links ({"label", "url"}) shown beside the transitions on the change page."""
        return []

    # --- transitions: from the app's table ------------------------------------------------------------
    def admin_transitions(self) -> list[Transition]:
        """The transitions the back office offers (a row without a label is for jobs and the API only)."""
        return [transition for transition in self.transitions if transition.label]

    def get_transition(self, name: str) -> Transition | None:
        return next((t for t in self.admin_transitions() if t.name == name), None)

    def has_transition(self, request: HttpRequest, transition: Transition, obj: Any = None) -> bool:
        if "." in transition.permission:  # a permission codename, as the service requires it
            return request.user.has_perm(transition.permission)
        check = getattr(self, f"has_{transition.permission}_permission")
        return bool(check(request, obj) if obj is not None else check(request))

    def get_actions(self, request: HttpRequest):
        """The ModelAdmin's own actions, then one changelist action per transition row that has one, offered to
        those who hold the row's permission."""
        actions = super().get_actions(request)
        if self.actions is None or IS_POPUP_VAR in request.GET:
            return actions
        for transition in self.admin_transitions():
            if transition.action and self.has_transition(request, transition):
                actions[transition.action] = (
                    self._transition_action(transition),
                    transition.action,
                    transition.action_label,
                )
        return actions

    @staticmethod
    def _transition_action(transition: Transition) -> Callable[[Any, HttpRequest, Any], Any]:
        def action(modeladmin: VanguardModelAdmin, request: HttpRequest, queryset):
            return modeladmin.run_transition_action(request, queryset, transition.name, done=transition.done_many)

        action.__name__ = transition.action
        return action

    def available_transitions(self, request: HttpRequest, obj: Any) -> list[dict[str, Any]]:
        status = getattr(obj, "status", None)
        shown = []
        for transition in self.admin_transitions():
            if not transition.allows(status):
                continue
            if not self.has_transition(request, transition, obj):
                continue
            shown.append(
                {
                    "name": transition.name,
                    "label": transition.label,
                    "has_form": transition.form is not None,
                    "url": reverse(self._admin_url("transition"), args=[obj.pk, transition.name]),
                }
            )
        return shown

    def _admin_url(self, suffix: str) -> str:
        return f"admin:{self.opts.app_label}_{self.opts.model_name}_{suffix}"

    def get_urls(self):
        urls = [
            path(
                "<path:object_id>/transition/<str:name>/",
                self.admin_site.admin_view(self.transition_view),
                name=f"{self.opts.app_label}_{self.opts.model_name}_transition",
            ),
        ]
        return urls + super().get_urls()

    def transition_view(self, request: HttpRequest, object_id: str, name: str) -> HttpResponse:
        transition = self.get_transition(name)
        obj = get_object_or_404(self.get_queryset(request), pk=object_id) if transition else None
        if transition is None or obj is None:
            raise PermissionDenied
        if not self.has_transition(request, transition, obj):
            raise PermissionDenied
        change_url = reverse(self._admin_url("change"), args=[obj.pk])
        form = None

        def form_page() -> TemplateResponse:
            return self.render_transition_form(
                request, transition, [obj], form, post_url=request.get_full_path(), cancel_url=change_url
            )

        if transition.form is not None:
            form = self.transition_form(request, transition, [obj])
            if request.method != "POST" or not form.is_valid():
                return form_page()
        elif request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        inputs = form.inputs(obj) if form is not None else {}
        label = self.message_label(obj)  # before the service: an erasure rewrites the record
        try:
            result = self.perform_transition(request, transition.name, obj, inputs)
        except (DomainError, ValidationError) as exc:
            if form is not None and form.fields:
                # Keep what was typed: the same form again, with the rule that refused it.
                form.add_error(None, refusal_text(exc))
                return form_page()
            self.message_user(request, f"{label}: {refusal_text(exc)}", messages.ERROR)
            return HttpResponseRedirect(change_url)
        self.message_user(request, transition.success_message(label, result), messages.SUCCESS)
        target = result if result is not None and result.pk != obj.pk else obj
        return HttpResponseRedirect(reverse(self._admin_url("change"), args=[target.pk]))

    def message_label(self, obj: Any) -> str:
        """How a record is named in messages and on its transition page (never personal data beyond a name)."""
        return str(obj)

    def transition_summary(self, request: HttpRequest, obj: Any) -> list[tuple[str, str]]:
        """The record's key figures shown on a transition page, as (label, value) pairs."""
        return [(capfirst(self.opts.verbose_name), self.message_label(obj))]

    def transition_notes(self, request: HttpRequest, transition: Transition, objects: list) -> list[str]:
        """Lines shown above a transition's form: what it does (the row's note), the user's own limit..."""
        return [transition.note] if transition.note else []

    def render_transition_form(
        self,
        request: HttpRequest,
        transition: Transition,
        objects: list,
        form: forms.Form,
        *,
        action: str | None = None,
        post_url: str = "",
        cancel_url: str = "",
    ) -> TemplateResponse:
        submit = transition.submit_label(len(objects))
        if len(objects) == 1:
            title = f"{submit}: {self.message_label(objects[0])}"
        else:
            title = f"{submit}: {len(objects)} {self.opts.verbose_name_plural} selected"
        return self.render_action_form(
            request,
            objects,
            form,
            title=title,
            submit_label=submit,
            action=action,
            post_url=post_url,
            cancel_url=cancel_url,
            notes=self.transition_notes(request, transition, objects),
            records=[self.transition_summary(request, obj) for obj in objects],
        )

    def transition_form(self, request: HttpRequest, transition: Transition, objects: list) -> TransitionForm:
        """The row's form for these records, bound to the POST once its page was submitted ("apply")."""
        data = request.POST if request.method == "POST" and "apply" in request.POST else None
        return import_string(transition.form)(data, objects=objects)

    def perform_transition(self, request: HttpRequest, name: str, obj: Any, data: dict) -> Any:
        """Call the transition's service for one object with the form's inputs; return the resulting object."""
        if not isinstance(self.transitions, TransitionTable):
            raise NotImplementedError("An admin without a transition table performs its own transitions.")
        return self.transitions.run(name, actor=request.user, pk=obj.pk, **data)

    # --- changelist actions ---------------------------------------------------------------------------
    def apply_each(
        self,
        request: HttpRequest,
        objects: Iterable,
        operation: Callable[[Any], Any],
        *,
        done: str,
        refusals: list[str] | None = None,
    ) -> int:
        """Run `operation` per object (each service call is its own transaction); apply the valid ones
        and report every refusal with its rule (into `refusals` when given, else as messages).
        Returns how many succeeded."""
        succeeded = 0
        for obj in objects:
            label = self.message_label(obj)
            try:
                operation(obj)
            except (DomainError, ValidationError) as exc:
                text = f"{label}: {refusal_text(exc)}"
                if refusals is None:
                    self.message_user(request, text, messages.ERROR)
                else:
                    refusals.append(text)
            else:
                succeeded += 1
        if succeeded:
            noun = self.opts.verbose_name if succeeded == 1 else self.opts.verbose_name_plural
            self.message_user(request, f"{capfirst(done)}: {succeeded} {noun}.", messages.SUCCESS)
        return succeeded

    def limited(self, request: HttpRequest, queryset) -> list | None:
        """The selected objects, or None (with a message) when there are too many for one request."""
        objects = list(queryset[: MAX_ACTION_OBJECTS + 1])
        if len(objects) > MAX_ACTION_OBJECTS:
            self.message_user(
                request,
                f"Select at most {MAX_ACTION_OBJECTS} {self.opts.verbose_name_plural} for one action; "
                "narrow the filter and repeat.",
                messages.WARNING,
            )
            return None
        return objects

    def run_transition_action(self, request: HttpRequest, queryset, name: str, *, done: str):
        """A changelist action for a transition: ask for its inputs when it has a form, then apply it to
        every selected object."""
        transition = self.get_transition(name)
        objects = self.limited(request, queryset)
        if objects is None:
            return None
        form = None

        def form_page() -> TemplateResponse:
            return self.render_transition_form(
                request,
                transition,
                objects,
                form,
                action=request.POST.get("action"),
                cancel_url=reverse(self._admin_url("changelist")),
            )

        if transition.form is not None:
            form = self.transition_form(request, transition, objects)
            if "apply" not in request.POST or not form.is_valid():
                return form_page()
        refusals: list[str] = []
        outcomes: list[tuple[str, Any]] = []

        def operation(obj: Any) -> None:
            label = self.message_label(obj)
            result = self.perform_transition(request, name, obj, form.inputs(obj) if form is not None else {})
            outcomes.append((label, result))

        self.apply_each(request, objects, operation, done=done, refusals=refusals)
        if refusals and not outcomes and form is not None and form.fields:
            # Every record refused: keep what was typed and show why, on the same form.
            for text in refusals:
                form.add_error(None, text)
            return form_page()
        # A transition that writes a new record (a renewal) names each one.
        selected = {obj.pk for obj in objects}
        created = [
            f"{label} as {result}"
            for label, result in outcomes
            if result is not None and getattr(result, "pk", None) not in selected
        ]
        if created:
            self.message_user(request, f"{capfirst(done)}: " + ", ".join(created) + ".", messages.INFO)
        for text in refusals:
            self.message_user(request, text, messages.ERROR)
        return None

    def render_action_form(
        self,
        request: HttpRequest,
        objects: list,
        form: forms.Form,
        *,
        title: str,
        submit_label: str,
        action: str | None = None,
        post_url: str = "",
        cancel_url: str = "",
        intro: str = "",
        notes: list[str] | None = None,
        records: list[list[tuple[str, str]]] | None = None,
    ) -> TemplateResponse:
        form.required_css_class = "required"  # the admin's bold labels for required fields
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.opts,
            "objects": objects,
            "form": form,
            "action": action,
            "post_url": post_url,
            "cancel_url": cancel_url,
            "submit_label": submit_label,
            "intro": intro,
            "notes": notes or [],
            "records": records or [],
            "media": self.media + form.media,
        }
        return TemplateResponse(request, self.action_form_template, context)
