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

Claims money (SPEC §10.5), from the claims' stored totals and the payment rows: one sum of the open reserves,
one sum of the payments issued this month (and not voided since), one count of the payments the user may
approve now (not cached: it is the user's own), and the loss ratio by policy type over the last twelve months —
two grouped aggregates: the net incurred of the claims whose incident falls in the window, and the premium
earned in the window, pro rata over each policy's term (a cancelled policy earns until its cancellation, a
pending one nothing yet).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, DecimalField, F, Func, Q, Sum, Value
from django.db.models.functions import Coalesce, Greatest, Least, TruncMonth
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from vanguard.core.money import format_money

CACHE_KEY = "vanguard:dashboard:v2"
AGEING_BUCKETS = (  # (label, older than days, at most days) since the claim was reported; open claims only
    ("under 7 days", None, 7),
    ("7-30 days", 7, 30),
    ("30-90 days", 30, 90),
    ("over 90 days", 90, None),
)
STATUS_COLOURS = {"pending": "#d9a520", "processing": "#417690", "approved": "#2e8540"}
BAR_COLOUR = "#417690"
RATIO_COLOURS = ((Decimal("0.6"), "#2e8540"), (Decimal("1"), "#d9a520"), (None, "#ba2121"))  # up to 60 %, 100 %, above
LOSS_RATIO_DAYS = 365


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

    aggregates = {status: Count("pk", filter=Q(status=status)) for status in ("pending", "processing", "approved")}
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


def _money_figures(now: dt.datetime) -> dict:
    """Open reserves over every claim, and what was issued this month (still issued: a void takes it back)."""
    from claims.models import Claim, ClaimPayment, PaymentStatus

    zero = Value(Decimal("0"))
    reserves = Claim.objects.aggregate(
        indemnity=Coalesce(Sum("reserve_indemnity"), zero), expense=Coalesce(Sum("reserve_expense"), zero)
    )
    month = _month_start(now)
    paid = ClaimPayment.objects.filter(status=PaymentStatus.ISSUED, issued_at__gte=month).aggregate(
        total=Coalesce(Sum("amount"), zero), payments=Count("pk")
    )
    return {
        "reserve_indemnity": str(reserves["indemnity"]),
        "reserve_expense": str(reserves["expense"]),
        "paid_month": str(paid["total"]),
        "paid_payments": paid["payments"],
        "month": month.date().isoformat(),
    }


class _Epoch(Func):
    """The seconds in an interval (PostgreSQL's EXTRACT(EPOCH FROM ...))."""

    template = "EXTRACT(EPOCH FROM %(expressions)s)"
    output_field = DecimalField()


def earned_premium_by_type(start: dt.datetime, end: dt.datetime) -> dict[str, Decimal]:
    """The premium earned between `start` and `end` per policy type: each policy's premium times the share of its
    term that falls in the window. A cancelled policy's term ends at its cancellation; a pending one earns nothing."""
    from policies.models import Policy

    term_end = Least(F("end_date"), Coalesce(F("cancelled_at"), F("end_date")))
    overlap = Greatest(Least(term_end, Value(end)) - Greatest(F("start_date"), Value(start)), Value(dt.timedelta(0)))
    rows = (
        Policy.objects.exclude(status=Policy.Status.PENDING)
        .filter(start_date__lt=end, end_date__gt=start)
        .values("policy_type")
        .annotate(
            earned=Sum(
                F("premium_amount") * _Epoch(overlap) / _Epoch(F("end_date") - F("start_date")),
                output_field=DecimalField(),
            )
        )
        .order_by()
    )
    return {row["policy_type"]: row["earned"] or Decimal("0") for row in rows}


def net_incurred_by_type(start: dt.datetime, end: dt.datetime) -> dict[str, Decimal]:
    """The net incurred (paid + open reserves - recovered) of the claims whose incident falls in the window."""
    from claims.models import Claim

    rows = (
        Claim.objects.filter(incident_date__gte=start, incident_date__lt=end)
        .values("policy__policy_type")
        .annotate(net=Sum("net_incurred"))
        .order_by()
    )
    return {row["policy__policy_type"]: row["net"] or Decimal("0") for row in rows}


