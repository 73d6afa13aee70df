"""Money rules in one place: integer nano-dollars, exact price conversions, cost and the revenue split.

Every amount in INFER is an `int` of nano-dollars (1 USD = 1_000_000_000). `Decimal` appears only
here, at the edges: parsing what people type, formatting what they see, and converting to Stripe's
cents or USDC's 6 decimals. Each conversion has one explicit rounding rule, named below.
"""

from decimal import ROUND_DOWN, Decimal, InvalidOperation

from django.conf import settings

NANOS_PER_USD = 1_000_000_000
NANOS_PER_CENT = 10_000_000
NANOS_PER_USDC_UNIT = 1_000  # USDC has 6 decimals: one base unit is 1,000 nano-dollars


class MoneyError(ValueError):
    """An amount or price that cannot be represented exactly, or is not an amount at all."""


def _to_decimal(value, what: str) -> Decimal:
    if isinstance(value, bool) or isinstance(value, float):
        raise MoneyError(f"{what} must be given as a decimal string, not {type(value).__name__}")
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise MoneyError(f"{what} must be a number, got {value!r}") from None
    if not number.is_finite():
        raise MoneyError(f"{what} must be a finite number, got {value!r}")
    return number


def _exact_int(number: Decimal, what: str, finest: str) -> int:
    if number != number.to_integral_value():
        raise MoneyError(f"{what} is finer than INFER can charge exactly (at most {finest})")
    return int(number)


def usd_to_nanos(value) -> int:
    """Parse a USD amount ("12.50") into nano-dollars; more than 9 decimals is refused."""
    return _exact_int(_to_decimal(value, "Amount") * NANOS_PER_USD, "Amount", "9 decimal places")


def nanos_to_usd(nanos: int) -> Decimal:
    """Exact USD value of an amount (for APIs: serialized as a string with up to 9 decimals)."""
    return (Decimal(nanos) / NANOS_PER_USD).normalize() if nanos else Decimal(0)


def format_usd(nanos: int, places: int = 2) -> str:
    """Display rule: balances with 2 decimals rounded toward zero; per-request costs with up to 9."""
    value = Decimal(nanos) / NANOS_PER_USD
    quantum = Decimal(1).scaleb(-places)
    shown = value.quantize(quantum, rounding=ROUND_DOWN)
    sign = "-" if shown < 0 else ""
    return f"{sign}${abs(shown):,.{places}f}"


def format_cost(nanos: int) -> str:
    """A per-request cost with up to 9 decimals and no trailing zeros past the cents."""
    text = f"{Decimal(abs(nanos)) / NANOS_PER_USD:.9f}".rstrip("0")
    whole, _, frac = text.partition(".")
    frac = frac.ljust(2, "0")
    return f"{'-' if nanos < 0 else ''}${whole}.{frac}"


# --- Prices: nano-dollars per token ----------------------------------------------------------------


def price_per_1k_to_nanos(value) -> int:
    """Operators quote USD per 1K tokens; at most 6 decimals is a whole number of nanos per token."""
    number = _to_decimal(value, "Price per 1K tokens")
    if number < 0:
        raise MoneyError("Price per 1K tokens cannot be negative")
    return _exact_int(number * NANOS_PER_USD / 1_000, "Price per 1K tokens", "6 decimal places")


def price_per_1m_to_nanos(value) -> int:
    """Platform defaults are quoted USD per 1M tokens; at most 3 decimals is exact."""
    number = _to_decimal(value, "Price per 1M tokens")
    if number < 0:
        raise MoneyError("Price per 1M tokens cannot be negative")
    return _exact_int(number * NANOS_PER_USD / 1_000_000, "Price per 1M tokens", "3 decimal places")


def nanos_to_price_per_1k(nanos_per_token: int) -> Decimal:
    return (Decimal(nanos_per_token) * 1_000 / NANOS_PER_USD).normalize()


def nanos_to_price_per_1m(nanos_per_token: int) -> Decimal:
    return (Decimal(nanos_per_token) * 1_000_000 / NANOS_PER_USD).normalize()


# --- Cost and split --------------------------------------------------------------------------------


def request_cost(*, input_tokens: int, output_tokens: int, input_price_nanos: int, output_price_nanos: int) -> int:
    """cost = input_tokens × input_price + output_tokens × output_price, exactly."""
    for name, value in (
        ("input_tokens", input_tokens),
        ("output_tokens", output_tokens),
        ("input_price_nanos", input_price_nanos),
        ("output_price_nanos", output_price_nanos),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise MoneyError(f"{name} must be a non-negative integer, got {value!r}")
    return input_tokens * input_price_nanos + output_tokens * output_price_nanos


def revenue_split(cost_nanos: int) -> tuple[int, int]:
    """(operator share, platform share): operator = cost × share // 100, platform gets the rest."""
    if not isinstance(cost_nanos, int) or isinstance(cost_nanos, bool) or cost_nanos < 0:
        raise MoneyError(f"cost must be a non-negative integer of nanos, got {cost_nanos!r}")
    operator = cost_nanos * settings.OPERATOR_SHARE_PERCENT // 100
    return operator, cost_nanos - operator


# --- Edges to outside systems --------------------------------------------------------------------------


def nanos_to_cents(nanos: int) -> int:
    """Stripe charges whole cents: an amount that is not whole cents is refused, never rounded."""
    if nanos % NANOS_PER_CENT:
        raise MoneyError("Card amounts must be whole cents")
    return nanos // NANOS_PER_CENT


def cents_to_nanos(cents: int) -> int:
    return cents * NANOS_PER_CENT


def usdc_units_to_nanos(units: int) -> int:
    """1 USDC = $1; a base unit (10^-6 USDC) is exactly 1,000 nano-dollars."""
    return units * NANOS_PER_USDC_UNIT


def nanos_to_usdc_units(nanos: int) -> int:
    """Payouts in USDC: rounded down to a whole base unit, so we never send more than owed."""
    return nanos // NANOS_PER_USDC_UNIT
