"""`manage.py backup` and `manage.py restore`: a round trip into a fresh database and an empty MEDIA_ROOT loses
nothing (rows, PII that still decrypts, the uploaded documents' bytes), a non-empty target is refused without --force,
a damaged or unsafe archive changes nothing, old archives are pruned, the password never shows, and the database-only
archives of earlier versions still restore."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path
from unittest import mock

import psycopg
import pytest
from auditlog.context import set_actor
from django.core.management import call_command
from django.db import connection

from claims import services as claim_services
from tests import factories
from tests.ops.conftest import base_env, manage
from vanguard.management.backup_archive import DATABASE, MANIFEST, MEDIA
from vanguard.management.commands.backup import backups_in
from vanguard.management.pgenv import pg_environment, run_pg_tool

TABLES_SQL = (
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
)
PII_DUMP = (
    "import json; from customers.models import Customer; "
    "print(json.dumps({str(c.pk): [c.phone, c.ssn, c.address, str(c.date_of_birth)] "
    "for c in Customer.objects.order_by('pk')}))"
)
# Each document row as the restored application sees it: its stored name and the SHA-256 of the bytes it opens.
DOCUMENTS_DUMP = (
    "import hashlib, json; from claims.models import ClaimDocument; "
    "print(json.dumps({str(d.pk): [d.file.name, d.sha256, hashlib.sha256(d.file.open('rb').read()).hexdigest()] "
    "for d in ClaimDocument.objects.order_by('pk')}))"
)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n" + bytes(range(256)) * 8


def _server_url(database: str) -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{database}"


def _shell_json(code: str, env: dict[str, str]):
    result = manage("shell", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _pii(env: dict[str, str]) -> dict[str, list[str]]:
    return _shell_json(PII_DUMP, env)


def _files(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*") if path.is_file()}


def _upload(content: bytes, filename: str):
    """A document uploaded through the service, as the admin and the API do."""
    actor = factories.UserFactory(superuser=True)
    claim = factories.ClaimFactory()
    with set_actor(actor):
        return claim_services.claim_document_add(
            actor=actor, claim_id=claim.pk, fileobj=io.BytesIO(content), filename=filename
        )


def _table_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return len(conn.execute(TABLES_SQL).fetchall())


def _rewrite(archive: Path, target: Path, change) -> None:
    """Copy a backup archive member by member, letting `change(name, data)` alter (or drop, with None) each one."""
    with tarfile.open(archive) as source, tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as out:
        for member in source.getmembers():
            data = change(member.name, source.extractfile(member).read())
            if data is None:
                continue
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))


def _row_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        tables = [row[0] for row in conn.execute(TABLES_SQL)]
        return {table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables}  # noqa: S608


@pytest.fixture
def fresh_database():
    """An empty database on the same server, dropped afterwards."""
    name = f"{connection.settings_dict['NAME']}_restore"
    admin_url = _server_url("postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.django_db(transaction=True)
def test_backup_then_restore_into_a_fresh_database_loses_nothing(tmp_path, fresh_database, settings):
    # given: customers with encrypted PII, policies, claims with documents (one uploaded through the service), audit
    # rows
    for _ in range(3):
        factories.ClaimDocumentFactory()
    factories.ClaimFactory(approved=True)
    uploaded = _upload(PDF, "police report.pdf")
    source_media = Path(settings.MEDIA_ROOT)
    source_files = _files(source_media)
    assert len(source_files) == 4 and source_files[uploaded.file.name] == PDF
    source_url = _server_url(connection.settings_dict["NAME"])
    source_counts = _row_counts(source_url)
    source_env = base_env(DATABASE_URL=source_url, DB_POOL="false", MEDIA_ROOT=str(source_media))
    source_pii = _pii(source_env)
    source_documents = _shell_json(DOCUMENTS_DUMP, source_env)
    assert len(source_pii) >= 4 and all(values[0].startswith("+") for values in source_pii.values())
    # when
    call_command("backup", directory=str(tmp_path / "backups"), stdout=mock.MagicMock())
    (archive,) = backups_in(tmp_path / "backups")
    restored_media = tmp_path / "restored-media"
    target_env = base_env(DATABASE_URL=_server_url(fresh_database), DB_POOL="false", MEDIA_ROOT=str(restored_media))
    restored = manage("restore", str(archive), env=target_env)
    # then: the same rows, PII that decrypts, and every file back, byte for byte, where its row points
    assert restored.returncode == 0, restored.stderr
    assert "4 media file(s)" in restored.stdout and "not in MEDIA_ROOT" not in restored.stderr
    assert _row_counts(_server_url(fresh_database)) == source_counts
    assert _pii(target_env) == source_pii
    assert _files(restored_media) == source_files
    assert (restored_media / uploaded.file.name).read_bytes() == PDF
    restored_documents = _shell_json(DOCUMENTS_DUMP, target_env)
    assert restored_documents == source_documents
    assert restored_documents[str(uploaded.pk)] == [uploaded.file.name, *[hashlib.sha256(PDF).hexdigest()] * 2]
    # ... and a second restore into the now non-empty database is refused without --force, accepted with it
    refused = manage("restore", str(archive), env=target_env)
    assert refused.returncode != 0 and "not empty" in refused.stderr
    forced = manage("restore", str(archive), "--force", env=target_env)
    assert forced.returncode == 0, forced.stderr
    assert _row_counts(_server_url(fresh_database)) == source_counts
    assert _files(restored_media) == source_files


@pytest.mark.django_db(transaction=True)
def test_the_archive_holds_the_dump_and_every_media_file_with_their_checksums(tmp_path, settings):
    # given: two uploads, one of whose files has gone missing from MEDIA_ROOT
    kept, lost = _upload(PDF, "kept.pdf"), _upload(PDF + b"2", "lost.pdf")
    (Path(settings.MEDIA_ROOT) / lost.file.name).unlink()
    err = io.StringIO()
    # when
    call_command("backup", directory=str(tmp_path), stdout=io.StringIO(), stderr=err)
    # then
    (archive,) = backups_in(tmp_path)
    assert archive.suffix == ".tar" and oct(archive.stat().st_mode)[-3:] == "600"
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile(MANIFEST).read())
        dump = tar.extractfile(DATABASE).read()
        stored = tar.extractfile(f"{MEDIA}/{kept.file.name}").read()
        names = set(tar.getnames())
    assert names == {MANIFEST, DATABASE, f"{MEDIA}/{kept.file.name}"}
    assert dump.startswith(b"PGDMP")  # pg_dump's custom format
    assert manifest["database"] == {"file": DATABASE, "sha256": hashlib.sha256(dump).hexdigest(), "bytes": len(dump)}
    assert stored == PDF
    assert manifest["media"]["files"] == [
        {"path": kept.file.name, "sha256": hashlib.sha256(PDF).hexdigest(), "size": len(PDF)}
    ]
    assert manifest["media"]["referenced_missing"] == [lost.file.name]
    assert "1 file(s) the database refers to were not in MEDIA_ROOT" in err.getvalue()


@pytest.mark.django_db(transaction=True)
def test_the_archive_leaves_out_links_leading_elsewhere_backups_and_a_restore_s_staging(tmp_path, settings):
    # given: in MEDIA_ROOT, beside an upload, a link to a file outside it, the backup directory itself, and the
    # staging area an interrupted restore left behind
    document = _upload(PDF, "kept.pdf")
    media = Path(settings.MEDIA_ROOT)
    outside = tmp_path / "outside.txt"
    outside.write_text("not a document")
    (media / "claims" / "link.pdf").symlink_to(outside)
    (media / ".vanguard-restore-x1" / "media").mkdir(parents=True)
    (media / ".vanguard-restore-x1" / "media" / "half.pdf").write_bytes(b"half")
    backups = media / "backups"
    # when: two backups into a directory inside MEDIA_ROOT
    for _ in range(2):
        call_command("backup", directory=str(backups), stdout=io.StringIO())
    # then: the newest holds the upload and nothing else (not the first archive either)
    newest = backups_in(backups)[0]
    with tarfile.open(newest) as tar:
        assert set(tar.getnames()) == {MANIFEST, DATABASE, f"{MEDIA}/{document.file.name}"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"plain text, not a tar", "is not a readable backup archive"),
        (None, "the manifest names another format"),
    ],
    ids=["not-a-tar", "another-format"],
)
def test_restore_refuses_what_is_not_a_backup_archive(tmp_path, fresh_database, content, message):
    # given
    archive = tmp_path / "vanguard-other.tar"
    if content is None:
        with tarfile.open(archive, "w") as tar:
            body = json.dumps({"format": "something-else", "version": 1}).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    else:
        archive.write_bytes(content)
    media = tmp_path / "media-target"
    # when
    result = manage(
        "restore",
        str(archive),
        env=base_env(DATABASE_URL=_server_url(fresh_database), DB_POOL="false", MEDIA_ROOT=str(media)),
    )
    # then
    assert result.returncode != 0 and message in result.stderr
    assert _table_count(_server_url(fresh_database)) == 0 and not media.exists()


@pytest.fixture
def archive_and_target(tmp_path, fresh_database):
    """A backup of one uploaded document, and the environment of an empty database and MEDIA_ROOT to restore into
    (for tests marked django_db(transaction=True))."""
    document = _upload(PDF, "report.pdf")
    call_command("backup", directory=str(tmp_path / "backups"), stdout=io.StringIO())
    (archive,) = backups_in(tmp_path / "backups")
    media = tmp_path / "restored-media"
    return (
        archive,
        document,
        media,
        base_env(DATABASE_URL=_server_url(fresh_database), DB_POOL="false", MEDIA_ROOT=str(media)),
    )


def _damage_media(name: str, data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1]) if name.startswith(f"{MEDIA}/") else data


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_damage_media, "does not match its manifest's SHA-256"),
        (lambda name, data: None if name.startswith(f"{MEDIA}/") else data, "lacks media/"),
        (lambda name, data: None if name == MANIFEST else data, "no manifest.json"),
        (
            lambda name, data: data.replace(b'"path": "claims/', b'"path": "../claims/') if name == MANIFEST else data,
            "unsafe path",
        ),
    ],
    ids=["damaged-file", "missing-file", "no-manifest", "path-escape"],
)
def test_a_damaged_or_unsafe_archive_restores_nothing(tmp_path, archive_and_target, change, message, fresh_database):
    # given
    archive, _, media, target_env = archive_and_target
    broken = tmp_path / "backups" / "vanguard-broken.tar"
    _rewrite(archive, broken, change)
    # when
    result = manage("restore", str(broken), env=target_env)
    # then: refused with the reason, and neither the database nor MEDIA_ROOT (absent before) was touched
    assert result.returncode != 0 and message in result.stderr
    assert _table_count(_server_url(fresh_database)) == 0
    assert not media.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["backups", "media"]  # media: the source's


@pytest.mark.django_db(transaction=True)
def test_an_archive_with_a_member_its_manifest_does_not_list_is_refused(tmp_path, archive_and_target, fresh_database):
    # given: an extra member beside the listed ones
    archive, _, media, target_env = archive_and_target
    broken = tmp_path / "backups" / "vanguard-extra.tar"
    _rewrite(archive, broken, lambda name, data: data)
    with tarfile.open(broken, "a") as tar:
        info = tarfile.TarInfo(f"{MEDIA}/unlisted.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    # when
    result = manage("restore", str(broken), env=target_env)
    # then
    assert result.returncode != 0 and "does not list: media/unlisted.txt" in result.stderr
    assert _table_count(_server_url(fresh_database)) == 0 and not media.exists()


@pytest.mark.django_db(transaction=True)
def test_restore_refuses_a_non_empty_media_root_without_force(archive_and_target, fresh_database):
    # given: a file already in the target MEDIA_ROOT
    archive, document, media, target_env = archive_and_target
    (media / "claims").mkdir(parents=True)
    (media / "claims" / "local.pdf").write_bytes(b"local")
    # when
    refused = manage("restore", str(archive), env=target_env)
    # then: nothing restored
    assert refused.returncode != 0 and "MEDIA_ROOT" in refused.stderr and "not empty" in refused.stderr
    assert _table_count(_server_url(fresh_database)) == 0
    assert _files(media) == {"claims/local.pdf": b"local"}
    # when: forced, the archive's files land and the others stay
    forced = manage("restore", str(archive), "--force", env=target_env)
    # then
    assert forced.returncode == 0, forced.stderr
    assert _files(media) == {"claims/local.pdf": b"local", document.file.name: PDF}


@pytest.mark.django_db(transaction=True)
def test_a_failed_database_restore_installs_no_file(tmp_path, archive_and_target, fresh_database):
    # given: an archive whose dump pg_restore cannot read, though it matches its (rewritten) manifest
    archive, _, media, target_env = archive_and_target
    broken = tmp_path / "backups" / "vanguard-notadump.tar"
    dump = b"not a dump"

    def swap_dump(name: str, data: bytes) -> bytes:
        if name == DATABASE:
            return dump
        if name == MANIFEST:
            manifest = json.loads(data)
            manifest["database"].update(sha256=hashlib.sha256(dump).hexdigest(), bytes=len(dump))
            return json.dumps(manifest).encode()
        return data

    _rewrite(archive, broken, swap_dump)
    # when
    result = manage("restore", str(broken), env=target_env)
    # then: the files were verified and staged, but are not installed without their database
    assert result.returncode != 0 and "pg_restore failed" in result.stderr
    assert not media.exists()
    assert _table_count(_server_url(fresh_database)) == 0


@pytest.mark.django_db(transaction=True)
def test_a_database_only_archive_of_an_earlier_version_still_restores(tmp_path, fresh_database):
    # given: what `manage.py backup` wrote before archives included the media: a bare pg_dump custom-format file
    factories.ClaimFactory()
    source_url = _server_url(connection.settings_dict["NAME"])
    legacy = tmp_path / "vanguard-20260101T010000000000Z.dump"
    run_pg_tool("pg_dump", ["--format=custom", "--no-owner", "--no-privileges", f"--file={legacy}"], pg_environment())
    target_env = base_env(
        DATABASE_URL=_server_url(fresh_database), DB_POOL="false", MEDIA_ROOT=str(tmp_path / "media-target")
    )
    # when
    result = manage("restore", str(legacy), env=target_env)
    # then
    assert result.returncode == 0, result.stderr
    assert "database-only archive" in result.stdout
    assert _row_counts(_server_url(fresh_database)) == _row_counts(source_url)
    assert backups_in(tmp_path) == [legacy]


@pytest.mark.django_db(transaction=True)
def test_backup_keeps_the_newest_archives_and_never_exposes_the_password(tmp_path, monkeypatch):
    # given: a password configured (the local server trusts the connection, so any value works)
    monkeypatch.setitem(connection.settings_dict, "PASSWORD", "pw-never-shown-4711")
    real_run = subprocess.run
    calls = []

    def spy(args, **kwargs):
        calls.append((args, kwargs.get("env") or {}))
        return real_run(args, **kwargs)

    out = mock.MagicMock()
    # when
    with mock.patch("vanguard.management.pgenv.subprocess.run", side_effect=spy):
        for _ in range(3):
            call_command("backup", directory=str(tmp_path), keep=2, stdout=out)
    # then
    archives = backups_in(tmp_path)
    assert len(archives) == 2
    assert not list(tmp_path.glob(".*partial"))
    assert all(oct(path.stat().st_mode)[-3:] == "600" for path in archives)
    assert all("pw-never-shown-4711" not in " ".join(args) for args, _ in calls)
    assert all(env.get("PGPASSWORD") == "pw-never-shown-4711" for _, env in calls)
    written = " ".join(str(call) for call in out.write.call_args_list)
    assert "pw-never-shown-4711" not in written


def test_restore_refuses_a_missing_file(tmp_path):
    # when
    result = manage("restore", str(tmp_path / "nope.dump"), env=base_env(DATABASE_URL=_server_url("postgres")))
    # then
    assert result.returncode != 0 and "No such backup file" in result.stderr
