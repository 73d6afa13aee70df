"""The one way INFER reaches inference nodes: a pooled aiohttp ClientSession per event loop.

The gateway's node calls are its hot path, and the machine's CPU is what limits it. Measured on this
2-core machine (sequential POSTs to a demo node, CPU of the client process per call): httpx.AsyncClient
690-780 us, aiohttp 190 us (C HTTP parser, no anyio layer). aiohttp is already installed for web3.
`NodeResponse` is the small surface the gateway uses; every failure to reach or read a node is a
`NodeError`, so the gateway fails over before the first token and bills what was delivered after it.
The portal's one-off test call to a node (`test_call`) stays on httpx, synchronously.
"""

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import aiohttp
import httpx
from django.conf import settings

_sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}


class NodeError(Exception):
    """A node could not be reached, timed out, or broke off its answer."""


class NodeResponse:
    """A node's answer: status, then the body whole (`aread`) or as lines as they arrive (`aiter_lines`)."""

    def __init__(self, response: aiohttp.ClientResponse):
        self._response = response
        self.status_code = response.status
        self.content = b""

    async def aread(self) -> bytes:
        try:
            self.content = await self._response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise NodeError(str(exc) or type(exc).__name__) from exc
        return self.content

    async def aiter_lines(self):
        """Lines of the body (without their line break) as they arrive; no limit on a line's length."""
        pending = b""
        try:
            async for chunk in self._response.content.iter_any():
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    yield line.rstrip(b"\r").decode()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise NodeError(str(exc) or type(exc).__name__) from exc
        if pending:
            yield pending.rstrip(b"\r").decode()

    async def aclose(self) -> None:
        """Done with it: a body read to its end returns the connection to the pool, otherwise it is closed."""
        self._response.release()


def session() -> aiohttp.ClientSession:
    """The pooled session of the running event loop (a session belongs to the loop that made it)."""
    loop = asyncio.get_running_loop()
    found = _sessions.get(loop)
    if found is None or found.closed:
        # Keyed by the loop itself; a loop that ended takes its session along, so a process that runs
        # many loops (the test suite's servers) keeps none of theirs.
        for other in [other for other in _sessions if other.is_closed()]:
            del _sessions[other]
        connector = aiohttp.TCPConnector(
            limit=settings.GATEWAY_NODE_MAX_CONNECTIONS,
            limit_per_host=0,
            # Idle connections are dropped after 2 s, before the node's own keep-alive timeout closes
            # them (5 s in uvicorn, so vLLM): reusing one the node is closing at that moment would fail.
            keepalive_timeout=2.0,
        )
        found = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None,
                connect=settings.GATEWAY_NODE_CONNECT_TIMEOUT_SECONDS,
                sock_read=settings.GATEWAY_NODE_READ_TIMEOUT_SECONDS,
            ),
            # Nodes are addressed directly; an HTTP(S)_PROXY in the environment must not reroute them.
            trust_env=False,
            auto_decompress=True,
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        _sessions[loop] = found
    return found


async def sessions_close() -> None:
    """Close this event loop's session (a server shutting down; tests stop many servers per session)."""
    found = _sessions.pop(asyncio.get_running_loop(), None)
    if found is not None:
        await found.close()


async def post(url: str, *, body: bytes, headers: dict, stream: bool = False) -> NodeResponse:
    """POST a JSON body to a node. Not streamed: the body is read whole. Streamed: headers only."""
    try:
        response = NodeResponse(await session().post(url, data=body, headers=headers, allow_redirects=False))
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise NodeError(str(exc) or type(exc).__name__) from exc
    if not stream:
        try:
            await response.aread()
        finally:
            await response.aclose()
    return response


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
