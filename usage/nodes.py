"""The one way INFER reaches inference nodes: a pooled httpx.AsyncClient per event loop."""

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from .node_pool import NodeTransport

_clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}

# A connection failure before any output: the next node is tried.
CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def client() -> httpx.AsyncClient:
    """The pooled client of the running event loop (an AsyncClient belongs to the loop that made it)."""
    loop = asyncio.get_running_loop()
    found = _clients.get(loop)
    if found is None or found.is_closed:
        # Keyed by the loop itself (an id can be reused by a later loop); a loop that ended takes its
        # client along, so a process that runs many loops (the test suite's servers) keeps none of theirs.
        for other in [other for other in _clients if other.is_closed()]:
            del _clients[other]
        # Idle connections are dropped after 2 s, before the node's own keep-alive timeout closes them
        # (5 s in uvicorn, so vLLM): reusing one the node is closing at that moment fails the request.
        limits = httpx.Limits(
            max_connections=settings.GATEWAY_NODE_MAX_CONNECTIONS, max_keepalive_connections=256, keepalive_expiry=2.0
        )
        found = httpx.AsyncClient(
            timeout=httpx.Timeout(
                settings.GATEWAY_NODE_READ_TIMEOUT_SECONDS, connect=settings.GATEWAY_NODE_CONNECT_TIMEOUT_SECONDS
            ),
            limits=limits,
            transport=NodeTransport(limits=limits),  # httpcore's pool, with linear-time assignment
            # Nodes are addressed directly; an HTTP(S)_PROXY in the environment must not reroute them.
            trust_env=False,
        )
        _clients[loop] = found
    return found


def headers_for(api_key: str) -> dict:
    """Headers of a request to a node; its JSON body is encoded by the caller (orjson)."""
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def test_call(*, base_url: str, api_key: str, model: str) -> str:
    """One tiny chat completion to a node before it goes live; "" when it answered well, else why not.

    Synchronous (the portal's views are), with its own short-lived client and the same no-proxy rule.
    """
    url = f"{base_url.rstrip('/')}/chat/completions"
    body = {"model": model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1, "stream": False}
    timeout = httpx.Timeout(
        settings.NODE_TEST_CALL_TIMEOUT_SECONDS, connect=settings.GATEWAY_NODE_CONNECT_TIMEOUT_SECONDS
    )
    try:
        with httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False) as http:
            response = http.post(url, json=body, headers=headers_for(api_key))
    except httpx.ConnectError:
        return f"We could not connect to {base_url}: is the server running and reachable from the internet?"
    except httpx.TimeoutException:
        return f"{base_url} did not answer a test request within {settings.NODE_TEST_CALL_TIMEOUT_SECONDS} seconds."
    except httpx.HTTPError as exc:
        return f"The test request to {base_url} failed: {type(exc).__name__}."
    if response.status_code in (401, 403):
        return f"The node refused our key (HTTP {response.status_code}): check the API key you entered."
    if response.status_code != 200:
        return f"The node answered HTTP {response.status_code} to a test request for `{model}`: {_error_text(response)}"
    try:
        payload = response.json()
    except ValueError:
        return "The node's answer to a test request was not JSON: is this an OpenAI-compatible server?"
    if not isinstance(payload, dict) or not isinstance(payload.get("choices"), list) or not payload["choices"]:
        return "The node's answer to a test request had no `choices`: is this an OpenAI-compatible server?"
    return ""


def _error_text(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        message = None
    return (str(message) if message else response.text or "no details")[:200]


def address_check(*, base_url: str) -> str:
    """ "" when a node's host is a public internet address, else why not (unless private ones are allowed).

    The gateway and the test call send requests wherever an operator points them: without this an
    operator could aim them at the platform's own network (databases, cloud metadata at 169.254.x).
    Checked at registration; a host that later resolves elsewhere (DNS rebinding) is a known limit.
    """
    if settings.NODE_ALLOW_PRIVATE_ADDRESSES:
        return ""
    parts = urlsplit(base_url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError):
        return f"We could not find the host {parts.hostname!r}: check its name."
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global:
            return (
                f"{parts.hostname} is a private or local address ({address}); "
                "nodes must be reachable from the internet."
            )
    return ""
