"""Schema changes that Django's migration autodetector would make the slow way."""

from __future__ import annotations

from django.db import migrations, models


def plain_index_from_db_index(
    *, model_name: str, name: str, field: models.Field, table: str, old_name: str, new_name: str
) -> migrations.SeparateDatabaseAndState:
    """Replace a text column's ``db_index=True`` by a plain ``Meta.indexes`` b-tree named `new_name`.

    On PostgreSQL ``db_index`` on a text column builds two indexes: `old_name` and its ``LIKE`` twin
    (`old_name` + ``_like``, ``varchar_pattern_ops``), which only a case-sensitive prefix match reads and every
    insert writes. Django would drop both and build the new index from scratch, holding a lock that stops writes
    for as long as that takes on a large table; this drops the twin and renames the b-tree it already has, at
    once. The model's state is what the autodetector expects (the field without ``db_index``, the named index),
    so no later ``makemigrations`` sees a difference. `old_name` is the name Django gave the index (fixed when
    the column was created; the migration states it rather than recomputing it).
    """
    index, column = models.Index(fields=[name], name=new_name), name

    def forwards(apps, schema_editor) -> None:
        q = schema_editor.quote_name
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP INDEX IF EXISTS {q(old_name + '_like')}")
            schema_editor.execute(f"ALTER INDEX {q(old_name)} RENAME TO {q(new_name)}")
        else:  # SQLite has no LIKE twin and no ALTER INDEX
            schema_editor.execute(f"DROP INDEX IF EXISTS {q(old_name)}")
            schema_editor.execute(f"CREATE INDEX {q(new_name)} ON {q(table)} ({q(column)})")

    def backwards(apps, schema_editor) -> None:
        q = schema_editor.quote_name
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER INDEX {q(new_name)} RENAME TO {q(old_name)}")
            schema_editor.execute(
                f"CREATE INDEX {q(old_name + '_like')} ON {q(table)} ({q(column)} varchar_pattern_ops)"
            )
        else:
            schema_editor.execute(f"DROP INDEX IF EXISTS {q(new_name)}")
            schema_editor.execute(f"CREATE INDEX {q(old_name)} ON {q(table)} ({q(column)})")

    return migrations.SeparateDatabaseAndState(
        state_operations=[
            migrations.AlterField(model_name=model_name, name=name, field=field),
            migrations.AddIndex(model_name=model_name, index=index),
        ],
        database_operations=[migrations.RunPython(forwards, backwards)],
    )
