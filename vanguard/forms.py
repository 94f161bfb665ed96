"""Admin form plumbing shared by the apps: forms that only validate; the admin view writes through a service.

The admin must never save a domain model itself (STYLE.md: services own every write). A `ServiceModelForm`
validates its fields as usual (the form fields and the model fields' validators, every error at once) and names,
in `call_service()`, the service call its values make; it never runs it. The admin view
(vanguard.admin.VanguardModelAdmin) calls it after `is_valid()`, and turns a refusal (DomainError or Django
ValidationError) into errors on the named field, or non-field errors, through `add_refusal`. A
`TransitionForm` asks a transition's inputs and hands them over as the service's keyword arguments.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from django import forms
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.forms.models import construct_instance

from vanguard.core.errors import DomainError

# Service arguments whose names differ from the form fields that carry them.
FIELD_ALIASES = {"policy_id": "policy", "customer_id": "customer", "assignee_id": "assigned_to"}

Refusal = DomainError | ValidationError | ObjectDoesNotExist


class ServiceModelForm(forms.ModelForm):
    actor = None  # set on the per-request form class by the ModelAdmin's get_form()
    # Set on the per-request form class by the admin when the service refused these values: reported as this
    # form's errors, so the page comes back through the admin's usual path.
    refusal: Refusal | None = None
    # After validation: the values to call the service with (every field's, even one a model validator refused,
    # so the service's own rules are reported in the same round), or None when a value is missing or unreadable.
    service_values: dict[str, Any] | None = None

    def call_service(self) -> Any:
        """The service call(s) for `self.cleaned_data`, returning the saved instance. Run by the admin view."""
        raise NotImplementedError

    def needs_service(self) -> bool:
        """False for a change form with nothing changed: there is nothing to write."""
        return self.instance._state.adding or self.has_changed()

    def _post_clean(self) -> None:
        # Every error at once: the model fields' own validators (formats such as the phone number or the
        # national id) run on every value that passed its form field, as a ModelForm does. Uniqueness and
        # constraints stay the service's (it maps the database's refusal).
        if not self.needs_service():
            return
        complete = all(name in self.cleaned_data for name in self.fields)
        self.service_values = dict(self.cleaned_data) if complete else None
        self._validate_model_fields()  # add_error drops a refused value from cleaned_data
        if self.refusal is not None:
            self.add_refusal(self.refusal)

    def _validate_model_fields(self) -> None:
        """The model fields' validators on a copy of the instance (the service re-reads its own row). Uses
        ModelForm._get_validation_exclusions (Django-internal; the fields not on the form or already refused)."""
        candidate = construct_instance(self, copy.copy(self.instance), self._meta.fields, self._meta.exclude)
        exclude = self._get_validation_exclusions()
        if not self.instance._state.adding:
            # As the services do: an unchanged stored value is not re-judged by a newer format rule.
            exclude |= {name for name in self.fields if name not in self.changed_data}
        try:
            candidate.clean_fields(exclude=exclude)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_service_error(field, messages)

    def add_refusal(self, exc: Refusal) -> None:
        """A service's refusal as this form's errors: on the field it names, else above the form."""
        if isinstance(exc, DomainError):
            self.add_service_error(exc.field, [exc.message])
        elif isinstance(exc, ValidationError):
            if hasattr(exc, "error_dict"):
                for field, messages in exc.message_dict.items():
                    self.add_service_error(field, messages)
            else:
                self.add_service_error(None, exc.messages)
        else:
            self.add_service_error(None, ["The record no longer exists."])

    def add_service_error(self, field: str | None, messages: list[str]) -> None:
        field = FIELD_ALIASES.get(field, field)
        if field in (None, "__all__") or field not in self.fields:
            label = "" if field in (None, "__all__") else f"{field.replace('_', ' ').capitalize()}: "
            for message in messages:
                self.add_error(None, f"{label}{message}")
        else:
            for message in messages:
                if message not in self.errors.get(field, []):  # the service may repeat a validator's message
                    self.add_error(field, message)

    def save(self, commit: bool = True):
        # The admin view already wrote the row through the service; save_model/save_m2m have nothing left to do.
        self.save_m2m = lambda: None
        return self.instance


class TransitionForm(forms.Form):
    """The inputs a transition asks for on its page, for one record or a changelist selection (`objects`). It
    only validates; `inputs(obj)` hands the admin the service's keyword arguments for one record (by default
    the cleaned fields, named as the service names them)."""

    def __init__(self, data=None, *, objects: Sequence[Any] = (), **kwargs):
        super().__init__(data, **kwargs)
        self.objects = list(objects)

    def inputs(self, obj: Any) -> dict[str, Any]:
        return dict(self.cleaned_data)


class ConfirmForm(TransitionForm):
    """Nothing to type: the transition's page only asks for confirmation before the change."""
