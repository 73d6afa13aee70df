"""Template filters that show nano-dollar amounts as USD."""

from django import template

from billing.money import format_cost, format_usd, nanos_to_price_per_1k, nanos_to_price_per_1m

register = template.Library()


@register.filter
def usd(nanos):
    """A balance: 2 decimals, rounded toward zero."""
    return "" if nanos is None else format_usd(int(nanos))


@register.filter
def cost(nanos):
    """A per-request cost: up to 9 decimals."""
    return "" if nanos is None else format_cost(int(nanos))


@register.filter
def per_1k(nanos_per_token):
    """A price in nanos per token as USD per 1K tokens (exact: at most 6 decimals)."""
    return "" if nanos_per_token is None else f"${nanos_to_price_per_1k(int(nanos_per_token)):f}"


@register.filter
def per_1m(nanos_per_token):
    """A price in nanos per token as USD per 1M tokens (exact: at most 3 decimals)."""
    return "" if nanos_per_token is None else f"${nanos_to_price_per_1m(int(nanos_per_token)):f}"
