"""Fixtures for the gateway: the real ASGI app and demo nodes served by uvicorn on free ports, in threads."""

import socket

import pytest
from openai import OpenAI

from accounts.models import User
from accounts.services import account_create
from tests.servers import ServerThread
from usage import gateway, selectors, services
from usage.demo_node import DemoNode, DemoNodeConfig

CHEAP_MODEL = "llama-3.1-8b-instruct"  # small tier: $0.10 / $0.15 per 1M tokens = 100 / 150 nanos per token


def free_port_url() -> str:
    """An address where nothing listens (connections are refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


@pytest.fixture(autouse=True)
def _gateway_state(settings):
    settings.GATEWAY_ROUTE_CACHE_SECONDS = 0  # tests change nodes between requests
    selectors.routes_cache_clear()
    services._buyer_ledger_ids.clear()
    gateway._health.clear()
    yield
    selectors.routes_cache_clear()
    services._buyer_ledger_ids.clear()
    gateway._health.clear()


@pytest.fixture
def demo_node_factory():
    servers = []

    def start(**config):
        server = ServerThread(DemoNode(DemoNodeConfig(**config)))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def demo_node(demo_node_factory):
    return demo_node_factory()


@pytest.fixture
def gateway_server(asgi_server):
    return asgi_server


@pytest.fixture
def oscar(db):
    return User.objects.create_user(email="oscar@example.com", password="correct horse battery staple")


@pytest.fixture
def operator_account(oscar):
    return account_create(name="Oscar's GPUs", owner=oscar, is_buyer=False, is_operator=True)


MODELS = ["llama-3.1-8b-instruct", "qwen3-8b", "mistral-7b-instruct", "gpt-oss-20b"]


@pytest.fixture
def node(operator_account, demo_node):
    return services.node_create(account=operator_account, name="gpu-1", base_url=demo_node.url, model_ids=MODELS)


@pytest.fixture
def client_for(gateway_server):
    def make(secret):
        return OpenAI(base_url=f"{gateway_server.url}/v1", api_key=secret, max_retries=0, timeout=30)

    return make


@pytest.fixture
def alice_client(client_for, alice_key):
    return client_for(alice_key.secret)
