"""What the servers saw in each phase, next to what the clients counted, and whether they agree.

Deltas of Redis INFO and each database's counters (MySQL's SHOW GLOBAL STATUS, PostgreSQL's
pg_stat_*: its module's sample() and delta()) between a phase's start (cache prepared) and
the moment its users were gone, gauges (memory, threads running) from its end under load. The
client side is every operation the phase ran, warm-up included (the servers saw those too).
A counter that differs from what the clients' operations imply by more than 2% (and a few
operations) is flagged: other traffic on the server, or a defect in the suite. With reader
endpoints, reads are checked on the replica and writes on the primary.
"""

from __future__ import annotations

from ..recorder import EVENT, LATENCY, MEASURED, SCAN_LOADED, WARMUP, parse_key
from ..replication import summarize
from ..server_stats import REDIS_COMMANDS, REDIS_COUNTERS, REDIS_GAUGES, delta, shard_delta
from ..stampede import WAITED
from ..staleness import AUDIT, AUDIT_ERROR, AUDIT_GET, FRESH, MISS_CHECKED, STALE
from .. import catalog
from ..catalog import policy_of, protection_of
from ..patterns import DENIED
from .. import strategies
from ..strategies import CACHE_ERROR, HIT, MISS, OK, THROTTLED
from ..workload import RMW_READ, RMW_WRITE, SCAN

OUTCOMES = (OK, HIT, MISS, CACHE_ERROR, THROTTLED, DENIED, "error")

TOLERANCE = 0.02
SLACK_OPS = 5  # the master's own lease renewal (a GET every 10 s) and operations cut at a phase's edge
WHAT = {"keyspace_hits": "read hits", "keyspace_misses": "read misses", "lookups": "key lookups", "cmd_get": "GETs",
        "cmd_setex": "SETEXs", "cmd_expire": "EXPIREs", "cmd_zadd": "ZADDs", "cmd_zincrby": "ZINCRBYs",
        "cmd_zrevrank": "ZREVRANKs", "cmd_zrevrange": "ZREVRANGEs",
        "cmd_set": "SETs", "cmd_del": "DELs", "cmd_scripts": "Lua scripts"}
ROLES = ("redis", "redis_reader")  # the cache's primary and replica (a database's: <backend>, <backend>_reader)


def phase_key(p: dict) -> str:
    return catalog.PhaseKey(p["dataset"], p["backend"], p["strategy"], p.get("step")).text


def client_counts(histograms: dict) -> dict:
    """{phase key: {(op, outcome): operations}} over the measured window and the warm-up; the
    staleness audit's and the stampede events' counts as (kind, outcome)."""
    out: dict = {}
    for key, h in histograms.items():
        k = parse_key(key)
        if k.get("kind") not in (LATENCY, AUDIT, EVENT) or k.get("window") not in (MEASURED, WARMUP):
            continue
        counts = out.setdefault(f'{k["dataset"]}/{k["backend"]}/{k["strategy"]}', {})
        what = (k["op"] if k["kind"] == LATENCY else k["kind"], k["outcome"])
        if k["kind"] == EVENT and k["op"] == SCAN:  # a value per scan: the records it loaded and SET
            what = (SCAN_LOADED, SCAN_LOADED)
            counts[what] = counts.get(what, 0) + round(h.get_mean_value() * h.get_total_count())
            continue
        counts[what] = counts.get(what, 0) + h.get_total_count()
    return out


