"""Migration operations that keep upgrades right where Tortoise's own would not.

SQLite cannot drop a table-level UNIQUE constraint or alter a column in place; Tortoise then
remakes the table, which keeps columns and rows but not the table's other indexes. And
Tortoise keeps a field's `default` in Python only, so its AddField of a NOT NULL column fails
on any table that has rows (both databases): use `AddField` from here instead
(tests/test_upgrades.py migrates a filled database and fails otherwise)."""

import re

from tortoise.indexes import Index
from tortoise.migrations import operations as ops


def _is_sqlite(state_editor) -> bool:
    return state_editor is not None and state_editor.client.capabilities.dialect == "sqlite"


async def restore_indexes(state_editor, model) -> None:
    """Create again every index the model declares that the table no longer has."""
    table = model._meta.db_table
    rows = await state_editor.client.execute_query_dict(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", [table]
    )
    present = {row["name"] for row in rows}
    declared = list(model._meta.indexes) + [
        (field.source_field or name,)
        for name, field in model._meta.fields_map.items()
        if getattr(field, "index", False) and not getattr(field, "unique", False)
    ]
    for spec in declared:
        index = spec if isinstance(spec, Index) else Index(fields=list(spec))
        if state_editor._index_name_for_model(model, index) not in present:
            await state_editor.add_index(model, index)
    # A unique_together lives in the old table's CREATE TABLE, which the remake does not
    # repeat: without it, ON CONFLICT DO NOTHING would insert duplicates (two deliveries).
    unique = await _unique_column_sets(state_editor, table)
    for fields in model._meta.unique_together or ():
        columns = state_editor._resolve_fields_to_columns(model, list(fields))
        if tuple(columns) not in unique:
            name = f"uid_{table}_{'_'.join(columns)}"[:60]
            quoted = ", ".join(f'"{column}"' for column in columns)
            await state_editor.client.execute_script(
                f'CREATE UNIQUE INDEX "{name}" ON "{table}" ({quoted})'
            )


async def _unique_column_sets(state_editor, table: str) -> set[tuple[str, ...]]:
    """The column lists of the table's unique indexes (SQLite)."""
    found = set()
    for index in await state_editor.client.execute_query_dict(f'PRAGMA index_list("{table}")'):
        if index["unique"]:
            columns = await state_editor.client.execute_query_dict(
                f'PRAGMA index_info("{index["name"]}")'
            )
            found.add(tuple(column["name"] for column in columns))
    return found


class RemoveUniqueTogether(ops.RemoveConstraint):
    """Drop a unique_together; on SQLite by remaking the table without it."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        if _is_sqlite(state_editor):
            model = new_state.apps.get_model(f"{app_label}.{self.model_name}")
            await state_editor._remake_table(model)
            await restore_indexes(state_editor, model)
            return
        await super().database_forward(app_label, old_state, new_state, state_editor)


class AlterField(ops.AlterField):
    """Tortoise's AlterField, then (on SQLite) the indexes the remake dropped."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        await super().database_forward(app_label, old_state, new_state, state_editor)
        if _is_sqlite(state_editor):
            model = new_state.apps.get_model(f"{app_label}.{self.model_name}")
            await restore_indexes(state_editor, model)


class AddField(ops.AddField):
    """Tortoise's AddField; a NOT NULL column with a plain default gets that default in the
    database too, so the rows already there take it instead of failing the migration."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor is None:
            return
        model = new_state.apps.get_model(f"{app_label}.{self.model_name}")
        field = model._meta.fields_map[self.name]
        default = field.default
        if field.null or default is None or callable(default) or field.has_db_default():
            await state_editor.add_field(model, self.name)
            return
        # Only for the ALTER TABLE: the migration state (what makemigrations compares the
        # models with) keeps the field as declared.
        declared, field.db_default = field.db_default, default
        try:
            await state_editor.add_field(model, self.name)
        finally:
            field.db_default = declared


class DropForeignKey(ops.AlterField):
    """Tortoise's AlterField of a foreign key to `db_constraint=False`, whose constraint
    Tortoise's own leaves in the database: PostgreSQL drops it, SQLite remakes the table
    without it (and restores its indexes)."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor is None:
            return
        model = new_state.apps.get_model(f"{app_label}.{self.model_name}")
        field = model._meta.fields_map[self.name]
        table = model._meta.db_table
        column = field.source_field or f"{self.name}_id"
        if _is_sqlite(state_editor):
            await _sqlite_drop_reference(state_editor.client, table, column)
            return
        rows = await state_editor.client.execute_query_dict(
            "SELECT c.conname AS name FROM pg_constraint c"
            " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)"
            " WHERE c.contype = 'f' AND c.conrelid = $1::regclass AND a.attname = $2",
            [table, column],
        )
        for row in rows:
            await state_editor.client.execute_script(
                f'ALTER TABLE "{table}" DROP CONSTRAINT "{row["name"]}"'
            )


async def _sqlite_drop_reference(client, table: str, column: str) -> None:
    """SQLite's way to drop a column's REFERENCES clause: a new table from the same
    definition without it, the rows copied (ids and the AUTOINCREMENT counter kept), the old
    table dropped, the new one renamed, and every index and unique constraint made again.
    (Tortoise's table remake would keep the reference and lose the unique constraints.)"""
    found = await client.execute_query_dict(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]
    )
    definition = found[0]["sql"]
    reference = re.compile(
        rf'("{column}"\s+INT(?:EGER)?(?:\s+NOT NULL)?)\s+REFERENCES\s+"\w+"\s*\("\w+"\)'
        r"(?:\s+ON DELETE (?:CASCADE|SET NULL|SET DEFAULT|RESTRICT|NO ACTION))?"
    )
    changed, count = reference.subn(r"\1", definition)
    if not count:
        return
    indexes = await client.execute_query_dict(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
        [table],
    )
    sequence = await client.execute_query_dict(
        "SELECT seq FROM sqlite_sequence WHERE name = ?", [table]
    )
    created = changed.replace(f'CREATE TABLE "{table}"', f'CREATE TABLE "new__{table}"', 1)
    await client.execute_script(created)
    await client.execute_script(f'INSERT INTO "new__{table}" SELECT * FROM "{table}"')
    await client.execute_script(f'DROP TABLE "{table}"')
    await client.execute_script(f'ALTER TABLE "new__{table}" RENAME TO "{table}"')
    for index in indexes:
        await client.execute_script(index["sql"])
    if sequence:
        await client.execute_query(
            "UPDATE sqlite_sequence SET seq = ? WHERE name = ?", [sequence[0]["seq"], table]
        )
