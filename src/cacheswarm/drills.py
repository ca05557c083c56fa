"""Drills: something that goes wrong in production, done on purpose in the middle of each phase that
uses the cache, and what the users saw then (report/drills.py reads the phase's per-second series).

- `cache-flush@T`: T seconds into the phase, every key of the run's namespace is removed (SCAN +
  UNLINK, the namespace only: a cache node replaced, a FLUSHALL by someone else, a cold restart).
  What cache-aside fears most: every read misses at once and goes to the database.
- `cache-failover@T`: T seconds in, Redis Sentinel is told to fail the primary over to its replica
  (`SENTINEL FAILOVER`; --redis-url redis+sentinel://...), as ElastiCache's Multi-AZ automatic
  failover does: the users' connections to the old primary break (or its READONLY replies do), they
  reconnect through the sentinels to the new one, which holds what was replicated.
- `db-failover@T`: T seconds into each phase that uses MySQL, its primary fails over to its standby
  (--mysql-url of two hosts, primary,standby replicating it: stores/mysql.fail_over), as RDS
  Multi-AZ's reboot with failover does: the database is away from the fence to the promotion, its
  clients' connections break, and a cache-aside phase answers its hits meanwhile.

The master (or the one local process) acts: right before, it samples the servers ("drill" moment),
so the report can set the database's own counters after the drill beside the misses the users
counted. Capacity search steps are left alone (a step is a rate's steady state). Plain Python: the
glue runs `act` in a greenlet.
"""

from __future__ import annotations

import re
import time

from . import aws_drills, catalog, strategies
from .optbase import BadInput, Opt

DRILLS = ("cache-flush", "cache-failover", "db-failover")
FAILOVER_WAIT_S = 15.0  # how long the drill waits for the sentinels to name the new primary
DRILL_OPTIONS = (
    Opt("--drill", "", "do something that goes wrong in production mid-phase, in each phase that uses what it "
        "breaks, and report what users saw: cache-flush@T (T seconds into the phase, remove every key of the namespace: "
        "a cold cache under load) or cache-failover@T (Redis Sentinel fails the primary over: needs --redis-url "
        "redis+sentinel://host:26379/SERVICE) or db-failover@T (in each phase on MySQL, its primary fails over to "
        "its standby: --mysql-url mysql://user@primary:3306,standby:3306/db; db-failover@T+D keeps the database away "
        "D seconds first, as RDS Multi-AZ's failover takes a minute or two); default: none"),
    Opt("--drill-aws-target", "", "fail a real AWS resource over instead, named explicitly (never by default): "
        "rds:DB_INSTANCE_ID with --drill db-failover@T (RebootDBInstance with ForceFailover; needs "
        "rds:DescribeDBInstances and rds:RebootDBInstance) or elasticache:REPLICATION_GROUP[/NODE_GROUP] with --drill "
        "cache-failover@T (TestFailover; needs elasticache:DescribeReplicationGroups and elasticache:TestFailover); "
        "once in each phase the drill applies to"),
    Opt("--drill-confirm", "", "repeat --drill-aws-target's value to confirm that it may be failed over"),
)
_SPEC = re.compile(r"([a-z-]+)@([0-9]+(?:\.[0-9]+)?)(s|ms)?(?:\+([0-9]+(?:\.[0-9]+)?)(s|ms)?)?")


def parse(value, phase_time: float, warmup: float, strategies_: tuple, redis_url: str = "", backends: tuple = (),
          targets=None, aws_target: str = "", confirm: str = "") -> tuple | None:
    """'cache-flush@20s' -> ('cache-flush', 20.0, 0.0, ''), 'db-failover@20s+60s' -> ('db-failover', 20.0, 60.0, '')
    (the database away 60 s before its standby is promoted), with an AWS target ('rds:mydb') last; or None for
    no drill; BadInput naming --drill (or --drill-aws-target, --drill-confirm)."""
    text = str(value or "").strip()
    if not text or text == "none":
        if str(aws_target or "").strip() or str(confirm or "").strip():
            raise BadInput("--drill-aws-target" if str(aws_target or "").strip() else "--drill-confirm",
                           "names a resource for no drill: add --drill db-failover@T or cache-failover@T")
        return None
    m = _SPEC.fullmatch(text)
    if m is None:
        raise BadInput("--drill", f"{text!r} is not KIND@TIME; write e.g. cache-flush@20s")
    kind, offset = m.group(1), float(m.group(2)) / (1000 if m.group(3) == "ms" else 1)
    hold = float(m.group(4) or 0) / (1000 if m.group(5) == "ms" else 1)
    if kind not in DRILLS:
        raise BadInput("--drill", f"{kind!r} is not a drill; use one of {', '.join(DRILLS)} (e.g. cache-flush@20s)")
    if hold and kind != "db-failover":
        raise BadInput("--drill", f"{text!r}: only db-failover holds the database away (+TIME); write {kind}@"
                                  f"{m.group(2)}{m.group(3) or 's'}")
    if not warmup + 1 <= offset <= phase_time - 2 - hold:
        raise BadInput("--drill", f"{text!r} must act at least 1 s after the warm-up ({warmup:g}s, to measure the "
                                  f"steady state before) and 2 s before the phase ends ({phase_time:g}s, to see the "
                                  f"recovery{', after the hold' if hold else ''}); choose a time in between or a longer "
                                  "--phase-time")
    aws = aws_drills.parse(aws_target, confirm, kind)
    if aws and hold:
        raise BadInput("--drill", f"{text!r}: AWS decides how long its failover takes; drop the +TIME")
    if kind == "db-failover":
        _check_database(aws, backends, targets or {})
        if not any(getattr(strategies.STRATEGIES[s], "uses_database", False) for s in strategies_):
            raise BadInput("--drill", "no phase uses the database (--strategies); add db-only or cache-aside")
        return kind, offset, hold, aws
    if kind == "cache-failover" and not aws and not redis_url.startswith("redis+sentinel://"):
        raise BadInput("--drill", "cache-failover asks Redis Sentinel to fail the primary over: give --redis-url "
                                  "redis+sentinel://host:26379/SERVICE (on ElastiCache: --drill-aws-target "
                                  "elasticache:GROUP)")
    if not any(strategies.STRATEGIES[s].uses_cache for s in strategies_):
        raise BadInput("--drill", "no phase uses the cache (--strategies); add cache-aside or cache-only")
    return kind, offset, hold, aws


