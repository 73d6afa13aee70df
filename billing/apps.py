"""The billing app: the ledger, prices and deposits; wires Stripe's webhooks on start."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _stripe_setup(sender, **kwargs):
    from .card_services import stripe_setup_ensure

    stripe_setup_ensure()


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing and ledger"

    def ready(self):
        from .stripe_webhooks import stripe_webhooks_connect

        stripe_webhooks_connect()
        # dj-stripe's rows follow the settings after every migrate (also `manage.py stripe_setup`).
        post_migrate.connect(_stripe_setup, sender=self, dispatch_uid="infer:stripe_setup")
