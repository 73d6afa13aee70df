"""The gateway's pool of connections to nodes (usage/node_pool.py): reuse, limits, and dead connections."""

import asyncio
import time

import httpx

from tests.servers import ServerThread, run_async
from usage.demo_node import DemoNode, DemoNodeConfig
from usage.node_pool import NodeTransport

BODY = {"model": "llama-3.1-8b-instruct", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3}


def _client(max_connections=100):
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=10)
    return httpx.AsyncClient(transport=NodeTransport(limits=limits), timeout=10)


def _serve(**config):
    app = DemoNode(DemoNodeConfig(**{k: v for k, v in config.items() if k == "latency_ms"}))
    server = ServerThread(app, **{k: v for k, v in config.items() if k != "latency_ms"})
    return app, server


def test_it_reuses_one_connection_for_requests_one_after_another_plain_and_streamed():
    app, server = _serve()

    async def run():
        async with _client() as client:
            for n in range(6):
                body = {**BODY, "stream": n % 2 == 1}
                async with client.stream("POST", f"{server.url}/v1/chat/completions", json=body) as response:
                    assert response.status_code == 200
                    await response.aread()

    try:
        run_async(run())
        assert app.requests == 6 and len(app.connections) == 1
    finally:
        server.stop()


def test_it_never_opens_more_than_max_connections_and_serves_every_queued_request():
    app, server = _serve(latency_ms=20)

    async def run():
        async with _client(max_connections=4) as client:
            responses = await asyncio.gather(
                *(client.post(f"{server.url}/v1/chat/completions", json=BODY) for _ in range(40))
            )
            assert [r.status_code for r in responses] == [200] * 40
            assert len(client._transport._pool.connections) <= 4

    try:
        run_async(run())
        assert app.requests == 40 and len(app.connections) == 4
    finally:
        server.stop()


def test_a_connection_the_node_closed_while_idle_is_replaced_not_used():
    # uvicorn closes a keep-alive connection idle for more than timeout_keep_alive seconds.
    app, server = _serve(timeout_keep_alive=0.2)

    async def run():
        async with _client() as client:
            for _ in range(3):
                response = await client.post(f"{server.url}/v1/chat/completions", json=BODY)
                assert response.status_code == 200
                time.sleep(0.5)  # the node hangs up on the idle connection meanwhile

    try:
        run_async(run())
        assert app.requests == 3 and len(app.connections) == 3
    finally:
        server.stop()
