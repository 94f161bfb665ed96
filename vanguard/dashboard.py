"""The admin index dashboard: a few aggregate queries and small server-side SVG charts.

Query budget, whatever the table sizes: one conditional aggregate over the open claims (counts by
status, ageing buckets, waiting over 30 days), one count of the signed-in user's open claims (the
(assigned_to, status) index), one count of policies ending within 30 days (the (status, end_date)
index) and one grouped sum of premium by month over the last twelve months (the created_at index).
No per-row work. The figures that do not depend on the user are cached for DASHBOARD_CACHE_SECONDS
(default 60): on a million-row book a dashboard that is a minute old is worth not scanning the open
claims and a year of policies on every visit to the index page.

"Premium written" is the premium of policies bound (created) in the month, renewals included, by
the created_at date in UTC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from vanguard.core.money import format_money

CACHE_KEY = "vanguard:dashboard:v1"
AGEING_BUCKETS = (  # (label, older than days, at most days) since the claim was reported; open claims only
    ("under 7 days", None, 7),
    ("7-30 days", 7, 30),
    ("30-90 days", 30, 90),
    ("over 90 days", 90, None),
)
STATUS_COLOURS = {"pending": "#d9a520", "processing": "#417690", "approved": "#2e8540"}
BAR_COLOUR = "#417690"


@dataclass
class Tile:
    label: str
    value: str
    url: str = ""
    note: str = ""


@dataclass
class Chart:
    title: str
    svg: SafeString


@dataclass
class Dashboard:
    tiles: list[Tile] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    as_of: dt.datetime | None = None


def _month_start(moment: dt.datetime, months_back: int = 0) -> dt.datetime:
    year, month = moment.year, moment.month - months_back
    while month < 1:
        month += 12
        year -= 1
    return moment.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0)


def _claim_figures(now: dt.datetime) -> dict:
    from claims.models import Claim

    aggregates = {
        status: Count("pk", filter=Q(status=status)) for status in ("pending", "processing", "approved")
    }
    aggregates["waiting_30"] = Count("pk", filter=Q(reported_date__lt=now - dt.timedelta(days=30)))
    for index, (_label, older, newer) in enumerate(AGEING_BUCKETS):
        condition = Q()
        if older is not None:
            condition &= Q(reported_date__lt=now - dt.timedelta(days=older))
        if newer is not None:
            condition &= Q(reported_date__gte=now - dt.timedelta(days=newer))
        aggregates[f"age_{index}"] = Count("pk", filter=condition)
    return Claim.objects.filter(status__in=Claim.OPEN_STATUSES).aggregate(**aggregates)


def _policy_figures(now: dt.datetime) -> dict:
    from policies.models import Policy

    expiring = Policy.objects.filter(
        status=Policy.Status.ACTIVE, end_date__gte=now, end_date__lt=now + dt.timedelta(days=30)
    ).count()
    first_month = _month_start(now, 11)
    rows = (
        Policy.objects.filter(created_at__gte=first_month)
        .annotate(month=TruncMonth("created_at"))
        .values("month")
        .annotate(total=Sum("premium_amount"), policies=Count("pk"))
        .order_by("month")
    )
    by_month = {(row["month"].year, row["month"].month): (row["total"], row["policies"]) for row in rows}
    months = []
    for back in range(11, -1, -1):
        start = _month_start(now, back)
        total, count = by_month.get((start.year, start.month), (Decimal("0"), 0))
        months.append({"month": start.date().isoformat(), "total": str(total), "policies": count})
    return {"expiring_30": expiring, "months": months}


def _shared_figures(user, now: dt.datetime) -> dict:
    """The figures that are the same for every user, cached briefly."""
    timeout = settings.DASHBOARD_CACHE_SECONDS
    wants_claims = user.has_perm("claims.view_claim")
    wants_policies = user.has_perm("policies.view_policy")
    cached = cache.get(CACHE_KEY) if timeout else None
    if cached is None or (wants_claims and "claims" not in cached) or (wants_policies and "policies" not in cached):
        cached = dict(cached or {})
        cached["as_of"] = now.isoformat()
        if wants_claims:
            cached["claims"] = _claim_figures(now)
        if wants_policies:
            cached["policies"] = _policy_figures(now)
        if timeout:
            cache.set(CACHE_KEY, cached, timeout)
    return cached


def _url(name: str, **params) -> str:
    return f"{reverse(name)}?{urlencode(params)}" if params else reverse(name)


def money(value: Decimal | str) -> str:
    return format_money(Decimal(value))


def dashboard_for(user, now: dt.datetime | None = None) -> Dashboard:
    """The signed-in user's dashboard: only the sections their permissions let them open."""
    now = now or timezone.now()
    board = Dashboard(as_of=now)
    if not (user.has_perm("claims.view_claim") or user.has_perm("policies.view_policy")):
        return board
    shared = _shared_figures(user, now)
    board.as_of = dt.datetime.fromisoformat(shared["as_of"])
    if user.has_perm("claims.view_claim"):
        from claims.models import Claim

        claims = shared["claims"]
        mine = Claim.objects.filter(assigned_to=user, status__in=Claim.OPEN_STATUSES).count()
        open_total = claims["pending"] + claims["processing"] + claims["approved"]
        changelist = "admin:claims_claim_changelist"
        board.tiles += [
            Tile("Open claims", f"{open_total:,}", _url(changelist, status="open"),
                 f"{claims['pending']:,} pending · {claims['processing']:,} processing · "
                 f"{claims['approved']:,} approved awaiting payment"),
            Tile("Assigned to me", f"{mine:,}", _url(changelist, status="open", assignee="mine"), "open claims"),
            Tile("Waiting over 30 days", f"{claims['waiting_30']:,}", _url(changelist, status="open", age="30"),
                 "open claims reported more than 30 days ago"),
        ]
        board.charts.append(Chart("Open claims by status", bar_chart([
            (Claim.Status(status).label, claims[status], _url(changelist, status=status),
             STATUS_COLOURS[status])
            for status in ("pending", "processing", "approved")
        ])))
        board.charts.append(Chart("Open claims by age", bar_chart([
            (label, claims[f"age_{index}"], "", BAR_COLOUR) for index, (label, _low, _high) in enumerate(AGEING_BUCKETS)
        ])))
    if user.has_perm("policies.view_policy"):
        policies = shared["policies"]
        this_month = policies["months"][-1]
        changelist = "admin:policies_policy_changelist"
        board.tiles += [
            Tile("Policies expiring in 30 days", f"{policies['expiring_30']:,}",
                 _url(changelist, status__exact="active", ends_within="30"), "active policies"),
            Tile("Premium written this month", money(this_month["total"]), "",
                 f"{this_month['policies']:,} policies bound since "
                 f"{dt.date.fromisoformat(this_month['month']):1 %b %Y}"),
        ]
        board.charts.append(Chart("Premium written by month", column_chart([
            (dt.date.fromisoformat(row["month"]).strftime("%b"), Decimal(row["total"]),
             f"{dt.date.fromisoformat(row['month']):%B %Y}: {money(row['total'])}")
            for row in policies["months"]
        ])))
    return board


