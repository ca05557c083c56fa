"""What the servers saw in each phase, next to what the clients counted, and whether they agree.

Deltas of Redis INFO and MySQL SHOW GLOBAL STATUS between a phase's start (cache prepared) and
the moment its users were gone, gauges (memory, threads running) from its end under load. The
client side is every operation the phase ran, warm-up included (the servers saw those too).
A counter that differs from what the clients' operations imply by more than 2% (and a few
operations) is flagged: other traffic on the server, or a defect in the suite.
"""

from __future__ import annotations

from ..phases import step_key
from ..recorder import EVENT, LATENCY, MEASURED, WARMUP, parse_key
from ..stampede import WAITED
from ..server_stats import MYSQL_COUNTERS, MYSQL_GAUGES, REDIS_COMMANDS, REDIS_COUNTERS, REDIS_GAUGES, delta
from ..staleness import AUDIT, AUDIT_ERROR, AUDIT_GET, FRESH, MISS_CHECKED, STALE
from ..strategies import policy_of, protection_of

TOLERANCE = 0.02
SLACK_OPS = 5  # the master's own lease renewal (a GET every 10 s) and operations cut at a phase's edge
# statements each operation sends, per dataset (tests/test_server_stats.py checks them against the
# server's session counters): a read, a write, a write that returns the new row (write-through)
SQL_PER_OP = {
    "products": {"read": {"Com_select": 1}, "write": {"Com_update": 1},
                 "write_value": {"Com_update": 1, "Com_select": 1}},
    "restaurants": {"read": {"Com_select": 1}, "write": {"Com_insert": 1, "Com_update": 1},
                    "write_value": {"Com_insert": 1, "Com_update": 1, "Com_select": 1}},
}
REDIS_CHECKS = (("keyspace_hits", "read hits"), ("keyspace_misses", "read misses"), ("lookups", "key lookups"),
                ("cmd_get", "GETs"), ("cmd_set", "SETs"), ("cmd_del", "DELs"), ("cmd_scripts", "Lua SETs"))


def phase_key(p: dict) -> str:
    return step_key(f"{p['dataset']}/{p['backend']}/{p['strategy']}", p.get("step"))


def client_counts(histograms: dict) -> dict:
    """{phase key: {(op, outcome): operations}} over the measured window and the warm-up; the
    staleness audit's counts as ("audit", outcome)."""
    out: dict = {}
    for key, h in histograms.items():
        k = parse_key(key)
        if k.get("kind") not in (LATENCY, AUDIT, EVENT) or k.get("window") not in (MEASURED, WARMUP):
            continue
        counts = out.setdefault(f'{k["dataset"]}/{k["backend"]}/{k["strategy"]}', {})
        what = (k["op"] if k["kind"] == LATENCY else k["kind"], k["outcome"])
        counts[what] = counts.get(what, 0) + h.get_total_count()
    return out


def expected(dataset: str, strategy: str, run: dict, counts: dict) -> tuple[dict, dict, int]:
    """What the clients' operations imply: ({redis counter: n}, {mysql counter: n}, operations
    whose effect on the servers is uncertain: failures, and the audit's GETs for hits/misses).
    With stampede protection the Redis commands depend on timing (lock polls, GET+PTTL scripts):
    only the database's statements and, for early refresh, the GETs are checked."""
    n = lambda op, *outcomes: sum(counts.get((op, o), 0) for o in outcomes)  # noqa: E731
    base = strategy.partition("+")[0]
    policy = policy_of(strategy, run.get("write_policy", "invalidate"))
    protection = protection_of(strategy, run.get("stampede_protection", "none"))
    audit_gets = n(AUDIT, AUDIT_GET)
    uncertain = n("read", "error", "throttled") + n("write", "error", "throttled") + 3 * n(AUDIT, AUDIT_ERROR)
    redis, sql = {}, {}
    through = policy in ("write-through", "versioned") and base == "cache-aside"
    hits, misses = n("read", "hit"), n("read", "miss")
    writes = n("write", "ok", "cache_error")
    if base == "cache-only":
        redis = {"keyspace_hits": hits, "keyspace_misses": misses, "cmd_get": hits + misses, "cmd_set": writes,
                 "cmd_del": 0}
    elif base == "cache-aside" and policy == "versioned":  # each SET is a script that GETs the key first
        scripts = misses + writes
        redis = {"cmd_scripts": scripts, "lookups": hits + misses + scripts + audit_gets,
                 "cmd_get": hits + misses + scripts + audit_gets}
    elif base == "cache-aside":
        redis = {"keyspace_hits": hits, "keyspace_misses": misses, "cmd_get": hits + misses + audit_gets,
                 "cmd_set": misses + (writes if through else 0),
                 "cmd_del": 0 if through else writes * (2 if policy == "double-delete" else 1)}
        uncertain += audit_gets  # hit or miss: the audit does not know
    if protection == "lock":
        redis = {}
    elif protection == "early-refresh":
        redis = {"cmd_get": redis["cmd_get"] + redis.get("cmd_scripts", 0)}
    if base in ("db-only", "cache-aside"):
        reads = n("read", "ok", "miss", "cache_error") - n(EVENT, WAITED) + n(AUDIT, FRESH, STALE, MISS_CHECKED)
        per = SQL_PER_OP.get(dataset, {})
        for op, times in (("read", reads), ("write_value" if through else "write", writes)):
            for counter, k in per.get(op, {}).items():
                sql[counter] = sql.get(counter, 0) + k * times
    return redis, sql, uncertain


