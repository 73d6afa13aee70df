"""ASGI apps (ours, demo nodes, fakes) served by a real uvicorn in a thread on a port the OS picked."""

import asyncio
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import uvicorn


class ServerThread:
    """An ASGI app served by uvicorn in a thread. The socket is bound before the thread starts, so
    the port is ours from the first moment (no race with another test picking the same port)."""

    def __init__(self, app, **config):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, **{"log_level": "warning", "access_log": False, "lifespan": "off", **config})
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)

    async def _serve(self):
        await self.server.serve(sockets=[self.sock])
        # The gateway's admission pool belongs to this loop: close it with the server, or every
        # test's server would leave its database connections open.
        from usage.lean import pools_close
        from usage.nodes import sessions_close

        await pools_close()
        await sessions_close()

    def stop(self):
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def asgi_server(transactional_db):
    """uvicorn serving infer.asgi in this process (so it sees the test database)."""
    from infer.asgi import application

    server = ServerThread(application)
    yield server
    server.stop()


def off_main_thread(fn, *args, **kwargs):
    """fn(*args, **kwargs) in a thread of its own: Playwright's sync API (the browser tests) keeps an event
    loop running in the main thread for the whole session, where asyncio.run and async_to_sync refuse."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(fn, *args, **kwargs).result()


def run_async(coroutine):
    """asyncio.run(coroutine), off the main thread (see off_main_thread)."""
    return off_main_thread(asyncio.run, coroutine)