def expected(dataset: str, strategy: str, run: dict, counts: dict, lag: dict | None,
             backend: str) -> tuple[dict, dict]:
    """What the clients' operations imply: ({(role, counter): n}, {(role, counter): operations whose
    effect on it is uncertain}). Reads go to the readers ("redis_reader", "<backend>_reader"), writes,
    audits and the lag probe's markers to the primaries. With stampede protection the Redis
    commands depend on timing (lock polls): only the database's statements and, for early
    refresh, the reads' GETs are checked; with `versioned`, whose SETs GET the key first, the
    hit and miss counters are not."""
    # a read-modify-write's parts are a read and a write to the servers; the whole is not counted again
    folded: dict = {}
    for (op, outcome), k in counts.items():
        op = {RMW_READ: "read", RMW_WRITE: "write"}.get(op, op)
        folded[(op, outcome)] = folded.get((op, outcome), 0) + k
    n = lambda op, *outcomes: sum(folded.get((op, o), 0) for o in outcomes)  # noqa: E731
    base = catalog.PhaseKey(dataset, backend, strategy).base
    policy = policy_of(strategy, run.get("write_policy", "invalidate"))
    protection = protection_of(strategy, run.get("stampede_protection", "none"))
    failed = (n("read", "error", "throttled") + n("write", "error", "throttled") + n("insert", "error", "throttled")
              + n("scan", "error", "throttled") + 3 * n(AUDIT, AUDIT_ERROR))
    lag = lag or {}
    want: dict = {}
    unsure: dict = {}

    def add(role, counter, k, uncertain=0):
        want[(role, counter)] = want.get((role, counter), 0) + k
        unsure[(role, counter)] = unsure.get((role, counter), 0) + uncertain

    pattern = catalog.pattern(dataset)
    if pattern is not None:  # a Redis-native pattern: the commands each of its operations sends
        ops = {op for op, _ in folded}
        failed = sum(n(op, "error") for op in ops)
        for what, commands in pattern.store_class().COMMANDS.get(strategy, {}).items():  # op, or (op, outcome)
            done = n(*what) if isinstance(what, tuple) else n(what, *(o for o in OUTCOMES if o != "error"))
            for counter, k in commands.items():
                add("redis", counter, k * done, failed)
        return want, unsure

    through = policy in ("write-through", "versioned") and base == "cache-aside"
    writes = n("write", "ok", "cache_error")
    inserts = n("insert", "ok", "cache_error")  # to Redis, an insert is a write (DEL or SET of its key)
    scans = n("scan", "ok", "hit", "miss", "cache_error")
    # a scan MGETs its range (keyspace hits and misses per key: not kept by the clients, so the hit/miss
    # counters are left unchecked) and SETs each record it loaded (kept: one value per scan)
    probes = lag.get("redis", [])
    done = strategies.Done(hits=n("read", "hit"), misses=n("read", "miss"), writes=writes, inserts=inserts, scans=scans,
                           scan_sets=n(SCAN_LOADED, SCAN_LOADED), audit_gets=n(AUDIT, AUDIT_GET), probes=len(probes),
                           probe_reads=sum(s.get("reads", 0) for s in probes), failed=failed,
                           inserts_failed=n("insert", "error", "throttled"))
    kind = strategies.STRATEGIES[strategy]
    for role, counter, k, uncertain in kind.commands(done, policy, protection):  # what the strategy sends to Redis
        add(role, counter, k, uncertain)
    described = catalog.BACKENDS.get(backend)
    if kind.uses_database and described is not None and described.module:
        hooks = described.hooks()  # what the backend's own counters say of each operation
        per, probe = hooks.PER_OP.get(dataset, {}), getattr(hooks, "PROBE", {})
        reader = f"{backend}_reader"  # (without a replica, its reads are the primary's: phase_view)
        reads = n("read", "ok", "miss", "cache_error") - n(EVENT, WAITED)
        audits = n(AUDIT, FRESH, STALE, MISS_CHECKED)  # the staleness audit reads the primary
        scans_sent = scans - (n("scan", "hit") if base == "cache-aside" else 0)
        probes = lag.get(backend, [])  # the replication lag probe: a marker written, then read on the replica
        read = "read_page" if run.get("product_read") == "page" and "read_page" in per else "read"
        for counter, k in per.get(read, {}).items():
            add(reader, counter, k * reads, failed)
            add(backend, counter, k * audits, failed)
        write = "write_value" if through else "write"
        if run.get("orders_write") == "update-status" and write.replace("write", "write_update") in per:
            write = write.replace("write", "write_update")
        for role, op, k_ops in ((backend, write, writes), (backend, "insert", inserts),
                                (reader, "scan", scans_sent)):
            if op in ("insert", "scan") and not k_ops:  # a mix without them: their counters are not checked
                continue
            for counter, k in per.get(op, {}).items():
                add(role, counter, k * k_ops, failed)
        for counter, k in probe.get("read", {}).items():
            add(reader, counter, k * sum(s.get("reads", 0) for s in probes), failed)
        for counter, k in probe.get("write", {}).items():
            add(backend, counter, k * len(probes))
    return want, unsure


def _check(role: str, counter: str, client: int, seen, uncertain: int, names=WHAT) -> dict:
    slack = max(TOLERANCE * client, SLACK_OPS + uncertain)
    diff = None if seen is None else seen - client
    what = names.get(counter, counter.replace("Com_", "") + " statements")
    return {"server": role.replace("_", " "), "counter": counter, "what": what, "client": client,
            "server_value": seen, "diff": diff,
            "diff_percent": round(100 * diff / client, 2) if client and diff is not None else None,
            "ok": None if seen is None else abs(diff) <= slack}


