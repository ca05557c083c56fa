"""The servers' own view of a phase: Redis INFO and each database's own counters (its module's
sample(): MySQL's SHOW GLOBAL STATUS, PostgreSQL's pg_stat_*), sampled read-only.

The master (or the local process) samples at the phase's start (after the cache is prepared),
at its end (gauges under load: memory, threads running) and once its users are gone (counters
complete: no operation in flight). Nothing here writes to a server. A server that refuses a
command (e.g. a managed service that disables it) gives a sample that says why; the run goes on.
"""

from __future__ import annotations

import time

from . import catalog

REDIS_SECTIONS = ("server", "stats", "commandstats", "memory", "cpu", "keyspace")
REDIS_COUNTERS = ("keyspace_hits", "keyspace_misses", "expired_keys", "evicted_keys", "total_commands_processed",
                  "used_cpu_sys", "used_cpu_user")
REDIS_COMMANDS = ("get", "set", "del", "unlink", "evalsha", "eval",
                  "setex", "expire", "incr", "zadd", "zincrby", "zrevrank", "zrevrange")  # (the Redis-native patterns')
REDIS_GAUGES = ("used_memory", "maxmemory", "maxmemory_policy", "connected_clients")
UPTIME_SLACK_S = 3  # uptime may lag the wall clock by this much (whole seconds, sampling) before it is a restart
MEMORY_SAMPLE = 200  # cached values whose MEMORY USAGE is read after a phase


def redis_sample(client) -> dict:
    """Counters and gauges from one INFO call (several sections), or {"error": why}. A cluster's
    (a redis-py RedisCluster): every primary's, summed, and each under "shards" by its host:port
    (its slots' share of the commands: a hot key shows as a hot shard)."""
    if hasattr(client, "get_primaries"):
        return _cluster_sample(client)
    try:
        try:
            info = client.execute_command("INFO", *REDIS_SECTIONS)
        except Exception as e:  # Redis < 7 takes one section per INFO
            if "syntax" not in str(e).lower() and "wrong number" not in str(e).lower():
                raise
            info = client.info("all")
    except Exception as e:
        return {"error": f"INFO failed: {type(e).__name__}: {str(e)[:120]}"}
    out = {k: info[k] for k in REDIS_COUNTERS + REDIS_GAUGES if k in info}
    out.update(run_id=info.get("run_id"), uptime_s=info.get("uptime_in_seconds"), at=round(time.time(), 3))
    for name in REDIS_COMMANDS:
        stats = info.get(f"cmdstat_{name}")
        out[f"cmd_{name}"] = int(stats["calls"]) if isinstance(stats, dict) else 0
    out["keys"] = sum(v.get("keys", 0) for k, v in info.items() if k.startswith("db") and isinstance(v, dict))
    return out


def _cluster_sample(client) -> dict:
    try:
        nodes = {n.name: client.get_redis_connection(n) for n in client.get_primaries()}
    except Exception as e:
        return {"error": f"the cluster's primaries are not known: {type(e).__name__}: {str(e)[:120]}"}
    shards = {name: redis_sample(node) for name, node in sorted(nodes.items())}
    failed = [f"{name}: {s['error']}" for name, s in shards.items() if "error" in s]
    if failed:
        return {"error": "; ".join(failed)}
    out: dict = {"at": round(time.time(), 3), "shards": shards,
                 # a restart or failover of any shard shows as another run_id, as one server's restart does
                 "run_id": ",".join(s.get("run_id") or "" for s in shards.values()),
                 "uptime_s": min(s.get("uptime_s") or 0 for s in shards.values())}
    for k in REDIS_COUNTERS + tuple(f"cmd_{c}" for c in REDIS_COMMANDS) + ("keys", "used_memory", "maxmemory",
                                                                           "connected_clients"):
        values = [s[k] for s in shards.values() if k in s]
        if values:
            out[k] = round(sum(values), 6) if isinstance(values[0], float) else sum(values)
    out["maxmemory_policy"] = next(iter(shards.values())).get("maxmemory_policy")
    return out