def _loss_ratio_figures(now: dt.datetime) -> dict:
    from policies.models import Policy

    start = now - dt.timedelta(days=LOSS_RATIO_DAYS)
    earned, incurred = earned_premium_by_type(start, now), net_incurred_by_type(start, now)
    return {
        "start": start.isoformat(),
        "types": [
            {
                "type": value,
                "label": label,
                "earned": str(earned.get(value, Decimal("0")).quantize(Decimal("0.01"))),
                "incurred": str(incurred.get(value, Decimal("0"))),
            }
            for value, label in Policy.PolicyType.choices
        ],
    }


def _sections(user) -> dict:
    """The cached sections this user may see, and how each is computed."""
    wants_claims = user.has_perm("claims.view_claim")
    wants_policies = user.has_perm("policies.view_policy")
    sections = {}
    if wants_claims:
        sections["claims"] = _claim_figures
        sections["money"] = _money_figures
    if wants_policies:
        sections["policies"] = _policy_figures
    if wants_claims and wants_policies:
        sections["loss_ratio"] = _loss_ratio_figures
    return sections


def _shared_figures(user, now: dt.datetime) -> dict:
    """The figures that are the same for every user, cached briefly."""
    timeout = settings.DASHBOARD_CACHE_SECONDS
    sections = _sections(user)
    cached = cache.get(CACHE_KEY) if timeout else None
    if cached is None or any(name not in cached for name in sections):
        cached = dict(cached or {})
        cached["as_of"] = now.isoformat()
        for name, compute in sections.items():
            cached[name] = compute(now)
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
            Tile(
                "Open claims",
                f"{open_total:,}",
                _url(changelist, status="open"),
                f"{claims['pending']:,} pending · {claims['processing']:,} processing · "
                f"{claims['approved']:,} approved awaiting payment",
            ),
            Tile("Assigned to me", f"{mine:,}", _url(changelist, status="open", assignee="mine"), "open claims"),
            Tile(
                "Waiting over 30 days",
                f"{claims['waiting_30']:,}",
                _url(changelist, status="open", age="30"),
                "open claims reported more than 30 days ago",
            ),
        ]
        board.charts.append(
            Chart(
                "Open claims by status",
                bar_chart(
                    [
                        (
                            Claim.Status(status).label,
                            claims[status],
                            _url(changelist, status=status),
                            STATUS_COLOURS[status],
                        )
                        for status in ("pending", "processing", "approved")
                    ]
                ),
            )
        )
        board.charts.append(
            Chart(
                "Open claims by age",
                bar_chart(
                    [
                        (label, claims[f"age_{index}"], "", BAR_COLOUR)
                        for index, (label, _low, _high) in enumerate(AGEING_BUCKETS)
                    ]
                ),
            )
        )
        _money_section(board, user, shared["money"])
    if user.has_perm("policies.view_policy"):
        policies = shared["policies"]
        this_month = policies["months"][-1]
        changelist = "admin:policies_policy_changelist"
        board.tiles += [
            Tile(
                "Policies expiring in 30 days",
                f"{policies['expiring_30']:,}",
                _url(changelist, status__exact="active", ends_within="30"),
                "active policies",
            ),
            Tile(
                "Premium written this month",
                money(this_month["total"]),
                "",
                f"{this_month['policies']:,} policies bound since {dt.date.fromisoformat(this_month['month']):1 %b %Y}",
            ),
        ]
        board.charts.append(
            Chart(
                "Premium written by month",
                column_chart(
                    [
                        (
                            dt.date.fromisoformat(row["month"]).strftime("%b"),
                            Decimal(row["total"]),
                            f"{dt.date.fromisoformat(row['month']):%B %Y}: {money(row['total'])}",
                        )
                        for row in policies["months"]
                    ]
                ),
            )
        )
    if "loss_ratio" in shared and user.has_perm("claims.view_claim") and user.has_perm("policies.view_policy"):
        board.charts.append(_loss_ratio_chart(shared["loss_ratio"], now))
    return board


