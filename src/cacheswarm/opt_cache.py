"""Options for what a cache does besides speed: write policies, the staleness audit, stampede
protection, eviction (a private Redis) and reading from Redis's replica; their validation."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .catalog import PROTECTIONS, WRITE_POLICIES
from .drills import DRILL_OPTIONS
from .optbase import BadInput, Opt, _choice, _ranged
from .targets import _check_redis_url


CACHE_OPTIONS = (
    Opt("--write-policy", "invalidate", "cache-aside write policy: invalidate (UPDATE then DEL), write-through "
        "(UPDATE then SET), versioned (write-through; every SET a Lua compare-and-set that never replaces a newer "
        "version) or double-delete (DEL, then DEL again after --double-delete-delay)", choices=WRITE_POLICIES),
    Opt("--double-delete-delay", 0.5, "seconds between double-delete's two DELs", float),
    Opt("--staleness-sample", 0.01, "fraction of cache-aside hits (and misses) audited against the database, "
        "outside the timed call: stale reads, their age, invalidation races (0 = off)", float),
    Opt("--stampede-protection", "none", "cache-aside misses: none, lock (one loader per key, the others wait) or "
        "early-refresh (probabilistic early expiration)", choices=PROTECTIONS),
    Opt("--ttl-jitter", 0.0, "spread cache-aside expiries: each TTL is --cache-ttl x (1 + J x random)", float),
    Opt("--redis-maxmemory", "", "start a private redis-server with this maxmemory (e.g. 2mb; allkeys-lru) and use "
        "it instead of --redis-url: watch eviction (default: off)"),
    Opt("--redis-reader-url", "", "Redis replica (e.g. the ElastiCache reader endpoint): cache reads go there, "
        "SET/DEL to --redis-url; its replication lag is probed every 100 ms"),
) + DRILL_OPTIONS


def _memory_size(value) -> str:
    """--redis-maxmemory: '' or 0 (off), or a size redis-server takes (bytes, kb, mb, gb)."""
    text = str(value or "").strip().lower()
    if text in ("", "0"):
        return ""
    if not re.fullmatch(r"[1-9][0-9]*(b|k|kb|m|mb|g|gb)?", text):
        raise BadInput("--redis-maxmemory", f"{value!r} is not a size; write e.g. 2mb, 512kb or 1gb (0: off)")
    return text


@dataclass(frozen=True)
class CacheSettings:
    """The options above, validated: Settings.cache."""
    write_policy: str = "invalidate"
    double_delete_delay: float = 0.5
    staleness_sample: float = 0.01
    stampede_protection: str = "none"
    ttl_jitter: float = 0.0
    redis_maxmemory: str = ""
    redis_reader_url: str = field(default="", repr=False)
    drill: tuple | None = None  # (kind, seconds into the phase, seconds held): drills.parse, once the phases are known


def cache_settings(ns) -> CacheSettings:
    """Validate the options above (a database's replica is its module's: Settings.readers)."""
    redis_reader = str(getattr(ns, "redis_reader_url", "") or "")
    if redis_reader:
        _check_redis_url(redis_reader, "--redis-reader-url")
    maxmemory = _memory_size(getattr(ns, "redis_maxmemory", ""))
    if maxmemory and redis_reader:
        raise BadInput("--redis-reader-url", "cannot be used with --redis-maxmemory (its private Redis has no "
                                             "replica); drop one of them")
    if maxmemory and str(getattr(ns, "redis_url", "") or "").startswith("redis+sentinel://"):
        raise BadInput("--redis-maxmemory", "starts one private Redis instead of --redis-url, which names a primary "
                                            "the sentinels watch: drop one of them")
    if "+cluster://" in str(getattr(ns, "redis_url", "") or ""):
        if redis_reader:
            raise BadInput("--redis-reader-url", "is for one Redis and its replica; a cluster's replicas are its "
                                                 "shards' own: drop --redis-reader-url")
        if maxmemory:
            raise BadInput("--redis-maxmemory", "starts one private Redis instead of --redis-url, which names a "
                                                "cluster: drop one of them")
    return CacheSettings(
        write_policy=_choice("--write-policy", ns.write_policy, WRITE_POLICIES),
        double_delete_delay=_ranged("--double-delete-delay", ns.double_delete_delay, 0.0, 60.0),
        staleness_sample=_ranged("--staleness-sample", ns.staleness_sample, 0.0, 1.0),
        stampede_protection=_choice("--stampede-protection", ns.stampede_protection, PROTECTIONS),
        ttl_jitter=_ranged("--ttl-jitter", ns.ttl_jitter, 0.0, 10.0),
        redis_maxmemory=maxmemory,
        redis_reader_url=redis_reader,
    )
