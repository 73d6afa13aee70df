"""No API key secret is ever written to the database: a full pg_dump of the test database holds none."""

import json
import os
import subprocess

import pytest
from django.db import connection
from django.test import Client

from accounts import keys
from accounts.models import APIKey
from accounts.services import api_key_create, api_key_revoke, api_key_spend_limit_set

pytestmark = pytest.mark.django_db(transaction=True)  # pg_dump sees only committed rows


def _pg_dump() -> str:
    db = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
    command = ["pg_dump", "--no-owner", "-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432)]
    command += ["-U", db["USER"] or "postgres", db["NAME"]]
    return subprocess.run(command, capture_output=True, text=True, check=True, env=env, timeout=120).stdout


def _secret_of(full_key: str) -> str:
    return keys.parse(full_key)[1]


def test_it_keeps_every_key_secret_out_of_a_dump_of_the_database(alice, alice_account):
    created = []
    # 1. The service.
    key, full = api_key_create(account=alice_account, name="service key", created_by=alice)
    created.append(full)
    api_key_spend_limit_set(api_key=key, spend_limit_nanos=5_000_000_000, spend_limit_period="daily")
    # 2. The portal page (which also renders the key once and has a session of its own).
    portal = Client()
    portal.force_login(alice)
    page = portal.post("/keys/", {"name": "portal key", "spend_limit": "10", "spend_limit_period": "weekly"})
    assert page.status_code == 200
    created.append(page.context["full_key"])
    # 3. The JSON API.
    response = portal.post("/api/keys", {"name": "api key"}, content_type="application/json")
    assert response.status_code == 201
    created.append(response.json()["key"])
    # Use every key once, and revoke one, so any "last used" or audit path has run.
    for full_key in created:
        assert Client().get("/api/balance", HTTP_AUTHORIZATION=f"Bearer {full_key}").status_code == 200
    api_key_revoke(api_key=key)

    dump = _pg_dump()

    assert APIKey.objects.count() == 3
    for full_key in created:
        secret = _secret_of(full_key)
        assert full_key not in dump
        assert secret not in dump
        assert secret[:16] not in dump  # not even half of it
        # The dump is real: it holds the key's public id and the hash we keep instead.
        stored = APIKey.objects.get(public_id=keys.parse(full_key)[0])
        assert stored.public_id in dump
        assert stored.secret_hash in dump
        assert stored.secret_hash == keys.hash_secret(secret)


def test_it_keeps_the_secret_out_of_every_row_read_back_through_sql(alice, alice_account):
    """The same search without pg_dump: every row of every table, as text."""
    key, full = api_key_create(account=alice_account, name="sql key", created_by=alice)
    secret = _secret_of(full)
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [row[0] for row in cursor.fetchall()]
        rows = []
        for table in tables:
            cursor.execute(f'SELECT t::text FROM "{table}" t')  # table names come from the catalog
            rows.extend(row[0] for row in cursor.fetchall())
    text = json.dumps(rows)
    assert key.public_id in text
    assert secret not in text