def _money_section(board: Dashboard, user, figures: dict) -> None:
    from claims.financials.selectors import payments_awaiting_approval

    payments = "admin:claims_claimpayment_changelist"
    if user.has_perm("claims.approve_payment"):
        awaiting = payments_awaiting_approval(user).count()
        board.tiles.append(
            Tile(
                "Payments awaiting my approval",
                f"{awaiting:,}",
                _url(payments, awaiting="mine"),
                "requested by a colleague, within your authority",
            )
        )
    indemnity, expense = Decimal(figures["reserve_indemnity"]), Decimal(figures["reserve_expense"])
    board.tiles.append(
        Tile(
            "Outstanding reserves",
            money(indemnity + expense),
            "",
            f"indemnity {money(indemnity)} · expense {money(expense)}",
        )
    )
    if user.has_perm("claims.view_claimpayment"):
        board.tiles.append(
            Tile(
                "Paid this month",
                money(figures["paid_month"]),
                _url(payments, status__exact="issued"),
                f"{figures['paid_payments']:,} payment{'' if figures['paid_payments'] == 1 else 's'} issued since "
                f"{dt.date.fromisoformat(figures['month']):1 %b %Y}",
            )
        )


def loss_ratio(incurred: Decimal, earned: Decimal) -> Decimal | None:
    """Net incurred ÷ earned premium; None without earned premium (no ratio to speak of)."""
    return None if not earned else incurred / earned


def _loss_ratio_chart(figures: dict, now: dt.datetime) -> Chart:
    rows = []
    for row in figures["types"]:
        earned, incurred = Decimal(row["earned"]), Decimal(row["incurred"])
        ratio = loss_ratio(incurred, earned)
        rows.append(
            (row["label"], ratio, f"{row['label']}: net incurred {money(incurred)} of {money(earned)} earned premium")
        )
    since = dt.datetime.fromisoformat(figures["start"])
    return Chart(f"Loss ratio by policy type, {since.day} {since:%b %Y} to {now.day} {now:%b %Y}", ratio_chart(rows))


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


def _percent(ratio: Decimal | None) -> str:
    return "—" if ratio is None else f"{ratio * 100:,.1f} %"


def _ratio_colour(ratio: Decimal) -> str:
    return next(colour for bound, colour in RATIO_COLOURS if bound is None or ratio <= bound)


def ratio_chart(rows: list[tuple[str, Decimal | None, str]], *, width: int = 360) -> SafeString:
    """Horizontal bars of ratios as percentages, with a line at 100 %: (label, ratio or None, tooltip) per row.
    The scale reaches at least 100 %, so a ratio's length reads the same from one visit to the next."""
    row_height, label_width, value_width = 26, 80, 70
    height = row_height * len(rows) + 8
    top = max([Decimal("1"), *(ratio for _label, ratio, _tip in rows if ratio is not None)])
    span = width - label_width - value_width
    full = label_width + round(span / top)
    summary = ", ".join(f"{label}: {_percent(ratio)}" for label, ratio, _tip in rows)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="vanguard-chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(summary)}">'
    ]
    for index, (label, ratio, tip) in enumerate(rows):
        y = 4 + index * row_height
        bar = round(span * ratio / top) if ratio else 0
        parts.append(f'<text x="0" y="{y + 17}" font-size="12" fill="currentColor">{escape(label)}</text>')
        if ratio is not None:
            parts.append(
                f'<rect x="{label_width}" y="{y + 4}" width="{max(bar, 1)}" height="18" rx="2" '
                f'fill="{_ratio_colour(ratio)}"><title>{escape(tip)}</title></rect>'
            )
        parts.append(
            f'<text x="{label_width + bar + 6}" y="{y + 17}" font-size="12" fill="currentColor">'
            f"{escape(_percent(ratio))}</text>"
        )
    parts.append(
        f'<line x1="{full}" y1="0" x2="{full}" y2="{height}" stroke="#999" stroke-width="1" '
        'stroke-dasharray="3 3"><title>100 %</title></line>'
    )
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