def shard_delta(first: dict, last: dict) -> dict:
    """Per shard of a cluster (by host:port): its commands and keyspace lookups over the phase and
    its share of the commands; {} for one Redis or when the shards changed (a failover, a reshard)."""
    a, b = first.get("shards") or {}, last.get("shards") or {}
    if not a or set(a) != set(b):
        return {}
    out = {}
    for name in sorted(b):
        d = delta(a[name], b[name], ("total_commands_processed", "keyspace_hits", "keyspace_misses", "cmd_get",
                                     "cmd_set", "cmd_del"), ("keys", "used_memory"))
        if "error" in d:
            return {}
        out[name] = d
    total = sum(d.get("total_commands_processed", 0) for d in out.values())
    for d in out.values():
        d["share"] = round(d.get("total_commands_processed", 0) / total, 4) if total else None
    return out


def memory_sample(client, keys: list, keyspace: int) -> dict:
    """Bytes per cached value in Redis's memory (MEMORY USAGE, exact: SAMPLES 0) and the values'
    own length (STRLEN) over the keys present, and what the whole keyspace would need; {"error":
    why} if the command is refused."""
    try:
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.execute_command("MEMORY", "USAGE", key, "SAMPLES", "0")
            pipe.strlen(key)
        replies = pipe.execute()
    except Exception as e:
        return {"error": f"MEMORY USAGE failed: {type(e).__name__}: {str(e)[:120]}"}
    present = [(int(m), int(n)) for m, n in zip(replies[::2], replies[1::2]) if m is not None]
    if not present:
        return {"sampled": 0, "keyspace": keyspace}
    sizes = sorted(m for m, _ in present)
    mean = sum(sizes) / len(sizes)
    return {"sampled": len(sizes), "bytes_per_value_mean": round(mean, 1), "bytes_per_value_p50": sizes[len(sizes) // 2],
            "bytes_per_value_max": sizes[-1], "value_bytes_mean": round(sum(n for _, n in present) / len(present), 1),
            "keyspace": keyspace, "keyspace_bytes_estimate": round(mean * keyspace)}


def restarted(first: dict, last: dict) -> str | None:
    """Why the server restarted between two samples (another run_id, or less uptime than the wall
    clock moved), or None: its counters started again from 0, so their deltas mean nothing."""
    if first.get("run_id") and last.get("run_id") and first["run_id"] != last["run_id"]:
        return f"the server restarted during the phase (run_id changed; up {last.get('uptime_s')} s at the end)"
    up0, up1, t0, t1 = first.get("uptime_s"), last.get("uptime_s"), first.get("at"), last.get("at")
    if None not in (up0, up1, t0, t1) and up1 < up0 + (t1 - t0) - UPTIME_SLACK_S:
        return f"the server restarted during the phase (up {up1} s at the end, {up0} s at the start)"
    return None


class Sampler:
    """Samples the servers a phase uses. `cache_client` is a redis-py client (and `reader_client`
    the replica's), `pools` {backend: its pool} and `readers` {backend: its replica's pool} for the
    backends a module describes (catalog.Backend), sampled by their own module."""

    def __init__(self, cache_client, reader_client=None, pools=None, readers=None, namespace=""):
        self.cache_client, self.reader_client = cache_client, reader_client
        self.pools, self.readers, self.namespace = pools or {}, readers or {}, namespace

    def sample(self, backend: str, uses_cache: bool) -> dict:
        out: dict = {"t": round(time.time(), 3)}
        if uses_cache:
            out["redis"] = redis_sample(self.cache_client)
            if self.reader_client is not None:
                out["redis_reader"] = redis_sample(self.reader_client)
        if backend in self.pools:
            hooks = catalog.BACKENDS[backend].hooks()
            out[backend] = hooks.sample(self.pools[backend], self.namespace)
            if backend in self.readers:
                out[f"{backend}_reader"] = hooks.sample(self.readers[backend], self.namespace)
        return out


def delta(first: dict, last: dict, counters, gauges) -> dict:
    """Counters as last - first, gauges as their last value; {"error"} if either sample failed."""
    if "error" in first or "error" in last:
        return {"error": last.get("error") or first.get("error")}
    why = restarted(first, last)
    if why:
        return {"error": why + ": its counters are not compared", "restarted": True}
    out = {}
    for k in counters:
        if k in first and k in last:
            out[k] = round(last[k] - first[k], 3) if isinstance(last[k], float) else last[k] - first[k]
    out.update({k: last[k] for k in gauges if k in last})
    return out
