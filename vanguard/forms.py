"""Admin form plumbing shared by the apps: forms whose validation ends in a service call.

The admin must never save a domain model itself (STYLE.md: services own every write). A
`ServiceModelForm` validates its fields as usual (the form fields and the model fields' validators,
every error at once), then calls its service inside a savepoint as the last step of validation. A
refusal (DomainError or Django ValidationError) becomes a form error on the named field, or a
non-field error, and the savepoint leaves nothing behind. `save()` only returns what the service wrote.
"""

from __future__ import annotations

import copy
from typing import Any

from django import forms
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import transaction
from django.forms.models import construct_instance

from vanguard.errors import DomainError

# Service arguments whose names differ from the form fields that carry them.
FIELD_ALIASES = {"policy_id": "policy", "customer_id": "customer", "assignee_id": "assigned_to"}


class _RollBack(Exception):
    """Leaves the service's savepoint when the form already had errors: a call made to collect its refusals
    must not keep its writes even if it succeeds."""


class ServiceModelForm(forms.ModelForm):
    actor = None  # set on the per-request form class by the ModelAdmin's get_form()

    def call_service(self) -> Any:
        """Run the service(s) for `self.cleaned_data`; return the saved instance."""
        raise NotImplementedError

    def _post_clean(self) -> None:
        # Every error at once: the model fields' own validators (formats such as the phone number or the
        # national id) run on every value that passed its form field, as a ModelForm does; then the service runs
        # whenever every value is there, so its rules (consent, cover, premium...) are reported in the same
        # round. Uniqueness and constraints stay the service's (it maps the database's refusal).
        if not self.instance._state.adding and not self.has_changed():
            return
        complete = all(name in self.cleaned_data for name in self.fields)
        values = dict(self.cleaned_data)
        self._validate_model_fields()  # add_error drops a refused value from cleaned_data
        if not complete:
            return  # a value is missing or unreadable: the service cannot be asked yet
        had_errors, kept = bool(self.errors), self.cleaned_data
        self.cleaned_data = values
        try:
            with transaction.atomic():
                result = self.call_service()
                if had_errors:
                    raise _RollBack
            self.instance = result
        except _RollBack:
            pass
        except DomainError as exc:
            self.add_service_error(exc.field, [exc.message])
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, messages in exc.message_dict.items():
                    self.add_service_error(field, messages)
            else:
                self.add_service_error(None, exc.messages)
        except ObjectDoesNotExist:
            self.add_service_error(None, ["The record no longer exists."])
        finally:
            if had_errors:
                self.cleaned_data = {k: v for k, v in kept.items() if k not in self.errors}

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
        # The service already wrote the row; the admin's save_model/save_m2m have nothing left to do.
        self.save_m2m = lambda: None
        return self.instance


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=2000)
