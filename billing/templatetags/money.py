"""Template filters that show nano-dollar amounts as USD."""

from django import template

from billing.money import format_cost, format_usd

register = template.Library()


@register.filter
def usd(nanos):
    """A balance: 2 decimals, rounded toward zero."""
    return "" if nanos is None else format_usd(int(nanos))


@register.filter
def cost(nanos):
    """A per-request cost: up to 9 decimals."""
    return "" if nanos is None else format_cost(int(nanos))
