import random
from decimal import Decimal

import pytest
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from billing import money
from billing.money import MoneyError


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=0, max_value=2**64))
@settings(max_examples=1_000, deadline=None, database=None)
def test_split_always_adds_up_to_the_cost(edge, seed):
    # 1,000 examples × 1,000 costs (hypothesis's edge value, then 999 from a generator it seeds).
    rng = random.Random(seed)
    costs = [edge] + [rng.randrange(0, 10 ** rng.randint(1, 15)) for _ in range(999)]
    for cost in costs:
        operator, platform = money.revenue_split(cost)
        assert operator + platform == cost
        assert operator == cost * 80 // 100
        assert 0 <= platform <= cost


@override_settings(OPERATOR_SHARE_PERCENT=70)
def test_split_reads_the_share_from_settings():
    assert money.revenue_split(1_000) == (700, 300)


def test_cost_is_exact():
    assert money.request_cost(input_tokens=1234, output_tokens=567, input_price_nanos=100, output_price_nanos=150) == (
        1234 * 100 + 567 * 150
    )


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True, None])
def test_cost_refuses_non_integers_and_negatives(bad):
    with pytest.raises(MoneyError):
        money.request_cost(input_tokens=bad, output_tokens=1, input_price_nanos=1, output_price_nanos=1)


@pytest.mark.parametrize(
    "per_1k, nanos",
    [("0.0001", 100), ("0.00015", 150), ("0.002", 2_000), ("1", 1_000_000), ("0.000001", 1), ("0", 0)],
)
def test_price_per_1k_converts_exactly_and_round_trips(per_1k, nanos):
    assert money.price_per_1k_to_nanos(per_1k) == nanos
    assert money.nanos_to_price_per_1k(nanos) == Decimal(per_1k)


@pytest.mark.parametrize(
    "per_1m, nanos", [("0.10", 100), ("0.15", 150), ("0.30", 300), ("1.20", 1200), ("3.00", 3000), ("0.001", 1)]
)
def test_price_per_1m_converts_exactly_and_round_trips(per_1m, nanos):
    assert money.price_per_1m_to_nanos(per_1m) == nanos
    assert money.nanos_to_price_per_1m(nanos) == Decimal(per_1m)


@given(st.integers(min_value=0, max_value=10**12))
@settings(max_examples=2_000, deadline=None, database=None)
def test_every_price_in_nanos_round_trips_through_both_quotes(nanos):
    assert money.price_per_1k_to_nanos(money.nanos_to_price_per_1k(nanos)) == nanos
    assert money.price_per_1m_to_nanos(money.nanos_to_price_per_1m(nanos)) == nanos


@pytest.mark.parametrize("too_fine", ["0.0000001", "0.00000015"])
def test_it_refuses_a_price_per_1k_finer_than_a_nano_per_token(too_fine):
    with pytest.raises(MoneyError, match="at most 6 decimal places"):
        money.price_per_1k_to_nanos(too_fine)


def test_it_refuses_a_price_per_1m_finer_than_a_nano_per_token():
    with pytest.raises(MoneyError, match="at most 3 decimal places"):
        money.price_per_1m_to_nanos("0.0001")


@pytest.mark.parametrize("bad", ["-0.1", "abc", "", "NaN", "Infinity", 0.1, True])
def test_it_refuses_prices_that_are_not_prices(bad):
    with pytest.raises(MoneyError):
        money.price_per_1k_to_nanos(bad)


def test_usd_parsing_is_exact_and_refuses_sub_nano_amounts():
    assert money.usd_to_nanos("5") == 5_000_000_000
    assert money.usd_to_nanos("0.000000001") == 1
    with pytest.raises(MoneyError):
        money.usd_to_nanos("0.0000000001")
    with pytest.raises(MoneyError):
        money.usd_to_nanos(5.0)


def test_display_rounds_balances_toward_zero():
    assert money.format_usd(4_999_999_999) == "$4.99"
    assert money.format_usd(-4_999_999_999) == "-$4.99"
    assert money.format_usd(1_234_567_000_000_000) == "$1,234,567.00"
    assert money.format_cost(123) == "$0.000000123"
    assert money.format_cost(5_000_000_000) == "$5.00"


def test_edges_to_cents_and_usdc_units():
    assert money.nanos_to_cents(500_000_000) == 50
    with pytest.raises(MoneyError):
        money.nanos_to_cents(500_000_001)
    assert money.usdc_units_to_nanos(5_000_000) == 5_000_000_000
    assert money.nanos_to_usdc_units(1_999) == 1
