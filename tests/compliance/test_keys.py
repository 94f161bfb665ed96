"""Key rotation and the encryption canary (SPEC §7.4)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from compliance import chain, keys, services
from compliance.models import AuditEntry, FormerPersonalValue
from customers import services as customer_services
from customers.models import Customer
from tests import factories
from vanguard.accounts.models import SYSTEM_ACTOR_EMAIL

pytestmark = pytest.mark.django_db

ROWS = 3000
NEW_RAW_KEY = "rotation-test-key-B-" + "x" * 40


def _seed(count: int) -> dict:
    customers = [factories.CustomerFactory.build(encryption_key_id="k1") for _ in range(count)]
    Customer.objects.bulk_create(customers, batch_size=1000)
    return {c.pk: (c.phone, c.date_of_birth, c.address, c.ssn) for c in customers}


def _fields():
    return [field for _, fields in keys.encrypted_models() for field in fields]


@pytest.fixture
def old_raw_key(settings):
    # In the test environment CRYPTOGRAPHY_KEY is unset, so the AES key is derived from SECRET_KEY.
    raw = settings.SECRET_KEY
    if keys.derive_aes_key(raw) != _fields()[0]._fernet.key:
        pytest.skip("CRYPTOGRAPHY_KEY is set in this environment")
    return raw


@pytest.fixture
def switch_to_new_key(settings, monkeypatch):
    """What an operator does before running the command: configure the new key and key id."""

    def switch():
        new = keys.fernet_for(aes_key=keys.derive_aes_key(NEW_RAW_KEY), hmac_key=settings.SECRET_KEY)
        for field in _fields():
            monkeypatch.setattr(field, "_fernet", new)
        settings.ENCRYPTION_KEY_ID = "k2"
        return new

    return switch


def _stored(new_fernet, model=Customer) -> dict:
    """Every row of `model` decrypted with the new key alone (no fallback), with its key id."""
    out = {}
    fields = [field for field in _fields() if field.model is model]
    for batch in keys.raw_rows(model, fields, batch_size=1000):
        for pk, key_id, *values in batch:
            out[pk] = (key_id, tuple(keys.decrypt_strict(new_fernet, raw) for raw in values))
    return out


def test_rotation_round_trip_is_resumable_and_loses_nothing(old_raw_key, switch_to_new_key, capsys):
    # given: a few thousand rows encrypted under the old key, then the new key configured
    before = _seed(ROWS)
    new = switch_to_new_key()
    assert keys.encryption_canary_check()[0] is False  # the new key alone cannot read the old data

    # when: the first run is interrupted after two batches
    call_command("rotate_encryption_key", "--old-key", old_raw_key, "--batch-size", "500", "--max-batches", "2")

    # then: exactly those rows moved; the rest still read through the previous key
    assert Customer.objects.filter(encryption_key_id="k2").count() == 1000
    assert Customer.objects.filter(encryption_key_id="k1").count() == ROWS - 1000
    assert keys.encryption_canary_check()[0] is True
    assert "Run the command again" in capsys.readouterr().out

    # when: the rerun continues
    call_command("rotate_encryption_key", "--old-key", old_raw_key, "--batch-size", "500")

    # then: every row decrypts with the new key alone, values unchanged, one audit entry per batch
    stored = _stored(new)
    assert len(stored) == ROWS
    assert {key_id for key_id, _ in stored.values()} == {"k2"}
    assert {pk: values for pk, (_, values) in stored.items()} == before
    assert "Verified: all 3000 rows decrypt with key k2" in capsys.readouterr().out
    rotation_entries = AuditEntry.objects.filter(additional_data__has_key="key_rotation")
    assert rotation_entries.count() == ROWS // 500
    assert {e.actor.email for e in rotation_entries} == {SYSTEM_ACTOR_EMAIL}
    assert chain.verify_chain().ok


def test_rotation_without_the_old_key_changes_nothing(old_raw_key, switch_to_new_key):
    # given
    _seed(10)
    switch_to_new_key()

    # when / then
    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command("rotate_encryption_key", "--batch-size", "5")
    assert Customer.objects.filter(encryption_key_id="k1").count() == 10


def test_rotation_through_the_environment_settings(old_raw_key, switch_to_new_key, settings):
    # given: the previous key given as CRYPTOGRAPHY_KEY_PREVIOUS instead of --old-key
    before = _seed(20)
    new = switch_to_new_key()
    settings.CRYPTOGRAPHY_KEY_PREVIOUS = old_raw_key

    # when
    call_command("rotate_encryption_key", "--batch-size", "7")

    # then
    assert {pk: values for pk, (_, values) in _stored(new).items()} == before


def test_canary_passes_with_the_configured_key_and_on_an_empty_table():
    # given / when / then
    assert keys.encryption_canary_check() == (True, "no encrypted data yet")
    factories.CustomerFactory()
    ok, message = keys.encryption_canary_check()
    assert ok and "k1" in message


def test_canary_fails_loudly_when_the_key_cannot_read_existing_data(switch_to_new_key):
    # given
    customer = factories.CustomerFactory()
    switch_to_new_key()

    # when
    ok, message = keys.encryption_canary_check()

    # then
    assert ok is False
    assert "ENCRYPTION KEY MISMATCH" in message
    assert customer.phone not in message


def test_erasure_during_an_interrupted_rotation_does_not_block_its_resumption(
    old_raw_key, switch_to_new_key, compliance_officer, capsys
):
    # given: a rotation interrupted after one batch, with customers whose phone and address are empty (their
    # empty values are still ciphertexts under the old key)
    customers = [factories.CustomerFactory.build(encryption_key_id="k1", phone="", address="") for _ in range(6)]
    Customer.objects.bulk_create(customers)
    new = switch_to_new_key()
    call_command("rotate_encryption_key", "--old-key", old_raw_key, "--batch-size", "2", "--max-batches", "1")
    behind = Customer.objects.filter(encryption_key_id="k1").order_by("pk").first()
    capsys.readouterr()

    # when: one of the customers still on the old key is erased, then the rotation resumes
    services.customer_erase(actor=compliance_officer, customer_id=behind.pk, interface="api")
    call_command("rotate_encryption_key", "--old-key", old_raw_key, "--batch-size", "2")

    # then: the rotation completes and every row, the erased one included, decrypts with the new key alone
    assert "Verified: all 6 rows decrypt with key k2" in capsys.readouterr().out
    stored = _stored(new)
    assert stored[behind.pk] == ("k2", ("", None, "", ""))
    assert {key_id for key_id, _ in stored.values()} == {"k2"}


def test_rotation_re_encrypts_the_former_values_kept_for_erasure(old_raw_key, switch_to_new_key, superuser, capsys):
    # given: a customer whose phone changed, so its former value is kept encrypted under the old key
    customer = factories.CustomerFactory(encryption_key_id="k1", phone="+447700900001")
    customer_services.customer_update(actor=superuser, customer_id=customer.pk, phone="+447700900002")
    [kept] = FormerPersonalValue.objects.filter(customer=customer)
    assert kept.encryption_key_id == "k1"
    new = switch_to_new_key()

    # when
    call_command("rotate_encryption_key", "--old-key", old_raw_key)

    # then: the former value too decrypts with the new key alone (2 rows: the customer and the former value)
    assert "Verified: all 2 rows decrypt with key k2" in capsys.readouterr().out
    assert _stored(new, FormerPersonalValue) == {kept.pk: ("k2", ("+447700900001",))}
