"""Fixtures for billing tests: local EVM chains (eth-tester, hardhat) with TestUSDC, and fast RPC retries."""

import pytest
from web3 import Web3
from web3.providers.rpc import HTTPProvider

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


@pytest.fixture
def hardhat(chain_settings):
    """A real `hardhat node` on a free loopback port, configured as Ethereum's RPC URL."""
    with testing.hardhat_node() as url:
        chain_settings.CHAIN_ETHEREUM_RPC_URL = url
        yield Web3(HTTPProvider(url))
