"""``{% load money %}`` then ``{{ claim.claim_amount|money }}`` -> ``12,500.00 EUR`` (vanguard.core.money)."""

from __future__ import annotations

from django import template

from vanguard.core.money import format_money

register = template.Library()


@register.filter(name="money")
def money(value: object) -> str:
    return format_money(value)  # type: ignore[arg-type]
