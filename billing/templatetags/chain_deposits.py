"""The `{% chain_deposit_panel as panel %}` tag: lets billing/_chain_deposits.html render inside any page."""

from django import template

from billing.chains.panel import chain_deposit_panel as build_panel

register = template.Library()


@register.simple_tag(takes_context=True)
def chain_deposit_panel(context):
    """USDC addresses, QR codes and history for the request's current Account (None without one)."""
    request = context.get("request")
    account = getattr(request, "account", None)
    return build_panel(account) if account is not None else None
