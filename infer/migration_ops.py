"""Migration operations that build indexes online on PostgreSQL and plainly elsewhere (SQLite for make run)."""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations


class OnPostgresConcurrently:
    """CONCURRENTLY on PostgreSQL (busy tables keep taking writes); a plain index elsewhere."""

    plain = None

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return self.plain.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return self.plain.database_backwards(self, app_label, schema_editor, from_state, to_state)


class AddIndexOnline(OnPostgresConcurrently, AddIndexConcurrently):
    plain = migrations.AddIndex


class RemoveIndexOnline(OnPostgresConcurrently, RemoveIndexConcurrently):
    plain = migrations.RemoveIndex