def _redis_delta(first: dict, last: dict, under_load: dict, seconds) -> dict:
    r = delta(first, last, REDIS_COUNTERS + tuple(f"cmd_{c}" for c in REDIS_COMMANDS), ())
    if "error" in r:
        return r
    r["cmd_scripts"] = r.pop("cmd_eval", 0) + r.pop("cmd_evalsha", 0)
    r["lookups"] = r.get("keyspace_hits", 0) + r.get("keyspace_misses", 0)
    r.update({k: under_load.get(k) for k in REDIS_GAUGES + ("keys",) if k in under_load})
    r["hit_ratio"] = round(r["keyspace_hits"] / r["lookups"], 4) if r["lookups"] else None
    cpu = r.get("used_cpu_sys", 0) + r.get("used_cpu_user", 0)
    r["cpu_percent"] = round(100 * cpu / seconds, 1) if seconds else None
    shards = shard_delta(first, last)
    if shards:
        r["shards"] = shards
    return r


def _failed_over(view: dict, drilled: bool) -> None:
    """Another server at the end of a phase whose drill failed it over: not a restart, and not compared."""
    if drilled and view.get("restarted"):
        view["error"] = ("another server was the primary at the end (the drill's failover): the counters of two "
                         "servers are not compared")


def phase_view(p: dict, counts: dict, run: dict) -> dict | None:
    samples = p.get("server") or {}
    first, last = samples.get("start"), samples.get("drained") or samples.get("end")
    if not first or not last:
        return None
    under_load = samples.get("end") or last
    seconds = (p["ended"] - p["started"]) if p.get("ended") and p.get("started") else None
    view: dict = {"phase": phase_key(p), "complete": "drained" in samples, "checks": []}
    failover = (p.get("drill") or {}).get("kind")
    for role in ROLES:
        if role in first and role in last:
            view[role] = _redis_delta(first[role], last[role], under_load.get(role, {}), seconds)
            _failed_over(view[role], failover == "cache-failover")
    names = dict(WHAT)
    for b in catalog.described():  # a backend a module describes: its own counters, deltas and names
        for role in (b.name, f"{b.name}_reader"):  # its primary and its replica
            if role in first and role in last:
                view[role] = b.hooks().delta(first[role], last[role], under_load.get(role, {}))
                _failed_over(view[role], failover == "db-failover" and role == b.name)
                names.update(getattr(b.hooks(), "WHAT", {}))
    lag = samples.get("lag") or {}
    want, unsure = expected(p["dataset"], p["strategy"], run, counts, lag, p["backend"])
    merged: dict = {}
    for (role, counter), k in want.items():  # without a replica, its reads are the primary's
        server = role if role in view else role.replace("_reader", "")
        n, u = merged.get((server, counter), (0, 0))
        merged[(server, counter)] = (n + k, u + unsure[(role, counter)])
    for (server, counter), (k, u) in merged.items():
        delta_ = view.get(server)
        if delta_ is not None and "error" not in delta_:
            view["checks"].append(_check(server, counter, k, delta_.get(counter), u, names))
    if lag:
        view["lag"] = {server: summarize(s) for server, s in lag.items()}
    view["memory"] = (samples.get("drained") or {}).get("memory")
    view["pattern"] = (samples.get("drained") or {}).get("pattern")  # the rate limiter's over-admissions
    evicted = (view.get("redis") or {}).get("evicted_keys")
    if evicted:
        r = view["redis"]
        view["eviction_note"] = (f"Redis evicted {evicted:,} keys during the phase (maxmemory "
                                 f"{(r.get('maxmemory') or 0) / 1048576:.1f} MiB, {r.get('maxmemory_policy')}): its "
                                 f"hit ratio {r.get('hit_ratio')} is a hit ratio under eviction")
    view["mismatches"] = [c for c in view["checks"] if c["ok"] is False]
    # a server that restarted mid-phase: its counters are not compared (not blamed on another client)
    view["restarts"] = [f"{role.replace('_', ' ')}: {view[role]['error']}"
                        for role in (*ROLES, *(r for b in catalog.described() for r in (b.name, f"{b.name}_reader")))
                        if isinstance(view.get(role), dict) and view[role].get("restarted")]
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
