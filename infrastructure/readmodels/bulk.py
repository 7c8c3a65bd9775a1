"""The rows of a read-model batch written in bulk, each value converted as SQLAlchemy converts it.

SQLAlchemy Core's `execute(insert(table), rows)` builds every row's parameters in Python (about
2 µs a row) and psycopg's executemany costs a round trip a row; a batch is thousands of rows. Here
SQLAlchemy compiles each statement once and its column types convert the values (a balance's
positions to JSON), so the driver receives what SQLAlchemy would have given it. SQLite: one
`executemany` of plain tuples a statement. PostgreSQL: new rows by `COPY`, and changed rows by a
`DELETE` of their keys then a `COPY` (what an UPDATE does to a row there: a new version of it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table, bindparam, insert, update
from sqlalchemy.engine import Dialect

Row = Mapping[str, Any]
Convert = Callable[[Any], Any]
KEYS_PER_IN = 500  # SQLite: keys of one IN (...) list
KEYS_PER_ARRAY = 20_000  # PostgreSQL: keys of one array parameter


class BulkRows:
    """Reads the rows of many keys, and writes rows, a few statements a table and a batch."""

    def __init__(
        self,
        dialect: Dialect,
        schema: str | None,
        encoders: Mapping[tuple[str, str], Convert] | None = None,
        decoders: Mapping[tuple[str, str], Callable[[Convert], Convert]] | None = None,
    ) -> None:
        """`encoders`: a (table, column)'s own converter, which gives what the column type's
        would; `decoders`: a (table, column)'s own result converter, made from the column
        type's (when values need one: infrastructure/readmodels/json_text.py)."""
        self.dialect = dialect
        self.schema = schema
        self.copies = dialect.name == "postgresql"
        self._statements: dict[tuple[str, str, tuple[str, ...]], tuple[str, tuple[str, ...]]] = {}
        self._converters: dict[tuple[str, str], Convert | None] = dict(encoders or {})
        self._decoders = dict(decoders or {})

    def by_keys(
        self,
        connection: Connection,
        table: Table,
        key: str,
        keys: Sequence[Any],
        columns: tuple[str, ...],
    ) -> list[tuple[Any, ...]]:
        """The stored rows whose key is one of `keys`, as tuples of their `columns` values,
        converted as SQLAlchemy converts them (a JSON column's text decoded; no Row nor mapping
        a row): on PostgreSQL `key = ANY(array)`, one statement however many keys (an IN list
        of 500 takes ten times as long to plan there), on SQLite IN lists of KEYS_PER_IN."""
        names = ", ".join(self._quote(column) for column in columns)
        select_sql = f"SELECT {names} FROM {self._name(table)} WHERE {self._quote(key)}"  # noqa: S608 - names of our own tables
        found: list[tuple[Any, ...]] = []
        if self.copies:
            for start in range(0, len(keys), KEYS_PER_ARRAY):
                chunk = list(keys[start : start + KEYS_PER_ARRAY])
                found += connection.exec_driver_sql(f"{select_sql} = ANY(%s)", (chunk,)).all()
        else:
            for start in range(0, len(keys), KEYS_PER_IN):
                listed = tuple(keys[start : start + KEYS_PER_IN])
                marks = ", ".join("?" * len(listed))
                found += connection.exec_driver_sql(f"{select_sql} IN ({marks})", listed).all()
        conversions = [
            (index, convert)
            for index, convert in enumerate(self._result_converter(table, c) for c in columns)
            if convert is not None
        ]
        if not conversions:
            return [tuple(row) for row in found]
        converted: list[tuple[Any, ...]] = []
        for row in found:
            row_values = list(row)
            for index, convert in conversions:
                row_values[index] = convert(row_values[index])
            converted.append(tuple(row_values))
        return converted

    def insert(self, connection: Connection, table: Table, rows: Sequence[Row]) -> None:
        """Insert rows that all have the same columns, as `execute(insert(table), rows)`."""
        if not rows:
            return
        columns = tuple(rows[0])
        if self.copies:
            self._copy(connection, table, columns, self._tuples(table, columns, rows))
            return
        sql, order = self._statement("insert", table, columns, "")
        connection.exec_driver_sql(sql, self._tuples(table, order, rows))

    def replace(self, connection: Connection, table: Table, key: str, rows: Sequence[Row]) -> None:
        """Rows whose key is stored already, every column given: each stored row becomes the
        given one, as an UPDATE of every other column WHERE key = the row's key does."""
        if not rows:
            return
        columns = tuple(rows[0])
        if self.copies:
            keys = [row[key] for row in rows]
            delete = f"DELETE FROM {self._name(table)} WHERE {self._quote(key)} = ANY(%s)"  # noqa: S608 - names of our own tables
            connection.exec_driver_sql(delete, (keys,))
            self._copy(connection, table, columns, self._tuples(table, columns, rows))
            return
        sql, order = self._statement("update", table, columns, key)
        connection.exec_driver_sql(sql, self._tuples(table, order, rows, key))

    def insert_values(
        self,
        connection: Connection,
        table: Table,
        columns: tuple[str, ...],
        rows: Sequence[tuple[Any, ...]],
    ) -> None:
        """Insert rows given as tuples of the values of `columns`, in that order: no dict a
        row (a fold's rows are written as it made them)."""
        if not rows:
            return
        if self.copies:
            self._copy(connection, table, columns, self._ordered(table, columns, columns, rows))
            return
        sql, order = self._statement("insert", table, columns, "")
        connection.exec_driver_sql(sql, self._ordered(table, columns, order, rows))

    def replace_values(
        self,
        connection: Connection,
        table: Table,
        columns: tuple[str, ...],
        key: str,
        rows: Sequence[tuple[Any, ...]],
    ) -> None:
        """`replace` for rows given as tuples of the values of `columns`, in that order."""
        if not rows:
            return
        if self.copies:
            at = columns.index(key)
            delete = f"DELETE FROM {self._name(table)} WHERE {self._quote(key)} = ANY(%s)"  # noqa: S608 - names of our own tables
            connection.exec_driver_sql(delete, ([row[at] for row in rows],))
            self._copy(connection, table, columns, self._ordered(table, columns, columns, rows))
            return
        sql, order = self._statement("update", table, columns, key)
        names = tuple(key if name == "key_" else name for name in order)
        connection.exec_driver_sql(sql, self._ordered(table, columns, names, rows))

    def _ordered(
        self,
        table: Table,
        columns: tuple[str, ...],
        order: tuple[str, ...],
        rows: Sequence[tuple[Any, ...]],
    ) -> Sequence[tuple[Any, ...]]:
        """Rows of `columns` values as the statement takes them: in its parameters' `order`,
        converted where the column's type says (the rows themselves when neither is needed)."""
        positions = [columns.index(name) for name in order]
        conversions = [
            (index, convert)
            for index, convert in enumerate(self._converter(table, name) for name in order)
            if convert is not None
        ]
        if positions == list(range(len(columns))) and not conversions:
            return rows
        pick: Callable[[tuple[Any, ...]], tuple[Any, ...]] = (
            itemgetter(*positions) if len(positions) > 1 else lambda row: (row[positions[0]],)
        )
        if not conversions:
            return [pick(row) for row in rows]
        converted: list[tuple[Any, ...]] = []
        for row in rows:
            row_values = list(pick(row))
            for index, convert in conversions:
                row_values[index] = convert(row_values[index])
            converted.append(tuple(row_values))
        return converted

    def _statement(
        self, kind: str, table: Table, columns: tuple[str, ...], key: str
    ) -> tuple[str, tuple[str, ...]]:
        """The SQL SQLAlchemy compiles for the dialect, and the order of its parameters."""
        found = self._statements.get((kind, table.name, columns))
        if found is not None:
            return found
        if kind == "insert":
            statement: Any = insert(table)
            compiled = statement.compile(dialect=self.dialect, column_keys=list(columns))
        else:  # the key is bound under another name than the columns set
            statement = (
                update(table)
                .where(table.c[key] == bindparam("key_"))
                .values({column: bindparam(column) for column in columns if column != key})
            )
            compiled = statement.compile(dialect=self.dialect)
        order = tuple(getattr(compiled, "positiontup", None) or ())
        if not order:
            raise ValueError(f"a positional dialect expected, not {self.dialect.name}")
        self._statements[(kind, table.name, columns)] = found = (str(compiled), order)
        return found

    def _tuples(
        self, table: Table, order: tuple[str, ...], rows: Sequence[Row], key: str = ""
    ) -> list[tuple[Any, ...]]:
        """Each row's values in the statement's order, converted where the column's type says."""
        names = [key if name == "key_" else name for name in order]
        values: Callable[[Row], tuple[Any, ...]] = (
            itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)
        )
        conversions = [
            (index, convert)
            for index, convert in enumerate(self._converter(table, name) for name in names)
            if convert is not None
        ]
        if not conversions:
            return [values(row) for row in rows]
        converted: list[tuple[Any, ...]] = []
        for row in rows:
            row_values = list(values(row))
            for index, convert in conversions:
                row_values[index] = convert(row_values[index])
            converted.append(tuple(row_values))
        return converted

    def _converter(self, table: Table, column: str) -> Convert | None:
        """The column type's bind processor for the dialect (None when values pass as they are)."""
        memo = (table.name, column)
        if memo not in self._converters:
            column_type = table.c[column].type.dialect_impl(self.dialect)
            self._converters[memo] = column_type.bind_processor(self.dialect)
        return self._converters[memo]

    def _result_converter(self, table: Table, column: str) -> Convert | None:
        """The column type's result processor for the dialect (None: values come as they are:
        psycopg decodes JSON itself)."""
        memo = ("result", f"{table.name}.{column}")
        if memo not in self._converters:
            column_type = table.c[column].type.dialect_impl(self.dialect)
            own = column_type.result_processor(self.dialect, None)
            decoder = self._decoders.get((table.name, column))
            self._converters[memo] = own if own is None or decoder is None else decoder(own)
        return self._converters[memo]

    def _copy(
        self,
        connection: Connection,
        table: Table,
        columns: tuple[str, ...],
        values: Iterable[tuple[Any, ...]],
    ) -> None:
        """COPY rows of `columns` values, converted already."""
        names = ", ".join(self._quote(column) for column in columns)
        driver = connection.connection.driver_connection
        if driver is None:  # pragma: no cover - a live connection always has one
            raise RuntimeError("no driver connection")
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {self._name(table)} ({names}) FROM STDIN") as copy,
        ):
            for row in values:
                copy.write_row(row)

    def _name(self, table: Table) -> str:
        quote = self.dialect.identifier_preparer.quote
        name = quote(table.name)
        return f"{quote(self.schema)}.{name}" if self.schema else name

    def _quote(self, column: str) -> str:
        return str(self.dialect.identifier_preparer.quote(column))
