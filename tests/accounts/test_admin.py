"""Staff users in the admin: password rules on the add form, roles and authority, the hidden system actor."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from tests import factories
from tests.admin_support import count_queries
from vanguard.accounts import roles
from vanguard.accounts.models import User, system_actor

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:accounts_user_changelist")
ADD = reverse("admin:accounts_user_add")


def add_data(**overrides) -> dict:
    roles.bootstrap_roles()
    data = {
        "email": "New.Adjuster@Vanguard.test",
        "full_name": "Nia Adjuster",
        "password1": "Stronger-Pass-2024!",
        "password2": "Stronger-Pass-2024!",
        "groups": [str(Group.objects.get(name=roles.CLAIMS_ADJUSTER).pk)],
        "authority_limit": "2500.00",
    }
    data.update(overrides)
    return data


def test_superuser_adds_a_staff_user_with_a_role_and_an_authority_limit(client, superuser):
    # given
    client.force_login(superuser)
    # when
    response = client.post(ADD, add_data())
    # then
    assert response.status_code == 302
    user = User.objects.get(email="new.adjuster@vanguard.test")
    assert user.check_password("Stronger-Pass-2024!")
    assert list(user.groups.values_list("name", flat=True)) == [roles.CLAIMS_ADJUSTER]
    assert user.authority_limit == Decimal("2500.00") and user.is_staff


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short-1A!", "This password is too short"),
        ("alllowercase-and-long-1", "The password must contain an upper-case letter, one of !@#$%^&amp;*."),
    ],
)
def test_the_add_form_enforces_the_password_policy(client, superuser, password, message):
    # given
    client.force_login(superuser)
    # when
    response = client.post(ADD, add_data(password1=password, password2=password))
    # then
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.filter(email="new.adjuster@vanguard.test").exists()


def test_a_duplicate_email_in_another_case_is_refused(client, superuser):
    # given
    factories.UserFactory(email="new.adjuster@vanguard.test")
    client.force_login(superuser)
    # when
    response = client.post(ADD, add_data())
    # then
    assert response.status_code == 200
    assert "A staff user with this email address already exists." in response.content.decode()


def test_the_system_actor_is_never_listed_or_editable(client, superuser):
    # given
    robot = system_actor()
    client.force_login(superuser)
    # when
    listing = client.get(CHANGELIST)
    change = client.get(reverse("admin:accounts_user_change", args=[robot.pk]))
    # then
    assert robot not in list(listing.context["cl"].result_list)
    assert change.status_code == 302  # "doesn't exist" — back to the index
    robot.refresh_from_db()
    assert robot.is_system and not robot.is_active


def test_the_list_shows_roles_and_effective_authority(client, superuser, manager):
    # given
    factories.staff(roles.CLAIMS_ADJUSTER, authority_limit=Decimal("1234.00"))
    client.force_login(superuser)
    # when
    html = client.get(CHANGELIST).content.decode()
    # then
    assert "Claims manager" in html and "100,000.00 EUR (role default)" in html
    assert "1,234.00 EUR (own limit)" in html and "unlimited" in html


def test_compliance_officer_may_view_staff_but_change_nothing(client, compliance_officer, adjuster):
    # given
    client.force_login(compliance_officer)
    url = reverse("admin:accounts_user_change", args=[adjuster.pk])
    # when
    view = client.get(url)
    post = client.post(url, {"email": adjuster.email, "full_name": "Changed", "is_superuser": "on"})
    # then
    assert view.status_code == 200 and 'name="_save"' not in view.content.decode()
    assert post.status_code == 403
    adjuster.refresh_from_db()
    assert adjuster.full_name != "Changed" and not adjuster.is_superuser


def test_claims_managers_can_look_up_assignees_but_not_browse_staff(client, manager, adjuster):
    # given
    client.force_login(manager)
    lookup = reverse("admin:autocomplete") + "?app_label=claims&model_name=claim&field_name=assigned_to&term="
    # when
    found = client.get(lookup + adjuster.email[:6])
    listing = client.get(CHANGELIST)
    # then
    assert found.status_code == 200
    assert str(adjuster.pk) in [row["id"] for row in found.json()["results"]]
    assert listing.status_code == 403


def test_adjusters_cannot_look_up_assignees(client, adjuster):
    # given
    client.force_login(adjuster)
    lookup = reverse("admin:autocomplete") + "?app_label=claims&model_name=claim&field_name=assigned_to&term=a"
    # when
    response = client.get(lookup)
    # then
    assert response.status_code == 403


def test_nobody_deletes_staff_users(client, superuser, adjuster):
    # given
    client.force_login(superuser)
    # when
    response = client.post(reverse("admin:accounts_user_delete", args=[adjuster.pk]), {"post": "yes"})
    # then
    assert response.status_code == 403
    assert User.objects.filter(pk=adjuster.pk).exists()


def test_changelist_runs_the_same_number_of_queries_for_2_and_22_users(client, superuser):
    # given
    factories.staff(roles.CLAIMS_ADJUSTER)
    client.force_login(superuser)
    client.get(CHANGELIST)
    # when
    with_two = count_queries(client, CHANGELIST)
    for role in (roles.CLAIMS_ADJUSTER, roles.CLAIMS_MANAGER, roles.UNDERWRITER, roles.CUSTOMER_SERVICE) * 5:
        factories.staff(role)
    with_twenty_two = count_queries(client, CHANGELIST)
    # then
    assert with_two == with_twenty_two


@pytest.mark.parametrize(
    "email",
    [
        "new.adjuster@vanguard.test\u200b",
        "\u200bNew.Adjuster@Vanguard.test",
        "\uff4eew.adjuster@vanguard.test",
        "new.adjuster@vanguard\u00ad.test",
    ],
)
def test_a_look_alike_of_an_existing_staff_email_is_refused(client, superuser, email):
    # given
    factories.UserFactory(email="new.adjuster@vanguard.test")
    client.force_login(superuser)
    # when
    response = client.post(ADD, add_data(email=email))
    # then
    assert response.status_code == 200
    assert "A staff user with this email address already exists." in response.content.decode()
    assert User.objects.filter(email__icontains="adjuster").count() == 1


def test_a_staff_email_typed_with_invisible_characters_is_stored_plain(client, superuser):
    # given
    client.force_login(superuser)
    # when
    response = client.post(ADD, add_data(email="\ufeffNew.Adjuster@Vanguard.test\u200b"))
    # then
    assert response.status_code == 302
    assert User.objects.filter(email="new.adjuster@vanguard.test").exists()


def test_changing_a_staff_email_to_a_look_alike_of_another_is_refused(client, superuser, adjuster, manager):
    # given
    client.force_login(superuser)
    url = reverse("admin:accounts_user_change", args=[adjuster.pk])
    form = client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "password"}
    data.update(
        {"email": manager.email + "\u200b", "groups": [g.pk for g in adjuster.groups.all()], "user_permissions": []}
    )
    # when
    response = client.post(url, data)
    # then
    assert response.status_code == 200
    assert "A staff user with this email address already exists." in response.content.decode()
    adjuster.refresh_from_db()
    assert adjuster.email != manager.email


def test_the_assignee_picker_offers_only_people_who_can_handle_claims(client, manager, adjuster):
    # given: an underwriter and a deactivated adjuster match the term too
    underwriter = factories.staff(roles.UNDERWRITER, email="pick-underwriter@vanguard.test")
    gone = factories.staff(roles.CLAIMS_ADJUSTER, email="pick-gone@vanguard.test", is_active=False)
    handler = factories.staff(roles.CLAIMS_ADJUSTER, email="pick-adjuster@vanguard.test", full_name="Pia Picker")
    client.force_login(manager)
    lookup = reverse("admin:autocomplete") + "?app_label=claims&model_name=claim&field_name=assigned_to&term=pick-"
    # when
    results = client.get(lookup).json()["results"]
    # then: the adjuster only, labelled with name, e-mail and role
    ids = [row["id"] for row in results]
    assert str(handler.pk) in ids and str(underwriter.pk) not in ids and str(gone.pk) not in ids
    label = next(row["text"] for row in results if row["id"] == str(handler.pk))
    assert label == "Pia Picker (pick-adjuster@vanguard.test) · Claims adjuster"