# --- SVG ----------------------------------------------------------------------------------------------
# Plain SVG with presentation attributes only (no inline style, no script), so it renders under a strict
# Content-Security-Policy and needs no chart library or CDN.

def bar_chart(rows: list[tuple[str, int, str, str]], *, width: int = 360) -> SafeString:
    """Horizontal bars: (label, value, link or '', colour) per row."""
    row_height, label_width, value_width = 26, 110, 60
    height = row_height * len(rows) + 8
    top = max((value for _label, value, _url, _colour in rows), default=0) or 1
    span = width - label_width - value_width
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="vanguard-chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(", ".join(f"{r[0]}: {r[1]}" for r in rows))}">'
    ]
    for index, (label, value, url, colour) in enumerate(rows):
        y = 4 + index * row_height
        bar = round(span * value / top) if value else 0
        body = (
            f'<text x="0" y="{y + 17}" font-size="12" fill="currentColor">{escape(label)}</text>'
            f'<rect x="{label_width}" y="{y + 4}" width="{max(bar, 1)}" height="18" rx="2" fill="{colour}">'
            f"<title>{escape(label)}: {value:,}</title></rect>"
            f'<text x="{label_width + bar + 6}" y="{y + 17}" font-size="12" fill="currentColor">{value:,}</text>'
        )
        parts.append(f'<a href="{escape(url)}">{body}</a>' if url else body)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above


def column_chart(columns: list[tuple[str, Decimal, str]], *, width: int = 420, height: int = 160) -> SafeString:
    """Vertical columns: (short label, value, tooltip) per column."""
    axis, top_pad = 20, 16
    plot = height - axis - top_pad
    top = max((value for _label, value, _tip in columns), default=Decimal("0")) or Decimal("1")
    step = width / max(len(columns), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="vanguard-chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape("; ".join(c[2] for c in columns))}">',
        f'<line x1="0" y1="{height - axis}" x2="{width}" y2="{height - axis}" stroke="#999" stroke-width="1"/>',
    ]
    for index, (label, value, tip) in enumerate(columns):
        bar = int(plot * value / top) if value else 0
        x = index * step + step * 0.15
        parts.append(
            f'<rect x="{x:.1f}" y="{height - axis - bar}" width="{step * 0.7:.1f}" height="{bar}" rx="2" '
            f'fill="{BAR_COLOUR}"><title>{escape(tip)}</title></rect>'
            f'<text x="{index * step + step / 2:.1f}" y="{height - 5}" font-size="11" text-anchor="middle" '
            f'fill="currentColor">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above
