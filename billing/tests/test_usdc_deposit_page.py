"""The USDC deposit panel in headless Chromium: addresses with QR codes that decode to them, and a
deposit's status moving from confirming to credited without a reload."""

import io

import pytest
import zxingcpp
from allauth.account.models import EmailAddress
from PIL import Image

from billing.chains import testing
from billing.chains.evm import evm_scan
from billing.checks import ledger_check
from billing.models import DepositAddress

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def _login(page, live_server, user):
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(f"{live_server.url}/")


def _decode(png: bytes) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("L"))]


def test_it_shows_each_network_address_with_a_qr_code_that_decodes_to_it(live_server, page, alice, alice_account):
    _login(page, live_server, alice)
    page.goto(f"{live_server.url}/deposits/usdc/")
    page.shots("usdc-deposits")

    for network in ("ethereum", "base", "solana"):
        shown = page.get_by_test_id(f"address-{network}").inner_text().strip()
        assert shown == DepositAddress.objects.get(account=alice_account, network=network).address
        assert _decode(page.get_by_test_id(f"qr-{network}").screenshot()) == [shown]
    text = page.locator(".chain-deposits").inner_text()
    assert "Only USDC is credited" in text
    assert "USDC (ERC-20, 6 decimals)" in text
    assert "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v" in text

    page.set_viewport_size({"width": 390, "height": 800})
    page.shots("usdc-deposits-phone")


def test_it_updates_a_deposit_from_seen_to_confirming_to_credited_without_a_reload(
    live_server, page, alice, alice_account, chain
):
    _login(page, live_server, alice)
    page.goto(f"{live_server.url}/deposits/usdc/")
    address = page.get_by_test_id("address-ethereum").inner_text().strip()
    assert "No USDC deposits yet" in page.locator("#chain-deposit-history").inner_text()

    chain.provider.finalized_block = chain.eth.block_number
    testing.transfer(chain.usdc, address, 42_500_000)
    evm_scan("ethereum", w3=chain)
    status = page.locator("#chain-deposit-history .status")
    status.filter(has_text="Seen").wait_for(timeout=40_000)
    assert "$42.50" in page.locator("#chain-deposit-history").inner_text()
    page.shots("seen")

    testing.mint(chain.usdc, chain.eth.accounts[4], 1)  # a later block; still not finalized
    evm_scan("ethereum", w3=chain)
    status.filter(has_text="Confirming").wait_for(timeout=40_000)
    page.shots("confirming")

    chain.provider.finalized_block = None
    evm_scan("ethereum", w3=chain)
    status.filter(has_text="Credited").wait_for(timeout=40_000)
    page.shots("credited")
    assert ledger_check().ok
