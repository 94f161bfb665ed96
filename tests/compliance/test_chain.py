"""Tamper evidence of the audit trail (SPEC §7.1): sealing, verification, detection of each tampering."""

from __future__ import annotations

import itertools
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from compliance import chain
from compliance.models import AuditEntry, AuditEntryImmutable
from customers import services as customer_services
from tests import factories

pytestmark = pytest.mark.django_db


def _make_entries(actor, count: int = 5) -> list[AuditEntry]:
    for n in range(count):
        customer_services.customer_create(
            actor=actor,
            email=f"chain{n}@example.test",
            first_name="Ada",
            last_name=f"Chain{n}",
            gdpr_consent=True,
        )
    # What the after-commit sealer does once the writes commit (the test transaction never commits).
    chain.seal_pending()
    return list(AuditEntry.objects.order_by("seq"))


def _sql(statement: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_entries_are_sealed_into_one_chain(superuser):
    # given / when
    entries = _make_entries(superuser, 3)

    # then
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert entries[0].prev_hash == chain.GENESIS
    for previous, entry in itertools.pairwise(entries):
        assert entry.prev_hash == previous.entry_hash
        assert entry.entry_hash == chain.link_hash(entry.prev_hash, chain.content_digest(entry))
    report = chain.verify_chain()
    assert report.ok and report.entries == len(entries)


def test_sealed_entries_cannot_be_changed_or_deleted_through_the_orm(superuser):
    # given
    entry = _make_entries(superuser, 1)[0]

    # when / then
    entry.object_repr = "something else"
    with pytest.raises(AuditEntryImmutable):
        entry.save()
    with pytest.raises(AuditEntryImmutable):
        entry.delete()


def test_verify_command_passes_an_intact_chain(superuser, capsys):
    # given
    _make_entries(superuser, 3)

    # when
    call_command("verify_audit_chain")

    # then
    assert "Audit chain intact" in capsys.readouterr().out


def test_altered_entry_is_named(superuser, capsys):
    # given
    entries = _make_entries(superuser, 5)
    target = entries[2]
    _sql("UPDATE compliance_auditentry SET object_repr = %s WHERE id = %s", ["forged", target.pk])

    # when
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit_chain")

    # then
    assert f"ALTERED: entry #{target.seq} (id {target.pk})" in str(failure.value)


def test_altered_changes_json_is_detected(superuser):
    # given
    entries = _make_entries(superuser, 4)
    target = entries[1]
    forged = '{"first_name": ["x", "y"]}'
    _sql("UPDATE compliance_auditentry SET changes = %s::jsonb WHERE id = %s", [forged, target.pk])

    # when
    report = chain.verify_chain()

    # then
    assert report.first_break.kind == "altered" and report.first_break.seq == target.seq


def test_altered_actor_is_detected(superuser):
    # given
    entries = _make_entries(superuser, 3)
    other = factories.UserFactory()
    _sql("UPDATE compliance_auditentry SET actor_id = %s WHERE id = %s", [other.pk, entries[0].pk])

    # when
    report = chain.verify_chain()

    # then
    assert report.first_break.seq == entries[0].seq and report.first_break.kind == "altered"


def test_deleted_entry_is_named(superuser, capsys):
    # given
    entries = _make_entries(superuser, 5)
    victim, successor = entries[2], entries[3]
    _sql("DELETE FROM compliance_auditentry WHERE id = %s", [victim.pk])

    # when
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit_chain")

    # then
    message = str(failure.value)
    assert f"DELETED: entry #{successor.seq} (id {successor.pk})" in message
    assert f"#{victim.seq} are missing" in message


def test_deleted_and_renumbered_entry_is_detected_by_the_broken_link(superuser):
    # given: the forger deletes #3 and renumbers the rest to hide the gap
    entries = _make_entries(superuser, 5)
    _sql("DELETE FROM compliance_auditentry WHERE id = %s", [entries[2].pk])
    for entry in entries[3:]:
        _sql("UPDATE compliance_auditentry SET seq = seq - 1 WHERE id = %s", [entry.pk])

    # when
    report = chain.verify_chain()

    # then
    assert report.first_break.entry_id == entries[3].pk
    assert report.first_break.kind in {"deleted", "altered"}


def test_inserted_entry_is_named(superuser):
    # given: a forged entry appended after the head, linked correctly but without the chain key
    entries = _make_entries(superuser, 3)
    head = entries[-1]
    _sql(
        "INSERT INTO compliance_auditentry (content_type_id, object_pk, object_repr, action, changes_text, "
        "timestamp, seq, salt, prev_hash, entry_hash) VALUES (%s, %s, %s, 1, '', now(), %s, '', %s, %s)",
        [head.content_type_id, head.object_pk, "forged", head.seq + 1, head.entry_hash, "f" * 64],
    )
    forged_id = AuditEntry.objects.get(seq=head.seq + 1).pk

    # when
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit_chain")

    # then
    assert f"entry #{head.seq + 1} (id {forged_id})" in str(failure.value)


def test_entry_inserted_without_a_sequence_number_is_detected(superuser):
    # given
    entries = _make_entries(superuser, 2)
    _sql(
        "INSERT INTO compliance_auditentry (content_type_id, object_pk, object_repr, action, changes_text, "
        "timestamp, salt, prev_hash, entry_hash) VALUES (%s, %s, 'sneaky', 1, '', now(), '', '', '')",
        [entries[0].content_type_id, entries[0].object_pk],
    )

    # when
    report = chain.verify_chain()

    # then
    assert not report.ok
    assert report.first_break.kind == "inserted" and report.first_break.seq is None


def test_truncated_tail_is_detected_against_the_last_checkpoint(superuser):
    # given: a verified chain whose head is then deleted
    _make_entries(superuser, 4)
    call_command("verify_audit_chain")
    head = AuditEntry.objects.filter(seq__isnull=False).order_by("-seq").first()  # the chain's head
    _sql("DELETE FROM compliance_auditentry WHERE id = %s", [head.pk])

    # when
    report = chain.verify_chain()

    # then
    assert report.first_break.kind == "deleted"
    assert report.first_break.seq == head.seq
    assert "tail truncated" in report.first_break.detail


# --- every hashed column is tamper-evident (issue 12, item 8) ------------------------------------------------

# The content the chain vouches for (the module docstring of compliance.chain), written out here rather than read
# from canonical(): a column dropped from the hash must fail this test, not silently leave the list.
HASHED = (
    "seq",
    "salt",
    "content_type",
    "object_pk",
    "object_id",
    "object_repr",
    "action",
    "changes",
    "changes_text",
    "serialized_data",
    "additional_data",
    "actor_id",
    "actor_email",
    "timestamp",
    "cid",
    "remote_addr",
    "remote_port",
)
# Columns that are the chain itself, not content.
CHAIN_COLUMNS = {"id", "prev_hash", "entry_hash"}


def _column(key: str) -> str:
    return AuditEntry._meta.get_field(key).column


def _alteration(key: str) -> str:
    """SQL giving the column another value of its type, whatever it holds now."""
    field = AuditEntry._meta.get_field(key)
    column = field.column
    if field.is_relation:
        table, pk = field.related_model._meta.db_table, field.related_model._meta.pk.column
        # Identifiers from the model's own metadata, never from input.
        other = f'r."{pk}" IS DISTINCT FROM e."{column}"'
        return f'(SELECT r."{pk}" FROM "{table}" r WHERE {other} ORDER BY 1 LIMIT 1)'  # noqa: S608
    kind = field.get_internal_type()
    if kind in {"BigIntegerField", "IntegerField", "PositiveIntegerField", "PositiveSmallIntegerField"}:
        return f'COALESCE(e."{column}", 0) + 1000'
    if kind == "DateTimeField":
        return f"e.\"{column}\" + interval '1 second'"
    values = {
        "JSONField": ("'{\"forged\": 1}'::jsonb", "'{\"forged\": 2}'::jsonb"),
        "GenericIPAddressField": ("'203.0.113.9'::inet", "'203.0.113.10'::inet"),
        "CharField": ("'f'", "'g'"),
        "TextField": ("'f'", "'g'"),
    }
    first, second = values[kind]  # a KeyError here: a new column type needs its alteration written
    return f'CASE WHEN e."{column}" IS NOT DISTINCT FROM {first} THEN {second} ELSE {first} END'


def test_the_hashed_content_is_every_column_but_the_chain_itself(superuser):
    # given
    entry = _make_entries(superuser, 1)[0]
    # when
    hashed = set(json.loads(chain.canonical(entry)))
    # then: what canonical() hashes is the list below, and no column of the table is left out of it
    assert hashed == set(HASHED)
    assert {_column(key) for key in HASHED} == {f.column for f in AuditEntry._meta.concrete_fields} - CHAIN_COLUMNS


@pytest.mark.parametrize("key", HASHED)
def test_altering_any_hashed_column_in_sql_names_the_entry(superuser, key):
    # given: another user and content type to point an altered foreign key at
    factories.UserFactory()
    entries = _make_entries(superuser, 5)
    target = entries[2]
    # when
    statement = f'UPDATE compliance_auditentry AS e SET "{_column(key)}" = {_alteration(key)} WHERE e.id = %s'  # noqa: S608
    _sql(statement, [target.pk])
    report = chain.verify_chain()
    # then
    current_seq = AuditEntry.objects.values_list("seq", flat=True).get(pk=target.pk)
    assert [(b.seq, b.entry_id) for b in report.breaks if b.kind == "altered"] == [(current_seq, target.pk)]
    if key != "seq":  # a renumbered entry also leaves a gap, reported first as a deletion
        assert (report.first_break.kind, report.first_break.seq) == ("altered", target.seq)


def _make_unsealed_entries(actor, count: int) -> list[AuditEntry]:
    for n in range(count):
        customer_services.customer_create(
            actor=actor,
            email=f"pending{n}@example.test",
            first_name="Ada",
            last_name=f"Pending{n}",
            gdpr_consent=True,
        )
    return list(AuditEntry.objects.filter(seq__isnull=True).order_by("pk"))


@pytest.mark.parametrize("key", HASHED)
def test_altering_any_hashed_column_of_an_unsealed_entry_is_caught_before_it_is_chained(superuser, key):
    # given: entries written but not yet sealed (the writer's transaction committed, the sealer has not run)
    factories.UserFactory()
    entries = _make_unsealed_entries(superuser, 5)
    target = entries[2]
    assert target.seq is None and target.entry_hash == chain.pending_seal(target)
    # when: a column is altered in SQL before the sealer sees the row
    statement = f'UPDATE compliance_auditentry AS e SET "{_column(key)}" = {_alteration(key)} WHERE e.id = %s'  # noqa: S608
    _sql(statement, [target.pk])
    result = chain.seal_pending()
    report = chain.verify_chain()
    # then: the sealer never chains it, and the verifier names it
    assert target.pk not in result.sealed
    assert target.pk in {b.entry_id for b in report.breaks}
    if key != "seq":  # a row given a sequence number in SQL is no longer pending: it is a forged chain entry
        assert result.refused == [target.pk]
        assert sorted(result.sealed) == sorted(e.pk for e in entries if e.pk != target.pk)
        assert [(b.kind, b.seq, b.entry_id) for b in report.breaks] == [("altered", None, target.pk)]
        assert AuditEntry.objects.get(pk=target.pk).seq is None
