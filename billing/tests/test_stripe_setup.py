"""dj-stripe's rows come from settings: idempotent, following a rotated key or secret."""

import pytest
from django.core.management import CommandError, call_command
from djstripe.models import Account as StripeAccount
from djstripe.models import APIKey as StripeAPIKey
from djstripe.models import WebhookEndpoint

from billing.card_services import stripe_setup_ensure

from . import stripe_fakes as fakes

pytestmark = pytest.mark.django_db


def test_it_writes_the_rows_once(stripe_on, capsys):
    stripe_setup_ensure()
    call_command("stripe_setup")
    endpoint = WebhookEndpoint.objects.get()
    assert str(endpoint.djstripe_uuid) == fakes.WEBHOOK_UUID
    assert endpoint.secret == fakes.WEBHOOK_SECRET
    assert endpoint.djstripe_tolerance == 300
    assert "checkout.session.completed" in endpoint.enabled_events
    assert StripeAccount.objects.count() == 1
    key = StripeAPIKey.objects.get()
    assert key.secret == fakes.TEST_SECRET_KEY
    assert key.djstripe_owner_account == endpoint.djstripe_owner_account
    out = capsys.readouterr().out
    assert f"/stripe/webhook/{fakes.WEBHOOK_UUID}/" in out
    assert "test mode" in out


def test_it_follows_a_rotated_key_and_secret(stripe_on, settings):
    settings.STRIPE_TEST_SECRET_KEY = "sk_test_" + "rotated0" * 4
    settings.STRIPE_WEBHOOK_SECRET = "whsec_rotated"
    stripe_setup_ensure()
    assert list(StripeAPIKey.objects.values_list("secret", flat=True)) == [settings.STRIPE_TEST_SECRET_KEY]
    assert WebhookEndpoint.objects.get().secret == "whsec_rotated"


def test_it_refuses_to_run_without_keys(settings, db):
    settings.STRIPE_TEST_SECRET_KEY = ""
    assert stripe_setup_ensure() is None
    with pytest.raises(CommandError, match="Card payments are off"):
        call_command("stripe_setup")
    assert not WebhookEndpoint.objects.exists()
