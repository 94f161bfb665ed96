"""Claim document checks (SPEC §2.5): the type is sniffed from the content, never from the name."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import BinaryIO

import filetype
from django.conf import settings

from claims.models import DOCUMENT_SIZE_CEILING
from vanguard.core.errors import BusinessRuleViolation

EXTENSIONS: dict[str, str] = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "application/pdf": ".pdf",
    "application/msword": ".doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}
ALLOWED_TYPES: dict[str, str] = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "application/pdf": "PDF",
    "application/msword": "DOC",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "DOCX",
}
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
HEAD_BYTES = 8192


@dataclass(frozen=True)
class Inspected:
    mime_type: str
    size: int
    sha256: str

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.mime_type]


def sniff_mime(head: bytes) -> str | None:
    """The MIME type the bytes say they are. filetype knows DOCX by its zip members; a legacy DOC is an
    OLE2 compound file (the same container as XLS/PPT: accepted as DOC, as common practice)."""
    kind = filetype.guess(head)
    if kind is not None:
        return kind.mime
    if head.startswith(OLE2_MAGIC):
        return "application/msword"
    return None


def human_size(size: int) -> str:
    """10485760 -> '10 MB', 1572864 -> '1.5 MB', 512000 -> '500 KB' (limits are set in bytes)."""
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= factor:
            return f"{size / factor:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def inspect_upload(fileobj: BinaryIO, *, max_bytes: int | None = None) -> Inspected:
    """Size, hash and sniffed type of an upload; 400 when too large, empty or of a type not allowed. The limit is
    DOCUMENT_MAX_BYTES, never above what the database stores (DOCUMENT_SIZE_CEILING)."""
    limit = min(max_bytes or settings.DOCUMENT_MAX_BYTES, DOCUMENT_SIZE_CEILING)
    fileobj.seek(0)
    head = fileobj.read(HEAD_BYTES)
    digest = hashlib.sha256(head)
    size = len(head)
    while chunk := fileobj.read(1024 * 1024):
        size += len(chunk)
        if size > limit:
            break
        digest.update(chunk)
    fileobj.seek(0)
    if size > limit:
        raise BusinessRuleViolation(f"The file is larger than the limit of {human_size(limit)}.", field="file")
    if size == 0:
        raise BusinessRuleViolation("The file is empty.", field="file")
    mime = sniff_mime(head)
    if mime not in ALLOWED_TYPES:
        shown = mime or "unknown"
        raise BusinessRuleViolation(
            f"File type {shown} not allowed. Allowed: {', '.join(ALLOWED_TYPES.values())}.", field="file"
        )
    return Inspected(mime_type=mime, size=size, sha256=digest.hexdigest())
