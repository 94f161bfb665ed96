"""Staff user forms for the admin: email login, password rules of SPEC §6 (AUTH_PASSWORD_VALIDATORS)."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm

from vanguard.accounts.models import User


def _clean_email(form: forms.ModelForm) -> str:
    email = User.objects.normalize_email(form.cleaned_data.get("email") or "").lower()
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

    def clean_email(self) -> str:
        return _clean_email(self)


class StaffChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"

    def clean_email(self) -> str:
        return _clean_email(self)
