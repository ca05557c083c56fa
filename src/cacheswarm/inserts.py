"""Ids of inserted records, shared by every user, process and worker of a run (YCSB D and E).

YCSB's inserts take the next id of a counter (its transaction insert key sequence), and its
`latest` chooser draws over the ids acknowledged so far (AcknowledgedCounterGenerator: up to the
highest id below which every insert has completed). Across users, processes and workers both live
in Redis, under the run's namespace:

- `INCR <ns>:{ids:<dataset>:<backend>}:next` allocates an id: no two inserts get the same one;
- a bitmap `...:acked` marks each id whose insert has completed, and BITPOS finds the first id not
  yet acknowledged. As in YCSB, a failed insert is acknowledged too (its record may be missing, as
  YCSB's would), so one failure does not freeze `latest` for the rest of the phase.

Each process keeps its view of how many records exist (seeded + acknowledged), refreshed after each
of its own inserts in the same round trip as the acknowledgement, outside the timed operation: a
view lags the other processes' inserts by at most the time to this process's next insert.
The two keys share a hash tag (`{...}`), so the master's reset (one MULTI/EXEC over both) runs on
a Redis cluster too, where a transaction's keys must share a slot. Inserted ids start after the seeded rows; the master resets the counter before each phase, after
removing the rows earlier phases inserted, so every phase starts from the same table.
"""

from __future__ import annotations


def inserts_prefix(namespace: str) -> str:
    """What every insert counter's keys start with."""
    return f"{namespace}:{{ids:"


def counter_key(namespace: str, dataset: str, backend: str) -> str:
    return f"{namespace}:{{ids:{dataset}:{backend}}}"


class InsertIds:
    def __init__(self, client, namespace: str, dataset: str, backend: str, base: int):
        self.client = client  # a redis-py client (the process's shared pool)
        key = counter_key(namespace, dataset, backend)
        self.next_key, self.acked_key = f"{key}:next", f"{key}:acked"
        self.base = base  # seeded records: ids 1..base exist before any insert
        self.count = base  # records this process knows exist: the seeded ones + the acknowledged prefix

    def reset(self) -> int:
        """Before a phase (the master): the next id is base + 1, nothing acknowledged. Returns the
        highest id earlier phases allocated (base if none), so their rows can be removed."""
        pipe = self.client.pipeline(transaction=True)
        pipe.get(self.next_key)
        pipe.set(self.next_key, self.base)
        pipe.delete(self.acked_key)
        previous = pipe.execute()[0]
        self.count = self.base
        return max(self.base, int(previous or 0))

    def allocate(self) -> int:
        """The id of the next insert (1-based), unique across the run."""
        return int(self.client.incr(self.next_key))

    def acknowledge(self, record_id: int) -> None:
        """The insert of `record_id` has ended (done or failed): mark it, and learn how far the
        acknowledged prefix now reaches (inserts of other processes included)."""
        known = self.count - self.base
        pipe = self.client.pipeline(transaction=False)
        pipe.setbit(self.acked_key, record_id - self.base - 1, 1)
        pipe.bitpos(self.acked_key, 0, known // 8)  # the first id not yet acknowledged
        first_gap = pipe.execute()[1]
        if first_gap >= 0:
            self.count = max(self.count, self.base + first_gap)

    def size(self) -> int:
        """Records that exist as far as this process knows (what `latest` draws over)."""
        return self.count

    def allocated(self) -> int:
        """The highest id allocated so far (any process)."""
        return max(self.base, int(self.client.get(self.next_key) or 0))
