"""One rule for e-mail addresses typed by people, for customers and staff logins alike (issue 12, item 4).

Two strings that a person reads as the same address must be the same address before validation, uniqueness and
lookups: otherwise ``ada@example.com\\u200b`` (a zero-width space; IDNA quietly drops it, so the validator accepts
it) or the full-width (U+FF41…) ``ada@example.com`` slips past the unique index as a second customer or a second
staff login, and a lockout counter keyed on the name can be sidestepped.
"""

from __future__ import annotations

import unicodedata

from django import forms

# Control characters (Cc: NUL, tab, newline...) and format characters (Cf: zero-width space and joiners, soft
# hyphen, byte-order mark, bidi marks and isolates): invisible, so never a meaningful part of an address.
_INVISIBLE = frozenset({"Cc", "Cf"})


def _visible(text: str) -> str:
    return "".join(ch for ch in text if unicodedata.category(ch) not in _INVISIBLE)


def normalise_email(value: str | None) -> str:
    """NFKC (full-width and compatibility forms become their plain letters), control and format characters
    removed, surrounding whitespace stripped, lower-cased (the project stores e-mails lower-case, SPEC §2.2).

    Invisible characters are removed before and after NFKC, so one pass is final: normalise(normalise(x)) equals
    normalise(x). Homoglyphs from other scripts (a Cyrillic U+0430 'a') are different letters and are left alone.
    """
    text = _visible(unicodedata.normalize("NFKC", _visible(value or "")))
    return text.strip().lower()


class NormalisedEmailField(forms.EmailField):
    """A form e-mail field that normalises before its validators run (validation sees what will be stored)."""

    def to_python(self, value):
        return normalise_email(super().to_python(value))
