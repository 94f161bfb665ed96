"""The one e-mail normalisation rule (vanguard.core.emails) shared by customers and staff logins (issue 12, item 4)."""

from __future__ import annotations

import pytest

from vanguard.core.emails import NormalisedEmailField, normalise_email

LOOK_ALIKES = [
    "ada@example.com\u200b",  # zero-width space (IDNA drops it, so the validator accepts it)
    "\u200bAda@Example.com",
    "ada\u200d@example.com",  # zero-width joiner
    "ada@exam\u00adple.com",  # soft hyphen
    "\ufeffada@example.com",  # byte-order mark
    "ada@example.com\u2060",  # word joiner
    "ada@example.com\u202e",  # bidi override
    "ada@example.com\x00",  # control character
    " ada@example.com\u00a0",  # no-break space (NFKC: a space, then stripped)
    "\uff41\uff44\uff41\uff20\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d",  # full-width
    "ADA@EXAMPLE.COM",
]


@pytest.mark.parametrize("value", LOOK_ALIKES)
def test_look_alikes_normalise_to_the_plain_address(value):
    assert normalise_email(value) == "ada@example.com"


@pytest.mark.parametrize("value", [*LOOK_ALIKES, "e\u200b\u0301@example.com", "\u212bngstr\u00f6m@example.com"])
def test_normalising_twice_changes_nothing(value):
    once = normalise_email(value)
    assert normalise_email(once) == once


def test_a_letter_of_another_script_stays_a_different_address():
    assert normalise_email("\u0430da@example.com") != "ada@example.com"  # Cyrillic a


def test_none_and_blank_are_empty():
    assert normalise_email(None) == "" and normalise_email(" \u200b ") == ""


def test_the_form_field_validates_the_normalised_value():
    field = NormalisedEmailField()
    # the full-width form fails Django's validator as typed; normalised first, it is the plain address
    assert (
        field.clean("\uff41\uff44\uff41\uff20\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d")
        == "ada@example.com"
    )
    assert field.clean("Ada@Example.com\u200b") == "ada@example.com"
