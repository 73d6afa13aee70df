"""The gateway's pooled connections to nodes (usage/nodes.py): reuse, limits, dead connections, errors."""

import asyncio

import pytest

from tests.servers import ServerThread, run_async
from usage import nodes
from usage.demo_node import DemoNode, DemoNodeConfig

from .conftest import free_port_url

BODY = b'{"model": "llama-3.1-8b-instruct", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3}'
HEADERS = nodes.headers_for("")


def _serve(latency_ms=0, **config):
    app = DemoNode(DemoNodeConfig(latency_ms=latency_ms))
    return app, ServerThread(app, **config)


async def _in_session(work):
    try:
        return await work()
    finally:
        await nodes.sessions_close()


def test_it_reuses_one_connection_for_requests_one_after_another_plain_and_streamed():
    app, server = _serve()

    async def work():
        for n in range(6):
            response = await nodes.post(f"{server.url}/v1/chat/completions", body=BODY, headers=HEADERS)
            assert response.status_code == 200 and b"choices" in response.content
            stream = await nodes.post(
                f"{server.url}/v1/chat/completions", body=BODY[:-1] + b', "stream": true}', headers=HEADERS, stream=True
            )
            lines = [line async for line in stream.aiter_lines()]
            await stream.aclose()
            assert lines[-2:] == ["data: [DONE]", ""]

    try:
        run_async(_in_session(work))
        assert app.requests == 12 and len(app.connections) == 1
    finally:
        server.stop()


def test_it_never_opens_more_than_max_connections_and_serves_every_queued_request(settings):
    settings.GATEWAY_NODE_MAX_CONNECTIONS = 4
    app, server = _serve(latency_ms=20)

    async def work():
        calls = [nodes.post(f"{server.url}/v1/chat/completions", body=BODY, headers=HEADERS) for _ in range(40)]
        return [r.status_code for r in await asyncio.gather(*calls)]

    try:
        assert run_async(_in_session(work)) == [200] * 40
        assert app.requests == 40 and len(app.connections) == 4
    finally:
        server.stop()


def test_a_connection_the_node_closed_while_idle_is_replaced_not_used():
    # uvicorn closes a keep-alive connection idle for more than timeout_keep_alive seconds.
    app, server = _serve(timeout_keep_alive=0.2)

    async def work():
        for _ in range(3):
            response = await nodes.post(f"{server.url}/v1/chat/completions", body=BODY, headers=HEADERS)
            assert response.status_code == 200
            await asyncio.sleep(0.5)  # the node hangs up on the idle connection meanwhile

    try:
        run_async(_in_session(work))
        assert app.requests == 3 and len(app.connections) == 3
    finally:
        server.stop()


def test_a_node_that_cannot_be_reached_is_a_node_error():
    async def work():
        with pytest.raises(nodes.NodeError):
            await nodes.post(f"{free_port_url()}/v1/chat/completions", body=BODY, headers=HEADERS)

    run_async(_in_session(work))
