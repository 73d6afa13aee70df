"""Fixtures for billing tests: a local EVM chain with TestUSDC, and fast RPC retries."""

import pytest

from billing.chains import testing


@pytest.fixture
def chain_settings(settings):
    """Retries without long sleeps, and scans from block 0 of a fresh local chain."""
    settings.CHAIN_RPC_BACKOFF_MS = 1
    settings.CHAIN_RPC_ATTEMPTS = 4
    settings.CHAIN_ETHEREUM_START_BLOCK = 0
    settings.CHAIN_BASE_START_BLOCK = 0
    return settings


@pytest.fixture
def chain(chain_settings):
    """eth-tester in process with the real-USDC stand-in deployed and allow-listed for Ethereum."""
    w3 = testing.eth_tester_web3()
    usdc = testing.deploy_token(w3)
    chain_settings.CHAIN_USDC_ETHEREUM = usdc.address
    w3.usdc = usdc
    return w3
