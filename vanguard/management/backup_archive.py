"""The backup archive: one uncompressed tar holding the database dump, the media files (the claim documents in
MEDIA_ROOT) and a manifest with every member's size and SHA-256, written by ``manage.py backup`` and read by
``manage.py restore``.

    manifest.json    {"format": "vanguard-backup", "version": 1, "created_at", "database": {...}, "media": {...}}
    database.dump    pg_dump --format=custom (compressed by pg_dump itself)
    media/<path>     every regular file under MEDIA_ROOT, at its path relative to MEDIA_ROOT

The dump and the list of files the database refers to come from one exported snapshot, so the manifest's
``referenced_missing`` (rows whose file was absent when the backup ran) describes exactly the dump in the archive.
Media files are copied after that snapshot: a document uploaded meanwhile is in the archive without its row (harmless),
and files are never rewritten in place (stored names are random), so a copied file is never half old, half new.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from django.apps import apps
from django.core.management.base import CommandError
from django.db import models

FORMAT = "vanguard-backup"
VERSION = 1
MANIFEST = "manifest.json"
DATABASE = "database.dump"
MEDIA = "media"
CHUNK = 1024 * 1024
STAGING_PREFIX = ".vanguard-restore-"  # inside MEDIA_ROOT while a restore runs, so each file lands with a rename


@dataclass(frozen=True)
class MediaFile:
    path: str  # relative to MEDIA_ROOT, "/"-separated
    sha256: str
    size: int


def referenced_media(alias: str) -> set[str]:
    """Every name stored in a FileField column (claim documents today; any model that gains a file field tomorrow)."""
    names: set[str] = set()
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, models.FileField):
                values = model._base_manager.using(alias).exclude(**{field.attname: ""}).values_list(field.attname)
                names.update(name for (name,) in values.iterator() if name)
    return names


def media_files(root: Path, *, skip: Path | None = None) -> Iterator[tuple[str, Path]]:
    """(relative name, path) of every regular file under ``root``; symbolic links are not followed or copied, so an
    archive never holds a file from outside MEDIA_ROOT. ``skip`` (the backup directory, should it lie inside
    MEDIA_ROOT) is left out, so that a backup never holds the previous ones, and so is a restore's staging area."""
    if not root.is_dir():
        return
    skipped = skip.resolve() if skip is not None else None
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = sorted(
            name
            for name in subdirectories
            if not (directory == str(root) and name.startswith(STAGING_PREFIX))
            and (skipped is None or (Path(directory) / name).resolve() != skipped)
        )
        for name in sorted(files):
            path = Path(directory) / name
            if path.is_symlink() or not path.is_file():
                continue
            yield path.relative_to(root).as_posix(), path


class _HashingReader:
    """A file wrapper that hashes what tarfile reads from it, so each media file is read once."""

    def __init__(self, handle: BinaryIO):
        self._handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self.digest.update(data)
        self.size += len(data)
        return data


def _member(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(mtime), 0o600
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_archive(
    target: Path, *, dump: Path, media_root: Path, referenced: set[str], created_at: str, skip: Path | None = None
) -> dict:
    """Write the tar at ``target`` (the caller renames it into place) and return its manifest."""
    files: list[MediaFile] = []
    with tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as tar:
        dump_stat = dump.stat()
        with dump.open("rb") as handle:
            reader = _HashingReader(handle)
            tar.addfile(_member(DATABASE, dump_stat.st_size, dump_stat.st_mtime), reader)
        database = {"file": DATABASE, "sha256": reader.digest.hexdigest(), "bytes": reader.size}
        for name, path in media_files(media_root, skip=skip):
            stat = path.stat()
            with path.open("rb") as handle:
                reader = _HashingReader(handle)
                tar.addfile(_member(f"{MEDIA}/{name}", stat.st_size, stat.st_mtime), reader)
            if reader.size != stat.st_size:
                raise CommandError(f"Media file {name} changed while it was being copied; run the backup again.")
            files.append(MediaFile(name, reader.digest.hexdigest(), reader.size))
        present = {file.path for file in files}
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "created_at": created_at,
            "database": database,
            "media": {
                "files": [asdict(file) for file in files],
                "bytes": sum(file.size for file in files),
                "referenced_missing": sorted(referenced - present),
            },
        }
        body = json.dumps(manifest, indent=2, sort_keys=True).encode()
        info = _member(MANIFEST, len(body), dump_stat.st_mtime)
        tar.addfile(info, _BytesReader(body))
    return manifest