def _check(server: str, counter: str, what: str, client: int, seen, uncertain: int) -> dict:
    slack = max(TOLERANCE * client, SLACK_OPS + uncertain)
    diff = None if seen is None else seen - client
    return {"server": server, "counter": counter, "what": what, "client": client, "server_value": seen,
            "diff": diff, "diff_percent": round(100 * diff / client, 2) if client and diff is not None else None,
            "ok": None if seen is None else abs(diff) <= slack}


def phase_view(p: dict, counts: dict, run: dict) -> dict | None:
    samples = p.get("server") or {}
    first, last = samples.get("start"), samples.get("drained") or samples.get("end")
    if not first or not last:
        return None
    under_load = samples.get("end") or last
    seconds = (p["ended"] - p["started"]) if p.get("ended") and p.get("started") else None
    view: dict = {"phase": phase_key(p), "complete": "drained" in samples, "checks": []}
    redis_want, sql_want, uncertain = expected(p["dataset"], p["strategy"], run, counts)
    if "redis" in first and "redis" in last:
        r = delta(first["redis"], last["redis"], REDIS_COUNTERS + tuple(f"cmd_{c}" for c in REDIS_COMMANDS), ())
        if "error" not in r:
            r["cmd_scripts"] = r.pop("cmd_eval", 0) + r.pop("cmd_evalsha", 0)
            r["lookups"] = r.get("keyspace_hits", 0) + r.get("keyspace_misses", 0)
            r.update({k: under_load["redis"].get(k) for k in REDIS_GAUGES + ("keys",) if k in under_load["redis"]})
            r["hit_ratio"] = round(r["keyspace_hits"] / r["lookups"], 4) if r["lookups"] else None
            cpu = r.get("used_cpu_sys", 0) + r.get("used_cpu_user", 0)
            r["cpu_percent"] = round(100 * cpu / seconds, 1) if seconds else None
            for counter, what in REDIS_CHECKS:
                if counter in redis_want:
                    view["checks"].append(_check("redis", counter, what, redis_want[counter], r.get(counter), uncertain))
        view["redis"] = r
    if "mysql" in first and "mysql" in last:
        m = delta(first["mysql"], last["mysql"], MYSQL_COUNTERS, ())
        if "error" not in m:
            m.update({k: under_load["mysql"].get(k) for k in MYSQL_GAUGES if k in under_load["mysql"]})
            requests = m.get("Innodb_buffer_pool_read_requests")
            m["buffer_pool_hit_ratio"] = (round(1 - m.get("Innodb_buffer_pool_reads", 0) / requests, 4)
                                          if requests else None)
            for counter, want in sql_want.items():
                view["checks"].append(_check("mysql", counter, counter.replace("Com_", "") + " statements", want,
                                             m.get(counter), uncertain))
        view["mysql"] = m
    view["memory"] = (samples.get("drained") or {}).get("memory")
    evicted = (view.get("redis") or {}).get("evicted_keys")
    if evicted:
        r = view["redis"]
        view["eviction_note"] = (f"Redis evicted {evicted:,} keys during the phase (maxmemory "
                                 f"{(r.get('maxmemory') or 0) / 1048576:.1f} MiB, {r.get('maxmemory_policy')}): its "
                                 f"hit ratio {r.get('hit_ratio')} is a hit ratio under eviction")
    view["mismatches"] = [c for c in view["checks"] if c["ok"] is False]
    return view


def server_views(phases: list[dict], histograms: dict, run: dict) -> list[dict]:
    """One view per phase that has server samples (a phase without them, e.g. a report from an
    older run, has none)."""
    counts = client_counts(histograms)
    views = []
    for p in phases:
        view = phase_view(p, counts.get(phase_key(p), {}), run)
        if view is not None:
            views.append(view)
    return views