def _check_database(aws: str, backends: tuple, targets: dict) -> None:
    """db-failover's database: an RDS instance named (any SQL backend), else a primary and standby in a URL."""
    if aws:
        if not any(_sql(b) for b in backends):
            raise BadInput("--drill-aws-target", f"{aws} fails a database over: add mysql or postgres to --backend")
        return
    able = [b for b in backends if _can_fail_over(b)]
    if not able:
        raise BadInput("--drill", "db-failover fails a database's primary over: add mysql to --backend")
    if any(len(getattr(targets.get(b), "hosts", ())) < 2 for b in able):
        raise BadInput("--drill", "db-failover needs the primary and its standby: give --mysql-url "
                                  "mysql://user@primary:3306,standby:3306/db (on RDS: --drill-aws-target "
                                  "rds:DB_INSTANCE_ID)")


def _sql(backend: str) -> bool:
    """A database a module describes (MySQL, PostgreSQL): what an RDS instance can be."""
    described = catalog.BACKENDS.get(backend)
    return bool(described and described.module and described.database)


def _can_fail_over(backend: str) -> bool:
    """A backend whose module can fail its primary over (its hooks' fail_over(target))."""
    described = catalog.BACKENDS.get(backend)
    return bool(described and described.module and hasattr(described.hooks(), "fail_over"))


def applies(drill, phase) -> bool:
    if drill is None or phase.step is not None:
        return False
    strategy = strategies.STRATEGIES[phase.strategy]
    if drill[0] == "db-failover":
        able = _sql(phase.backend) if drill[3] else _can_fail_over(phase.backend)
        return able and getattr(strategy, "uses_database", False)
    return strategy.uses_cache


def act(drill, phase, runtime, sample, sleep=time.sleep, clock=time.time) -> None:
    """Wait until the drill's time in `phase` (begun at phase.started, plan clock), then do it and
    note what was done in phase.drill. A phase that ended first is left alone."""
    kind, offset, hold, aws = drill
    wait = phase.started + offset - clock()
    if wait > 0:
        sleep(wait)
    if phase.ended is not None:
        return
    phase.server["drill"] = sample(phase, "drill")
    at = clock()
    t0 = time.perf_counter()
    # (in the phase at once: a failover on AWS may outlast the phase, and the phase's record would lack it)
    phase.drill = done = {"kind": kind, "offset_s": offset, "at": round(at, 3), **({"hold_s": hold} if hold else {}),
                          **({"error": "not over when the phase ended"} if aws else {})}
    try:
        if aws:
            done.update(aws_drills.fail_over(aws, runtime.settings.aws_region, sleep))
            done.pop("error")
        elif kind == "cache-flush":
            done["keys_removed"] = runtime.clear_cache()
        elif kind == "db-failover":
            done.update(runtime.fail_over_database(phase.backend, hold, sleep))
        else:
            done.update(_fail_over(runtime.cache, sleep))
    except Exception as e:  # (Redis or its sentinels away: the drill says so; the run goes on)
        done["error"] = f"{type(e).__name__}: {e}"
        return
    done["took_s"] = round(time.perf_counter() - t0, 3)


def _fail_over(cache, sleep) -> dict:
    """SENTINEL FAILOVER, then wait until the sentinels name another primary."""
    old = cache.primary()
    cache.fail_over()
    deadline = time.monotonic() + FAILOVER_WAIT_S
    while time.monotonic() < deadline:
        sleep(0.05)
        new = cache.primary()
        if new != old:
            took = round(FAILOVER_WAIT_S - (deadline - time.monotonic()), 2)
            # the demoted primary would go on serving reads to the connections it has (a replica reads);
            # on ElastiCache it is replaced, and its clients' connections go with it
            dropped = cache.drop_clients_of(old)
            return {"old_primary": f"{old[0]}:{old[1]}", "new_primary": f"{new[0]}:{new[1]}",
                    "promoted_after_s": took, "connections_dropped": dropped}
    raise TimeoutError(f"the sentinels still named {old[0]}:{old[1]} {FAILOVER_WAIT_S:g} s after SENTINEL FAILOVER")