class _BytesReader:
    def __init__(self, data: bytes):
        self._data, self._offset = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size < 0 else self._offset + size
        chunk, self._offset = self._data[self._offset : end], min(end, len(self._data))
        return chunk


def _safe_relative(name: str) -> str:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or any(part in {"", ".", ".."} for part in name.split("/")):
        raise CommandError(f"The archive names an unsafe path: {name!r}")
    return path.as_posix()


@dataclass
class VerifiedArchive:
    manifest: dict
    dump: Path
    media: list[tuple[MediaFile, Path]]  # each file as staged (verified) on disk


def read_manifest(tar: tarfile.TarFile) -> dict:
    try:
        handle = tar.extractfile(MANIFEST)
    except KeyError:
        raise CommandError("Not a Vanguard backup: the archive has no manifest.json.") from None
    if handle is None:
        raise CommandError("Not a Vanguard backup: manifest.json is not a file.")
    try:
        manifest = json.loads(handle.read())
    except ValueError:
        raise CommandError("The archive's manifest.json is not valid JSON.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CommandError("Not a Vanguard backup: the manifest names another format.")
    if manifest.get("version") != VERSION:
        raise CommandError(f"Backup format version {manifest.get('version')!r} is not supported (expected {VERSION}).")
    return manifest


def _extract_verified(tar: tarfile.TarFile, name: str, destination: Path, *, sha256: str, size: int) -> None:
    try:
        member = tar.getmember(name)
    except KeyError:
        raise CommandError(f"The archive lacks {name}, which its manifest lists.") from None
    if not member.isfile() or member.size != size:
        raise CommandError(f"{name} in the archive does not match its manifest (size or type).")
    source = tar.extractfile(member)
    assert source is not None  # a regular file member
    destination.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with destination.open("wb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != sha256:
        raise CommandError(f"{name} in the archive does not match its manifest's SHA-256: the archive is damaged.")


def _open(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, "r:")
    except tarfile.TarError as exc:
        raise CommandError(f"{archive.name} is not a readable backup archive ({exc}).") from None


def verify_and_stage(archive: Path, staging: Path) -> VerifiedArchive:
    """Check the archive against its manifest and copy every member into ``staging``: nothing is restored from an
    archive with a missing, extra, unsafe or damaged member."""
    with _open(archive) as tar:
        manifest = read_manifest(tar)
        try:
            database = manifest["database"]
            listed = [
                MediaFile(_safe_relative(str(item["path"])), str(item["sha256"]), int(item["size"]))
                for item in manifest["media"]["files"]
            ]
        except (KeyError, TypeError, ValueError):
            raise CommandError("The archive's manifest is incomplete.") from None
        expected = {MANIFEST, DATABASE, *(f"{MEDIA}/{file.path}" for file in listed)}
        extra = sorted(set(tar.getnames()) - expected)
        if extra:
            raise CommandError(f"The archive holds members its manifest does not list: {', '.join(extra[:5])}")
        dump = staging / DATABASE
        _extract_verified(tar, DATABASE, dump, sha256=str(database["sha256"]), size=int(database["bytes"]))
        media: list[tuple[MediaFile, Path]] = []
        for file in listed:
            staged = staging / MEDIA / file.path
            _extract_verified(tar, f"{MEDIA}/{file.path}", staged, sha256=file.sha256, size=file.size)
            media.append((file, staged))
    return VerifiedArchive(manifest=manifest, dump=dump, media=media)


def install_media(
    media: list[tuple[MediaFile, Path]], media_root: Path, *, file_mode: int | None, directory_mode: int | None
) -> None:
    """Move the staged files into place (a rename each: the staging area is inside MEDIA_ROOT, on its file system),
    replacing a file of the same name."""
    for file, staged in media:
        target = media_root / file.path
        if directory_mode is None:
            target.parent.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True, mode=directory_mode)
        if file_mode is not None:
            os.chmod(staged, file_mode)
        os.replace(staged, target)
