"""PII helpers: the SSN blind index and the masks (SPEC §2.2)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from customers import pii


def test_ssn_hash_is_the_hmac_of_the_normalised_ssn(settings):
    # given
    settings.PII_HASH_KEY = "test-key"
    # when
    value = pii.ssn_hash("123-45-6789")
    # then
    assert value == hmac.new(b"test-key", b"123456789", hashlib.sha256).hexdigest()


@pytest.mark.parametrize("variant", ["123 45 6789", "123456789", " 123-45-6789 ", "123.45.6789"])
def test_ssn_hash_ignores_separators(variant):
    # when / then
    assert pii.ssn_hash(variant) == pii.ssn_hash("123-45-6789")


def test_ssn_hash_depends_on_the_key(settings):
    # given
    before = pii.ssn_hash("123-45-6789")
    # when
    settings.PII_HASH_KEY = "another-key"
    # then
    assert pii.ssn_hash("123-45-6789") != before


def test_different_ssns_hash_differently():
    # when / then
    assert pii.ssn_hash("123-45-6789") != pii.ssn_hash("123-45-6788")


@pytest.mark.parametrize("value", ["", None, " - "])
def test_no_ssn_has_no_hash(value):
    # when / then
    assert pii.ssn_hash(value) == ""


@pytest.mark.parametrize(
    "value,masked", [("123-45-6789", "***-**-6789"), ("123 45 6789", "***-**-6789"), ("", ""), (None, "")]
)
def test_mask_ssn(value, masked):
    # when / then
    assert pii.mask_ssn(value) == masked


@pytest.mark.parametrize(
    "value,masked", [("+442071234789", "+44 ****** 789"), ("442071234789", "44 ****** 789"), ("", ""), (None, "")]
)
def test_mask_phone(value, masked):
    # when / then
    assert pii.mask_phone(value) == masked


def test_audit_mask_keeps_nothing():
    # when / then
    assert pii.audit_mask("123-45-6789") == "[redacted]"
