"""Stores: one module per backend x dataset, all with the same narrow interface.

A store has read(key) -> value | None and write(key, want_value) -> value | None (key is
the 1-based id), plus what the phase plan needs: count(), iter_values() for bulk cache
loads, and its seeding. Strategies are written once against this interface.
"""
