"""Real processes for the fault tests: uvicorn and a Celery worker on the test database, killed with SIGKILL."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def child_env(**extra) -> dict:
    """The environment of a production process, pointed at the database pytest-django created."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "infer.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DEBUG": "true",
        "SECRET_KEY": settings.SECRET_KEY,
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        "GATEWAY_ROUTE_CACHE_SECONDS": "0",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update({key: str(value) for key, value in extra.items()})
    return env


class Process:
    """One child process in its own session; `kill()` is SIGKILL: no cleanup, no goodbye."""

    def __init__(self, args: list[str], env: dict, log: Path):
        self.args, self.env, self.log = args, env, log
        self.popen = None

    def start(self):
        self.popen = subprocess.Popen(
            [sys.executable, *self.args],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def kill(self):
        if self.popen and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def stop(self):
        if self.popen and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def gateway(env: dict, log: Path, port: int | None = None) -> tuple[Process, str]:
    port = port or free_port()
    args = ["-m", "uvicorn", "infer.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
    process = Process([*args, "--log-level", "warning", "--no-access-log", "--lifespan", "off"], env, log).start()
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(url + "/v1/models"), timeout=30, what=f"uvicorn on {url}\n{log.read_text()[-2000:]}")
    return process, url


def celery_worker(env: dict, log: Path) -> Process:
    """One worker process (solo pool: the task runs in the process we kill)."""
    args = ["-m", "celery", "-A", "infer", "worker", "--pool", "solo", "--loglevel", "WARNING", "--without-heartbeat"]
    return Process([*args, "--without-gossip", "--without-mingle"], env, log).start()


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
    except httpx.HTTPError:
        return False
    return True


def wait_until(predicate, *, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def json_error(text: str) -> dict:
    """The `error` object of an OpenAI-style error body (KeyError/ValueError if it is not one)."""
    import json

    return json.loads(text)["error"]
