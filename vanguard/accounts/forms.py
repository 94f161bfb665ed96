"""Staff user forms for the admin: email login, password rules of SPEC §6 (AUTH_PASSWORD_VALIDATORS)."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm

from vanguard.accounts.models import User
from vanguard.core.emails import NormalisedEmailField, normalise_email


def _clean_email(form: forms.ModelForm) -> str:
    email = normalise_email(form.cleaned_data.get("email"))
    clash = User.objects.filter(email__iexact=email)
    if form.instance.pk is not None:
        clash = clash.exclude(pk=form.instance.pk)
    if email and clash.exists():
        raise forms.ValidationError("A staff user with this email address already exists.")
    return email


class StaffCreationForm(BaseUserCreationForm):
    """New staff user: email, name, and a password checked by every configured validator (length,
    character classes, common passwords, similarity to the email or name)."""

    class Meta:
        model = User
        fields = ("email", "full_name")
        field_classes = {"email": NormalisedEmailField}  # look-alikes are one address (vanguard.core.emails)

    def clean_email(self) -> str:
        return _clean_email(self)


class StaffChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"
        field_classes = {"email": NormalisedEmailField}

    def clean_email(self) -> str:
        return _clean_email(self)
