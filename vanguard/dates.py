"""The range of years a business date may take (policy terms, incidents, filters)."""

from __future__ import annotations

import datetime as dt

# Business dates live well inside these years; anything outside is a typo or a probe, and near the ends of
# Python's datetime range the arithmetic on it (a renewal term, a time-zone conversion) would overflow.
MIN_YEAR, MAX_YEAR = 1900, 2999
OUT_OF_RANGE = f"must be between the years {MIN_YEAR} and {MAX_YEAR}"


def year_in_range(value: dt.datetime) -> bool:
    try:
        year = value.astimezone(dt.UTC).year if value.tzinfo else value.year
    except OverflowError:
        return False
    return MIN_YEAR <= year <= MAX_YEAR
