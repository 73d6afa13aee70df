"""The benchmarks' own PostgreSQL database: created on first use and migrated (call after django.setup())."""

import psycopg
from django.conf import settings
from django.core.management import call_command


def ensure_database() -> None:
    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname="postgres", autocommit=True
    ) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
            conn.execute(f'CREATE DATABASE "{db["NAME"]}"')
    print("migrating the bench database (the first run takes a while)...", flush=True)
    call_command("migrate", verbosity=0)
