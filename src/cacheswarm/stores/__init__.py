"""Stores: one module per backend x dataset, all with the same narrow interface.

A store has read(key) -> value | None and write(key, want_value) -> value | None (key is
the 1-based id of a product or restaurant), fresh_value(key) for cache-only writes,
cache_key(key), plus what the run needs around it: check_owned(), seeded() (rows to draw
keys from, or NotSeeded), iter_values() for bulk cache loads, for_user() and, on DynamoDB,
take_capacity(). Strategies are written once against this interface.
"""


class NotSeeded(Exception):
    """A table is missing, empty or incomplete; str() says which (the caller adds the seed command).
    `rows`: how many rows a seed that fixes it keeps (the table's highest id), when it has any."""

    def __init__(self, message: str, rows: int | None = None):
        super().__init__(message)
        self.rows = rows


class ConnectError(Exception):
    """A database cannot be used; str() says why and what to do."""


class ForeignTable(Exception):
    """A table exists but cacheswarm did not create it."""


FOREIGN_HINT = ("writing into it is refused: choose another --namespace, or pass --allow-existing-table "
                "if it really is for this")
