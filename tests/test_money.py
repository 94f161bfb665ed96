"""Money as people read it (SPEC §10): thousands separators and the installation's currency code."""

from decimal import Decimal

from django.template import Context, Template

from vanguard.core.money import format_money


def test_amount_has_separators_two_places_and_the_code(settings):
    # given
    settings.CURRENCY = "EUR"
    # when / then
    assert format_money(Decimal("405266")) == "405,266.00 EUR"
    assert format_money(Decimal("1234567.5")) == "1,234,567.50 EUR"
    assert format_money(Decimal("0.10")) == "0.10 EUR"
    assert format_money("999.99", currency=False) == "999.99"


def test_currency_comes_from_the_setting(settings):
    # given
    settings.CURRENCY = "CHF"
    # when / then
    assert format_money(Decimal("12500.00")) == "12,500.00 CHF"


def test_missing_or_unreadable_amount_is_a_dash():
    assert format_money(None) == "—"
    assert format_money("") == "—"
    assert format_money("not money") == "—"


def test_template_filter(settings):
    # given
    settings.CURRENCY = "EUR"
    # when
    rendered = Template("{% load money %}{{ amount|money }}").render(Context({"amount": Decimal("405266.00")}))
    # then
    assert rendered == "405,266.00 EUR"
