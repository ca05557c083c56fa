"""What each database dataset's store can do, declared once, so validation refuses a combination
its store cannot run (exit 2, one line) instead of a run at 100% errors.

Bottom floor: imports nothing of ours. tests/test_combinations.py holds every store class to this
table (a capability declared is a method present, and the reverse), and runs every combination
validation accepts against the real servers.
"""

from __future__ import annotations

READS, WRITES, INSERTS, SCANS, VERSIONS = "reads", "writes", "inserts", "scans", "versions"
# the store methods a capability stands for
METHODS = {READS: ("read", "iter_values", "cache_key"), WRITES: ("write", "fresh_value"),
           INSERTS: ("insert", "remove_inserted"), SCANS: ("scan", "read_many"), VERSIONS: ("version_of",)}

CAPABILITIES = {
    ("products", "mysql"): {READS, WRITES, INSERTS, SCANS, VERSIONS},
    ("products", "dynamodb"): {READS, WRITES, INSERTS, VERSIONS},  # a hash key only: no ranges to scan
    ("restaurants", "mysql"): {READS, WRITES, VERSIONS},
    ("restaurants", "dynamodb"): {READS, WRITES, VERSIONS},
    ("queries", "mysql"): {READS, WRITES},  # a query's result carries no version
}

# why a capability is needed, and what to do without it: (option, what needs it, the fix)
NEEDED_BY = {
    INSERTS: ("--insert-ratio", "inserts add new records after the seeded ones", "set --insert-ratio 0"),
    SCANS: ("--scan-ratio", "scans read a range of ids", "set --scan-ratio 0"),
    VERSIONS: ("--write-policy", "the versioned write policy compares each cached value's version",
               "use invalidate or write-through (or a cache-aside+ variant without versioned)"),
}


def missing(dataset: str, backend: str, needs) -> list[str]:
    """The capabilities of `needs` that dataset/backend's store lacks ([] for a combination with no
    store of ours, e.g. a Redis-native pattern, which brings its own operations)."""
    have = CAPABILITIES.get((dataset, backend))
    return [] if have is None else [c for c in needs if c not in have]
