"""Admin form plumbing shared by the apps: forms whose validation ends in a service call.

The admin must never save a domain model itself (STYLE.md: services own every write). A
`ServiceModelForm` validates its fields as usual, then calls its service inside a savepoint as the
last step of validation. A refusal (DomainError or Django ValidationError) becomes a form error on
the named field, or a non-field error, and the savepoint leaves nothing behind. `save()` only
returns what the service wrote.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import transaction

from vanguard.errors import DomainError

# Service arguments whose names differ from the form fields that carry them.
FIELD_ALIASES = {"policy_id": "policy", "customer_id": "customer", "assignee_id": "assigned_to"}


class ServiceModelForm(forms.ModelForm):
    actor = None  # set on the per-request form class by the ModelAdmin's get_form()

    def call_service(self) -> Any:
        """Run the service(s) for `self.cleaned_data`; return the saved instance."""
        raise NotImplementedError

    def _post_clean(self) -> None:
        # Model validation is the service's job (it runs full_clean with its own friendly messages),
        # so the ModelForm's own instance validation is skipped on purpose.
        if self.errors:
            return
        if not self.instance._state.adding and not self.has_changed():
            return
        try:
            with transaction.atomic():
                self.instance = self.call_service()
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

    def add_service_error(self, field: str | None, messages: list[str]) -> None:
        field = FIELD_ALIASES.get(field, field)
        if field in (None, "__all__") or field not in self.fields:
            label = "" if field in (None, "__all__") else f"{field.replace('_', ' ').capitalize()}: "
            for message in messages:
                self.add_error(None, f"{label}{message}")
        else:
            for message in messages:
                self.add_error(field, message)

    def save(self, commit: bool = True):
        # The service already wrote the row; the admin's save_model/save_m2m have nothing left to do.
        self.save_m2m = lambda: None
        return self.instance


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=2000)
