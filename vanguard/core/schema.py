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


class OnlyOn(migrations.operations.base.Operation):
    """`operations` applied to the database only on `vendor`; the migration state moves on everywhere.

    For a change whose SQL is the same on the other databases (a check constraint whose expression compiles
    differently on SQLite only): Django would drop and re-add it there too, and re-adding a check constraint on
    PostgreSQL scans the whole table under a lock that stops writes."""

    reversible = True

    def __init__(self, vendor: str, operations: list[migrations.operations.base.Operation]) -> None:
        self.vendor = vendor
        self.operations = operations

    def deconstruct(self):
        return self.__class__.__qualname__, [self.vendor, self.operations], {}

    def state_forwards(self, app_label, state) -> None:
        for operation in self.operations:
            operation.state_forwards(app_label, state)

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor != self.vendor:
            return
        for operation in self.operations:  # each against the state the one before it left
            to = from_state.clone()
            operation.state_forwards(app_label, to)
            operation.database_forwards(app_label, schema_editor, from_state, to)
            from_state = to

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor != self.vendor:
            return
        states = [to_state]  # to_state is the state before these operations
        for operation in self.operations[:-1]:
            after = states[-1].clone()
            operation.state_forwards(app_label, after)
            states.append(after)
        after_all = from_state
        for operation, before in zip(reversed(self.operations), reversed(states), strict=True):
            operation.database_backwards(app_label, schema_editor, after_all, before)
            after_all = before

    def describe(self) -> str:
        return f"On {self.vendor} only: " + "; ".join(operation.describe() for operation in self.operations)
