"""Claim documents (SPEC §2.5): type sniffed from the content, 10 MB limit, stored under the claim."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile

import pytest
from auditlog.context import set_actor
from django.core.exceptions import ValidationError

from claims import services
from claims.documents import inspect_upload
from claims.models import ClaimDocument, ClaimEvent
from tests import factories
from vanguard.core.errors import BusinessRuleViolation

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


def _zip(members: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return buffer.getvalue()


DOCX = _zip({"[Content_Types].xml": "<Types/>", "_rels/.rels": "<Relationships/>", "word/document.xml": "<w/>"})
SAMPLES = {
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 100,
    "image/png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64,
    "image/gif": b"GIF89a" + b"\x01\x00\x01\x00" + b"\x00" * 64,
    "application/pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
    "application/msword": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1024,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": DOCX,
}
EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "application/pdf": ".pdf",
    "application/msword": ".doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}


def _add(actor, claim, content: bytes, filename: str, **kwargs) -> ClaimDocument:
    return services.claim_document_add(
        actor=actor, claim_id=claim.pk, fileobj=io.BytesIO(content), filename=filename, **kwargs
    )


@pytest.mark.parametrize("mime", list(SAMPLES))
def test_allowed_types_are_accepted_by_content(adjuster, mime):
    # given: a neutral name, so only the bytes can tell the type
    claim = factories.ClaimFactory()
    content = SAMPLES[mime]
    # when
    with set_actor(adjuster):
        document = _add(adjuster, claim, content, "upload.bin", document_type="estimate")
    # then
    document.refresh_from_db()
    assert document.mime_type == mime
    assert document.file_size == len(content)
    assert document.sha256 == hashlib.sha256(content).hexdigest()
    assert (document.filename, document.document_type, document.uploaded_by) == ("upload.bin", "estimate", adjuster)
    assert re.fullmatch(rf"claims/{claim.pk}/[0-9a-f]{{32}}{re.escape(EXTENSIONS[mime])}", document.file.name)
    with document.file.open("rb") as stored:
        assert stored.read() == content
    event = claim.events.get()
    assert (event.kind, event.actor, event.data["mime"]) == (ClaimEvent.Kind.DOCUMENT_ADDED, adjuster, mime)


def test_png_named_exe_is_stored_as_png(adjuster):
    # given
    claim = factories.ClaimFactory()
    # when
    document = _add(adjuster, claim, SAMPLES["image/png"], "holiday.exe")
    # then
    assert document.mime_type == "image/png"
    assert document.file.name.endswith(".png") and document.filename == "holiday.exe"


@pytest.mark.parametrize(
    "content,shown",
    [
        (b"MZ\x90\x00" + b"\x00" * 200, "application/x-msdownload"),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 200, "application/x-executable"),
        (b"just some text pretending to be a pdf", "unknown"),
        (_zip({"a.txt": "hi"}), "application/zip"),
        (
            _zip({"[Content_Types].xml": "<Types/>", "xl/workbook.xml": "<w/>"}),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    ],
)
def test_disallowed_content_named_pdf_is_refused(adjuster, content, shown):
    # given
    claim = factories.ClaimFactory()
    # when / then
    with pytest.raises(BusinessRuleViolation, match=re.escape(f"File type {shown} not allowed")) as exc:
        _add(adjuster, claim, content, "invoice.pdf")
    assert exc.value.status_code == 400
    assert not ClaimDocument.objects.exists() and not claim.events.exists()


def test_file_over_10_mb_is_refused_with_the_limit(adjuster, settings):
    # given
    settings.DOCUMENT_MAX_BYTES = 10 * MB
    claim = factories.ClaimFactory()
    content = SAMPLES["application/pdf"] + b"\x00" * (10 * MB)
    # when / then
    with pytest.raises(BusinessRuleViolation, match="limit of 10 MB"):
        _add(adjuster, claim, content, "big.pdf")
    assert not ClaimDocument.objects.exists()


def test_file_of_exactly_10_mb_is_accepted():
    # given
    content = SAMPLES["application/pdf"]
    content += b"\x00" * (10 * MB - len(content))
    # when
    inspected = inspect_upload(io.BytesIO(content))
    # then
    assert inspected.size == 10 * MB and inspected.sha256 == hashlib.sha256(content).hexdigest()


def test_empty_file_is_refused(adjuster):
    # given
    claim = factories.ClaimFactory()
    # when / then
    with pytest.raises(BusinessRuleViolation, match="empty"):
        _add(adjuster, claim, b"", "empty.pdf")


def test_client_path_is_stripped_from_the_name(adjuster):
    # given
    claim = factories.ClaimFactory()
    # when
    document = _add(adjuster, claim, SAMPLES["image/gif"], "..\\..\\windows\\evil.gif")
    # then
    assert document.filename == "evil.gif"
    assert document.file.name.startswith(f"claims/{claim.pk}/")


def test_refused_row_leaves_no_file_behind(adjuster, settings):
    # given: an unknown document type fails validation after the file was written
    claim = factories.ClaimFactory()
    media = settings.MEDIA_ROOT
    # when
    with pytest.raises(ValidationError) as exc:
        _add(adjuster, claim, SAMPLES["image/png"], "photo.png", document_type="selfie")
    # then
    assert "document_type" in exc.value.message_dict
    assert (media / "claims" / str(claim.pk)).is_dir()  # the file was written, then removed
    assert [path for path in media.rglob("*") if path.is_file()] == []
    assert not ClaimDocument.objects.exists()


@pytest.mark.parametrize(
    ("limit", "shown"), [(10 * MB, "10 MB"), (MB + MB // 2, "1.5 MB"), (500 * 1024, "500 KB"), (100, "100 bytes")]
)
def test_the_size_refusal_names_the_configured_limit(settings, limit, shown):
    # given
    settings.DOCUMENT_MAX_BYTES = limit
    content = SAMPLES["application/pdf"] + b"\x00" * limit
    # when / then
    with pytest.raises(BusinessRuleViolation, match=f"limit of {shown}\\.$"):
        inspect_upload(io.BytesIO(content))
