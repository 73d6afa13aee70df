"""With the database refusing connections, /api/ answers 503 in DRF's shape and the portal a plain 503 page.

The outage is real: the test database's connection settings point at a loopback port that is bound but
never listening, so every connection attempt is refused, as PostgreSQL refuses them when it is down or
full ("too many clients"). PostgreSQL itself is not touched (other engineers' tests share it).
"""

import logging
import socket
from contextlib import contextmanager

import httpx
import pytest
from django.db import connection

from infer.unavailable import RETRY_AFTER_SECONDS

pytestmark = pytest.mark.django_db(transaction=True)

API_PATHS = ["/api/balance", "/api/usage", "/api/notifications", "/api/deposits", "/api/keys"]


@contextmanager
def database_refusing():
    """Every new connection of this process to the default database is refused until the block ends.

    The settings dict is shared by every thread's connection object, so a server thread in this
    process loses its database too; closing the connection makes the next query connect again."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))  # bound but not listening: a connection to it is refused at once
    saved = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = str(listener.getsockname()[1])
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["PORT"] = saved
        listener.close()


def assert_api_503(response):
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"detail", "code"}
    assert body["code"] == "database_unavailable"
    assert int(response["Retry-After"]) == RETRY_AFTER_SECONDS


def assert_page_503(response):
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert int(response["Retry-After"]) == RETRY_AFTER_SECONDS
    assert "Back in a moment" in response.content.decode()
    assert "Traceback" not in response.content.decode()


@pytest.mark.parametrize("path", API_PATHS)
def test_the_api_answers_503_with_retry_after_to_a_key_and_recovers(client, alice_key, path):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {alice_key.secret}"}
    with database_refusing():
        assert_api_503(client.get(path, **auth))
    assert client.get(path, **auth).status_code == 200


def test_the_api_answers_503_to_a_session_and_recovers(client, alice, alice_account):
    client.force_login(alice)
    with database_refusing():
        assert_api_503(client.get("/api/balance"))
        assert_api_503(client.post("/api/notifications/read"))
    assert client.get("/api/balance").status_code == 200


def test_the_notification_stream_answers_503_before_it_starts(client, alice_key):
    from tests.servers import off_main_thread

    auth = {"HTTP_AUTHORIZATION": f"Bearer {alice_key.secret}"}
    with database_refusing():
        # An async view: the test client runs it with async_to_sync, which a browser test's loop would refuse.
        assert_api_503(off_main_thread(client.get, "/api/notifications/stream", **auth))


@pytest.mark.parametrize("path", ["/", "/usage/", "/funds/", "/keys/", "/team/"])
def test_a_portal_page_answers_a_plain_503_page_and_recovers(client, alice, alice_account, path):
    client.force_login(alice)
    with database_refusing():
        assert_page_503(client.get(path))
    assert client.get(path).status_code == 200


def test_an_outage_is_logged_once_as_a_warning_without_a_traceback(client, alice_key, caplog):
    with database_refusing(), caplog.at_level(logging.INFO):
        client.get("/api/balance", HTTP_AUTHORIZATION=f"Bearer {alice_key.secret}")
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.name, r.levelno) for r in records] == [("infer.unavailable", logging.WARNING)]
    assert records[0].exc_info is None
    assert "/api/balance" in records[0].getMessage()


def test_a_middleware_that_reads_the_database_before_the_view_gets_a_503_too(client, alice, alice_account, settings):
    # LoginRequiredMiddleware reads the session's user in process_view, outside the view: Django's
    # 500 handler is what sees that exception (the debug page would show instead of it with DEBUG on).
    settings.DEBUG = False
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.contrib.auth.middleware.LoginRequiredMiddleware"]
    client.force_login(alice)
    client.raise_request_exception = False  # the test client re-raises what reached the 500 handler
    with database_refusing():
        assert_page_503(client.get("/"))
        assert_api_503(client.get("/api/balance"))
    assert client.get("/").status_code == 200


def test_other_server_errors_stay_500(rf):
    from infer.unavailable import server_error

    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        response = server_error(rf.get("/"))
    assert response.status_code == 500
    assert "Retry-After" not in response


def test_through_uvicorn_the_portal_and_the_api_answer_503_and_recover(asgi_server, alice, alice_account, alice_key):
    from django.test import Client

    session = Client()
    session.force_login(alice)
    cookies = {name: morsel.value for name, morsel in session.cookies.items()}
    key = {"Authorization": f"Bearer {alice_key.secret}"}
    with httpx.Client(base_url=asgi_server.url, cookies=cookies, timeout=30, trust_env=False) as http:
        with database_refusing():
            page = http.get("/")
            api = http.get("/api/balance", headers=key)
        assert page.status_code == 503 and "Back in a moment" in page.text
        assert page.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
        assert api.status_code == 503 and api.json()["code"] == "database_unavailable"
        assert api.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
        assert http.get("/").status_code == 200
        assert http.get("/api/balance", headers=key).status_code == 200


def test_the_gateway_answers_an_openai_503_with_retry_after_and_charges_nothing(
    settings, asgi_server, alice_key, alice_account
):
    from billing.models import Hold
    from conftest import fund

    fund(alice_account, 1_000_000_000)
    settings.GATEWAY_DB_POOL_TIMEOUT_SECONDS = 1  # the lean path's pool gives up on a refused database
    body = {"model": "llama-3.1-8b-instruct", "messages": [{"role": "user", "content": "Hi"}]}
    key = {"Authorization": f"Bearer {alice_key.secret}"}
    with httpx.Client(base_url=asgi_server.url, timeout=30, trust_env=False) as http:
        with database_refusing():  # the lean path's pool is new with this server: it must connect
            response = http.post("/v1/chat/completions", json=body, headers=key)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "service_unavailable"
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert not Hold.objects.exists()
