"""The range of years a business date may take (policy terms, incidents, filters)."""

from __future__ import annotations

import datetime as dt

# Business dates live well inside these years; anything outside is a typo or a probe, and near the ends of
# Python's datetime range the arithmetic on it (a renewal term, a time-zone conversion) would overflow.
MIN_YEAR, MAX_YEAR = 1900, 2999
OUT_OF_RANGE = f"must be between the years {MIN_YEAR} and {MAX_YEAR}"

# The instants that some time zone writes with a year in range (offsets reach ±23:59): the API reads
# `1900-01-01T00:00:00+05:00` as a valid date-time and stores it in UTC, where its year is 1899.
_EARLIEST = dt.datetime(MIN_YEAR, 1, 1, tzinfo=dt.UTC) - dt.timedelta(days=1)
_LATEST = dt.datetime(MAX_YEAR + 1, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=1)


def year_in_range(value: dt.datetime) -> bool:
    if value.tzinfo is None:
        return MIN_YEAR <= value.year <= MAX_YEAR
    try:
        return _EARLIEST <= value < _LATEST
    except OverflowError:
        return False
