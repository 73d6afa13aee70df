"""Load the ledger's database-enforced invariants from billing/sql/ (PostgreSQL; SQLite gets what it can)."""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        # Through a plain cursor with no parameters: the SQL's RAISE formats use a literal %.
        with schema_editor.connection.cursor() as cursor:
            cursor.execute((SQL_DIR / "ledger.sql").read_text())
    elif vendor == "sqlite":
        for statement in (SQL_DIR / "ledger_sqlite.sql").read_text().split("END;"):
            body = "\n".join(line for line in statement.splitlines() if not line.startswith("--")).strip()
            if body:
                schema_editor.execute(body + " END;")


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "DROP TRIGGER IF EXISTS billing_entry_balanced ON billing_entry;"
            "DROP TRIGGER IF EXISTS billing_transaction_has_entries ON billing_transaction;"
            "DROP TRIGGER IF EXISTS billing_entry_append_only ON billing_entry;"
            "DROP TRIGGER IF EXISTS billing_transaction_append_only ON billing_transaction;"
        )


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(install, uninstall)]
