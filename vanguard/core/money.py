"""The one way money is shown to people (SPEC §10): two places, thousands separators and the installation's
currency code, e.g. ``405,266.00 EUR``. Machine formats (API money strings, CSV exports) keep plain decimals."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.conf import settings

EMPTY = "—"


def format_money(amount: Decimal | int | float | str | None, *, currency: bool = True) -> str:
    """``Decimal("405266")`` -> ``"405,266.00 EUR"``; ``None`` (or anything not a number) -> ``"—"``.

    ``currency=False`` leaves the code off, for a column whose header already names it."""
    if amount is None or amount == "":
        return EMPTY
    try:
        value = Decimal(str(amount)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return EMPTY
    if not value.is_finite():
        return EMPTY
    text = f"{value:,.2f}"
    return f"{text} {settings.CURRENCY}" if currency else text
