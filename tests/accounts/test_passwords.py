"""The staff password policy (SPEC §6) on every path that sets a password: the admin's password-change form and
view, the add-user form, set_password with validation, `changepassword` and `createsuperuser --noinput`."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import NoReverseMatch, reverse

from vanguard.accounts.models import PasswordHistory, User

GOOD = [
    "Harbour-Lantern-71!",
    "Granite#Meadow-82",
    "Velvet$Orchard-93",
    "Copper&Thistle-14",
    "Saffron*Bridge-25",
    "Juniper@Falcon-36",
]

RULES = [
    pytest.param("Sh0rt!Pw", "password_too_short", id="length"),
    pytest.param("harbour-lantern-71!", "password_character_classes", id="upper-case"),
    pytest.param("HARBOUR-LANTERN-71!", "password_character_classes", id="lower-case"),
    pytest.param("Harbour-Lantern-XY!", "password_character_classes", id="digit"),
    pytest.param("HarbourLantern71x", "password_character_classes", id="special"),
    pytest.param("Password1234", "password_too_common", id="common"),
    pytest.param("MargaretOakley1!", "password_too_similar", id="similar-to-name"),
    pytest.param("Margaret.Oakley@vanguard1", "password_too_similar", id="similar-to-email"),
]


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    # The policy, not the hash cost, is under test: the history check hashes up to six candidates per validation.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff_user(db):
    # Through the manager, as every real path does: set_password + save, which records the first history row.
    return User.objects.create_user("margaret.oakley@vanguard.test", GOOD[0], full_name="Margaret Oakley")


def _codes(exc: ValidationError) -> set[str]:
    return {error.code for error in exc.error_list}


@pytest.mark.parametrize(("password", "code"), RULES)
def test_each_rule_refuses_through_validate_password(staff_user, password, code):
    # when
    with pytest.raises(ValidationError) as exc:
        validate_password(password, staff_user)
    # then
    assert code in _codes(exc.value)


@pytest.mark.parametrize(("password", "code"), RULES)
def test_each_rule_refuses_through_the_admin_password_change_form(staff_user, password, code):
    # when
    form = AdminPasswordChangeForm(staff_user, data={"password1": password, "password2": password})
    # then
    assert not form.is_valid()
    assert code in {error.code for error in form.errors.as_data()["password2"]}
    staff_user.refresh_from_db()
    assert staff_user.check_password(GOOD[0])


def test_a_compliant_password_is_accepted_and_recorded(staff_user):
    # when
    form = AdminPasswordChangeForm(staff_user, data={"password1": GOOD[1], "password2": GOOD[1]})
    assert form.is_valid(), form.errors
    form.save()
    # then
    staff_user.refresh_from_db()
    assert staff_user.check_password(GOOD[1])
    assert PasswordHistory.objects.filter(user=staff_user).count() == 2  # the first password and this one


def test_none_of_the_last_five_passwords_can_be_reused(staff_user):
    # given: five passwords in use, one after another (GOOD[0] at creation, then four changes)
    for password in GOOD[1:5]:
        validate_password(password, staff_user)
        staff_user.set_password(password)
        staff_user.save()
    # then: each of the last five is refused, the current one included
    for password in GOOD[:5]:
        with pytest.raises(ValidationError) as exc:
            validate_password(password, staff_user)
        assert "password_reused" in _codes(exc.value)
    # when: a sixth password is set, the oldest drops out of the window
    staff_user.set_password(GOOD[5])
    staff_user.save()
    # then
    validate_password(GOOD[0], staff_user)
    with pytest.raises(ValidationError):
        validate_password(GOOD[1], staff_user)
    assert PasswordHistory.objects.filter(user=staff_user).count() == 5


def test_the_history_never_holds_a_plain_password(staff_user):
    # when
    staff_user.set_password(GOOD[1])
    staff_user.save()
    # then
    stored = list(PasswordHistory.objects.filter(user=staff_user).values_list("password", flat=True))
    assert stored and all(value.startswith(("pbkdf2_", "argon2", "bcrypt", "md5$")) for value in stored)
    assert not {GOOD[0], GOOD[1]} & set(stored)


def test_reuse_is_refused_through_the_admin_password_change_view(client, superuser, staff_user):
    # given
    try:
        url = reverse("admin:auth_user_password_change", args=[staff_user.pk])  # Django's UserAdmin names it so
    except NoReverseMatch:
        pytest.skip("the staff user admin is not registered")
    client.force_login(superuser)
    # when
    reused = client.post(url, {"password1": GOOD[0], "password2": GOOD[0]})
    weak = client.post(url, {"password1": "harbour-lantern", "password2": "harbour-lantern"})
    changed = client.post(url, {"password1": GOOD[2], "password2": GOOD[2]})
    # then
    assert reused.status_code == 200 and "last 5 passwords" in reused.content.decode()
    assert weak.status_code == 200
    assert changed.status_code == 302
    staff_user.refresh_from_db()
    assert staff_user.check_password(GOOD[2])


@pytest.mark.django_db
def test_the_add_user_form_applies_the_policy(client, superuser):
    # given
    try:
        url = reverse("admin:accounts_user_add")
    except NoReverseMatch:
        pytest.skip("the staff user admin is not registered")
    client.force_login(superuser)
    data = {"email": "new.hire@vanguard.test", "full_name": "New Hire"}
    # when
    weak = client.post(url, {**data, "password1": "short", "password2": "short"})
    # then
    assert weak.status_code == 200 and not User.objects.filter(email="new.hire@vanguard.test").exists()
    # when
    good = client.post(url, {**data, "password1": GOOD[3], "password2": GOOD[3]})
    # then
    assert good.status_code == 302
    user = User.objects.get(email="new.hire@vanguard.test")
    assert user.check_password(GOOD[3])
    assert PasswordHistory.objects.filter(user=user).count() == 1


def test_changepassword_command_applies_the_policy(staff_user):
    # given: the operator types a reused password twice, then a new compliant one twice
    answers = iter([GOOD[0], GOOD[0], GOOD[4], GOOD[4]])
    # when
    with mock.patch(
        "django.contrib.auth.management.commands.changepassword.getpass.getpass",
        side_effect=lambda *a, **k: next(answers),
    ):
        call_command("changepassword", staff_user.email, stdout=mock.MagicMock())
    # then
    staff_user.refresh_from_db()
    assert staff_user.check_password(GOOD[4])


@pytest.mark.django_db
def test_createsuperuser_noinput_refuses_a_weak_password_without_echoing_it(monkeypatch):
    # given
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "qwertyuiop123")
    # when
    with pytest.raises(CommandError) as exc:
        call_command("createsuperuser", "--noinput", email="root2@vanguard.test")
    # then
    assert "DJANGO_SUPERUSER_PASSWORD" in str(exc.value) and "too common" in str(exc.value)
    assert "qwertyuiop123" not in str(exc.value)
    assert not User.objects.filter(email="root2@vanguard.test").exists()


@pytest.mark.django_db
def test_createsuperuser_noinput_accepts_a_compliant_password_and_records_it(monkeypatch):
    # given
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", GOOD[5])
    # when
    call_command("createsuperuser", "--noinput", email="root3@vanguard.test", stdout=mock.MagicMock())
    # then
    user = User.objects.get(email="root3@vanguard.test")
    assert user.is_superuser and user.check_password(GOOD[5])
    assert PasswordHistory.objects.filter(user=user).count() == 1
