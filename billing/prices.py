"""Prices of models: tier defaults, operator overrides, and the maximum cost a request can reach."""

from dataclasses import dataclass

from .models import CatalogModel, Tier


@dataclass(frozen=True)
class Price:
    """Nano-dollars per token for input (prompt) and output (completion) tokens."""

    input_nanos: int
    output_nanos: int


def tier_price(tier: Tier) -> Price:
    return Price(tier.input_price_nanos, tier.output_price_nanos)


def effective_price(*, model: CatalogModel, input_override_nanos=None, output_override_nanos=None) -> Price:
    """An operator's price for a model on its node overrides the tier default, per direction."""
    default = tier_price(model.tier)
    return Price(
        default.input_nanos if input_override_nanos is None else input_override_nanos,
        default.output_nanos if output_override_nanos is None else output_override_nanos,
    )
