"""`python manage.py stripe_setup`: write dj-stripe's rows from settings and print the webhook URL."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from billing.card_services import stripe_setup_ensure
from billing.stripe_webhooks import HANDLED_EVENTS


class Command(BaseCommand):
    help = "Configure card payments from STRIPE_* settings and print the webhook endpoint to register in Stripe."

    def handle(self, *args, **options):
        endpoint = stripe_setup_ensure()
        if endpoint is None:
            raise CommandError(
                "Card payments are off: set STRIPE_TEST_SECRET_KEY (or STRIPE_LIVE_SECRET_KEY with "
                "STRIPE_LIVE_MODE=true) and STRIPE_WEBHOOK_SECRET."
            )
        mode = "live" if settings.STRIPE_LIVE_MODE else "test"
        self.stdout.write(f"Card payments are on ({mode} mode).")
        self.stdout.write(f"Webhook endpoint: {endpoint.url}")
        self.stdout.write(f"Events to send: {', '.join(sorted(HANDLED_EVENTS))}")
