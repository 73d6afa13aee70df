"""The one way INFER reaches inference nodes: a pooled httpx.AsyncClient per event loop."""

import asyncio

import httpx
from django.conf import settings

_clients: dict[int, httpx.AsyncClient] = {}

# A connection failure before any output: the next node is tried.
CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def client() -> httpx.AsyncClient:
    """The pooled client of the running event loop (an AsyncClient belongs to the loop that made it)."""
    loop = asyncio.get_running_loop()
    found = _clients.get(id(loop))
    if found is None or found.is_closed:
        found = httpx.AsyncClient(
            timeout=httpx.Timeout(
                settings.GATEWAY_NODE_READ_TIMEOUT_SECONDS, connect=settings.GATEWAY_NODE_CONNECT_TIMEOUT_SECONDS
            ),
            limits=httpx.Limits(max_connections=settings.GATEWAY_NODE_MAX_CONNECTIONS, max_keepalive_connections=256),
            # Nodes are addressed directly; an HTTP(S)_PROXY in the environment must not reroute them.
            trust_env=False,
        )
        _clients[id(loop)] = found
    return found


def headers_for(api_key: str) -> dict:
    """Headers of a request to a node; its JSON body is encoded by the caller (orjson)."""
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers
