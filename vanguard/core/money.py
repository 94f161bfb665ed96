"""The one way money is shown to people (SPEC §10): two places, thousands separators and the installation's
currency code, e.g. ``405,266.00 EUR``. Machine formats (API money strings, CSV exports) keep plain decimals."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db.models import Func

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


class Cents(Func):
    """An amount computed in SQL (a sum of money columns in a check constraint), exact to the cent everywhere.

    PostgreSQL's numeric adds cents exactly, and there the SQL is the bare expression. SQLite keeps decimal
    columns as binary floats, where 0.10 + 0.20 is not 0.30: a constraint comparing a stored total with the sum
    of its parts would refuse correct rows (an admin save or a seed failing with "CHECK constraint failed").
    There the expression is rounded to the cents, as the stored total is."""

    arity = 1
    template = "%(expressions)s"

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, template="ROUND(%(expressions)s, 2)", **extra_context)
