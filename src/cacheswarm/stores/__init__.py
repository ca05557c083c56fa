"""Stores: one module per backend x dataset, all with the same narrow interface, `Store`.

A store has read(key) -> value | None and write(key, want_value) -> value | None (key is
the 1-based id of a product or restaurant), fresh_value(key) for cache-only writes,
cache_key(key), plus what the run needs around it: check_owned(), seeded() (rows to draw
keys from, or NotSeeded), iter_values() for bulk cache loads, for_user(), configure(settings)
and, on DynamoDB, take_capacity(). What a capability adds (catalog.METHODS) is its own protocol:
Inserts, Scans, Versions. Strategies are written once against these. The type checker (mypy,
tests/test_store_protocol.py) and that test's own signature check hold every registered binding's
store class to the protocols its capabilities name.
"""

from __future__ import annotations

from typing import Iterator, Protocol, runtime_checkable


@runtime_checkable
class Store(Protocol):
    dataset: str
    backend: str

    def cache_key(self, key: int) -> str: ...
    def read(self, key: int) -> bytes | None: ...
    def write(self, key: int, want_value: bool = False) -> bytes | None: ...
    def fresh_value(self, key: int) -> bytes: ...
    def iter_values(self, n: int) -> Iterator[tuple[str, bytes]]: ...
    def check_owned(self, allow_existing: bool) -> None: ...
    def seeded(self) -> int: ...
    def for_user(self) -> Store: ...
    def configure(self, settings) -> None: ...


class Inserts(Protocol):  # catalog.INSERTS
    def insert(self, key: int) -> bytes: ...
    def remove_inserted(self, base: int, upto: int) -> int: ...


class Scans(Protocol):  # catalog.SCANS
    def scan(self, first: int, last: int) -> list[bytes]: ...
    def read_many(self, ids: list[int]) -> dict[int, bytes]: ...


class Versions(Protocol):  # catalog.VERSIONS
    def version_of(self, value: bytes) -> tuple[int, float]: ...


class NotSeeded(Exception):
    """A table is missing, empty or incomplete; str() says which (the caller adds the seed command).
    `rows`: how many rows a seed that fixes it keeps (the table's highest id), when it has any."""

    def __init__(self, message: str, rows: int | None = None):
        super().__init__(message)
        self.rows = rows


def dense_ids(table: str, count: int, top: int, unit: str = "rows") -> int:
    """`count` records with ids up to `top` are seeded ids 1..n: n, or NotSeeded (empty, or gaps)."""
    if count == 0:
        raise NotSeeded(f"table {table} is empty")
    if count != top:
        raise NotSeeded(f"table {table} has gaps ({unit} {count}, highest id {top})", rows=top)
    return count


def each_value(n: int, read, cache_key) -> Iterator[tuple[str, bytes]]:
    """(cache key, value) of keys 1..n read one at a time (iter_values of a store without a bulk read);
    keys with no value are left out."""
    for key in range(1, n + 1):
        value = read(key)
        if value is not None:
            yield cache_key(key), value


class ConnectError(Exception):
    """A database cannot be used; str() says why and what to do."""


class ForeignTable(Exception):
    """A table exists but cacheswarm did not create it."""


OWNER_COMMENT = "created by cacheswarm"  # every table cacheswarm creates carries it (a table comment)


def refuse_foreign(owner: str | None, table: str, allow_existing: bool) -> None:
    """ForeignTable unless `table` (its comment `owner`, None: it does not exist) is ours or allowed."""
    if owner is not None and owner != OWNER_COMMENT and not allow_existing:
        raise ForeignTable(f"table {table} exists but was not created by cacheswarm; {FOREIGN_HINT}")


FOREIGN_HINT = ("writing into it is refused: choose another --namespace, or pass --allow-existing-table "
                "if it really is for this")


def tables_like(namespace: str) -> str:
    """The SQL LIKE pattern of the tables named `<namespace>_...` (its `_`s taken literally)."""
    return namespace.replace("_", r"\_") + r"\_%"


def owned_names(namespace: str, names) -> list[str]:
    """Of tables named `<namespace>_...`, those of this namespace: `<namespace>_<one word>` (products,
    restaurants, reviews, lagprobe), not another namespace's that begins the same (`csw_x_products`
    belongs to csw_x, not to csw)."""
    head = namespace + "_"
    return [n for n in names if n.startswith(head) and n[len(head):] and "_" not in n[len(head):]]
