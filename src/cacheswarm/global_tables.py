"""`cacheswarm global-tables`: a DynamoDB global table's replication lag per region pair, the updates lost
to last-writer-wins, and the stale reads through regional caches after a write elsewhere; emulated
with one DynamoDB Local per region (stores/dynamodb_global.py) or, for the lag and the conflicts, on a
real global table on AWS. cli.py parses the command line; this module runs it."""

from __future__ import annotations

import os
import re
import statistics

from . import emulator, options
from .opt_regions import REGION_NAME
from .optbase import BadInput
from .regions import lag_pair
from .report import global_tables as report
from .stores import dynamodb, dynamodb_global as glob
from .stores.dynamodb_global import REMEDY_TEXT


class Unusable(Exception):
    """A server or table the command needs cannot be used (exit 2, one line)."""


CALIBRATION_MARKERS = 10  # per region pair, at lag 0, after as many to warm the servers


def run(args) -> int:
    """`cacheswarm global-tables ARGS` (parsed by cli.py): what users in each region of a global table
    see of the others' writes. Bad input raises BadInput, an unusable Redis or table Unusable."""
    names = [r.strip() for r in args.regions.split(",") if r.strip()]
    bad = [r for r in names if not re.fullmatch(REGION_NAME, r)]
    if bad or len(names) < 2 or len(names) > 3 or len(set(names)) < len(names):
        raise BadInput("--regions", f"{args.regions!r}: give two or three different AWS regions, e.g. "
                                    "us-east-1,eu-west-1" + (f" ({bad[0]!r} is not a region name)" if bad else ""))
    for flag, value, low, top in (("--markers", args.markers, 1, 10_000), ("--conflicts", args.conflicts, 0, 10_000),
                                  ("--stale-items", args.stale_items, 0, 1_000)):
        if not low <= value <= top:
            raise BadInput(flag, f"{value} is out of range; use {low} to {top:,}")
    ttl_s = glob.parse_duration(args.cache_ttl, "--cache-ttl")
    if not 0.01 <= ttl_s <= 600:
        raise BadInput("--cache-ttl", f"{args.cache_ttl!r}: give 10ms to 10m, e.g. 1s (each item waits it out once)")
    endpoint = args.dynamodb_endpoint.strip()
    if endpoint not in ("embedded", "aws"):
        raise BadInput("--dynamodb-endpoint", f"{endpoint!r}: use embedded or aws (a global table's replicas "
                                              "are regions, not one endpoint)")
    if endpoint == "aws":
        if args.replication_lag:
            raise BadInput("--replication-lag", "only the embedded emulation injects a lag; on AWS the lag is "
                                                "what is measured: drop it")
        if not args.table:
            raise BadInput("--table", "name the global table to probe with --dynamodb-endpoint aws")
        lag = None
    else:
        if args.table:
            raise BadInput("--table", "the embedded emulation makes its own table; --table is for "
                                      "--dynamodb-endpoint aws")
        lag = glob.parse_lag(args.replication_lag or "40ms")
        options.check_namespace(args.namespace)
    out_dir = args.out
    if out_dir and os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise BadInput("--out", f"{out_dir!r} is a file; give a directory")

    say = lambda line: print(f"cacheswarm: {line}", flush=True)  # noqa: E731
    result = {"regions": names, "endpoint": endpoint, "pairs": [], "conflicts": None, "partial": True}

    def measure(regions, table, schema, calibrate=None):
        for src in regions:
            for dst in regions:
                if src is dst:
                    continue
                overhead = None
                if calibrate:
                    say(f"measuring the emulation's own delay {src.name} -> {dst.name} at lag 0 ...")
                    overhead = calibrate(src, dst)
                say(f"probing {src.name} -> {dst.name} with {args.markers} markers ...")
                lags: list = []
                try:
                    glob.probe_lag_keys(src, dst, table, schema, args.markers, into=lags)
                finally:  # interrupted: the markers measured so far are this pair's figures
                    _add_pair(result, src.name, dst.name, lags, overhead)
        if args.conflicts:
            say(f"updating {args.conflicts} items in every region at once ...")
            result["conflicts"] = glob.probe_conflicts(regions, table, schema, args.conflicts)
            print("  " + _conflict_line(result["conflicts"], len(regions)), flush=True)

    caches = _caches(args.redis_url, names, endpoint) if args.stale_items else {}  # before any emulator starts

    def stale(regions, table, schema):
        result["stale"] = []
        say(f"stale reads through each region's cache (TTL {args.cache_ttl}) after a write in {regions[0].name}, "
            f"{args.stale_items} items per remedy:")
        for remedy in glob.REMEDIES:
            got = glob.probe_stale(regions, caches, table, remedy, args.stale_items, ttl_s,
                                   prefix=f"{args.namespace}:replication", schema=schema)
            result["stale"].append(got)
            print("  " + _stale_line(got), flush=True)

    try:
        if endpoint == "embedded":
            table = f"{args.namespace}_replication"
            try:
                with glob.EmulatedRegions(names, table, lag, say=say) as em:
                    result.update(emulated=True, emulator=em.emulator, replication_lag=args.replication_lag or "40ms")
                    say(f"{', '.join(names[:-1])} and {names[-1]}: {em.emulator} per region; replication emulated, "
                        f"holding each write {result['replication_lag']} (not AWS's lag: see docs/global-tables.md)")

                    def calibrate(src, dst):
                        """The emulation's own delay (stream reads, the apply, the probe's polls), at lag 0 on
                        warm servers: what the lag figures hold beyond the lag injected."""
                        em.replicator.lag = lambda: 0.0
                        glob.probe_lag_keys(src, dst, table, [("id", "S")], CALIBRATION_MARKERS)  # warm-up
                        ref = [x for x in glob.probe_lag_keys(src, dst, table, [("id", "S")], CALIBRATION_MARKERS)
                               if x is not None]
                        em.replicator.lag = lag
                        return round(statistics.median(ref) * 1000, 2) if ref else None

                    measure(em.regions, table, [("id", "S")], calibrate)
                    if args.stale_items:
                        stale(em.regions, table, (("id", "S"),))
                    result["replicator"] = {"applied": {f"{a}->{b}": n for (a, b), n in em.replicator.applied.items()},
                                            "superseded": {f"{a}->{b}": n for (a, b), n in
                                                           em.replicator.superseded.items()},
                                            "errors": em.replicator.errors[:20]}
            except emulator.EmulatorError as e:
                raise Unusable(f"{e}: the emulated global table needs DynamoDB Local (make install fetches it)") \
                    from None
        else:
            regions = []
            for name in names:
                regions.append(glob.Region(name, dynamodb.make_client("aws", name, 2, glob.INFLIGHT + 8, 10.0),
                                           dynamodb.make_client("aws", name, 2, 10, 10.0, service="dynamodbstreams")))
            try:
                described = regions[0].client.describe_table(TableName=args.table)["Table"]
            except Exception as e:  # no credentials, no table, no permission: one line
                raise Unusable(f"cannot describe {args.table} in {names[0]}: {e}") from None
            schema = glob.schema_of(described)
            replicas = {r["RegionName"] for r in described.get("Replicas", [])} | {names[0]}
            missing = [n for n in names if n not in replicas]
            if missing:
                raise BadInput("--regions", f"{args.table} has no replica in {', '.join(missing)} (its replicas: "
                                            f"{', '.join(sorted(replicas))})")
            consistency = described.get("MultiRegionConsistency")
            result.update(emulated=False, table=args.table, consistency=consistency or "EVENTUAL")
            say(f"{args.table}: replicas in {', '.join(names)}, multi-region consistency "
                f"{(consistency or 'EVENTUAL').lower()}")
            measure(regions, args.table, schema)
            if args.stale_items:  # (the probe's consumers read each region's stream: the table has them)
                stale(regions, args.table, tuple(schema))
        result["partial"] = False
    finally:
        measured = result["pairs"] or result["conflicts"]
        if measured:
            for line in report.answer(result):
                print(line, flush=True)
        if out_dir and measured:
            print(f"cacheswarm global-tables report: {report.write(out_dir, result)}"
                  + (" (partial: interrupted)" if result["partial"] else ""), flush=True)
    lost_markers = sum(p["markers"] - p["arrived"] for p in result["pairs"])
    errors = (result.get("replicator") or {}).get("errors")
    return 1 if lost_markers or errors or (result["conflicts"] and result["conflicts"]["converged_s"] is None) else 0


def _caches(text: str, names: list[str], endpoint: str) -> dict:
    """--redis-url -> {region: redis client}: one URL for every region (a key prefix per region; the
    embedded emulation's default), or REGION=URL for each region (on AWS, each region's ElastiCache).
    Each is pinged before anything starts."""
    from .cache import CacheError, RedisCache

    parts = [p.strip() for p in text.split(",") if p.strip()]
    per_region = dict(p.split("=", 1) for p in parts if "=" in p)
    if per_region and (len(per_region) != len(parts) or set(per_region) != set(names)):
        raise BadInput("--redis-url", f"give one URL, or REGION=URL for each of {', '.join(names)}")
    if not per_region and (len(parts) != 1 or endpoint == "aws"):
        raise BadInput("--redis-url", "on AWS each region reads its own Redis: give REGION=URL for each of "
                                      f"{', '.join(names)} (rediss://... for ElastiCache with TLS), or --stale-items 0"
                       if endpoint == "aws" else "give one Redis URL, or REGION=URL for each region")
    urls = per_region or {name: parts[0] for name in names}
    out, made = {}, {}
    for name, url in urls.items():
        options._check_redis_url(url)
        if url not in made:
            try:
                made[url] = RedisCache(url, "", 2, 5.0, "")
                made[url].check(options.redact_url(url))
            except CacheError as e:
                raise Unusable(f"{e} (--redis-url holds {name}'s cache)") from None
        out[name] = made[url].client
    return out


def _add_pair(result: dict, src: str, dst: str, lags: list, overhead) -> None:
    pair = lag_pair(src, dst, lags)
    if overhead is not None:
        pair["emulation_overhead_p50_ms"] = overhead
    result["pairs"].append(pair)
    print("  " + _lag_line(pair), flush=True)


def _lag_line(pair: dict) -> str:
    if not pair["arrived"]:
        return f"{pair['from']} -> {pair['to']}: none of {pair['markers']} markers arrived within 10 s"
    lo, hi = pair["p50_ci_ms"]
    ci = f" ({lo:,.1f}–{hi:,.1f})" if lo is not None and hi is not None else ""
    missing = pair["markers"] - pair["arrived"]
    own = pair.get("emulation_overhead_p50_ms")
    return (f"{pair['from']} -> {pair['to']}: lag p50 {pair['p50_ms']:,.1f} ms{ci}, max {pair['max_ms']:,.1f} ms "
            f"({pair['arrived']} of {pair['markers']} markers" + (f"; {missing} did not arrive within 10 s" if missing
                                                                  else "")
            + (f"; at lag 0 the emulation alone gave p50 {own:,.1f} ms)" if own is not None else ")"))


def _stale_line(r: dict) -> str:
    fresh = sorted(x for x in r["stale_s"] if x is not None)
    never = len(r["stale_s"]) - len(fresh)
    window = (f"stale for p50 {statistics.median(fresh):.2f} s, max {fresh[-1]:.2f} s" if fresh else "never fresh")
    tail = f"; {never} never fresh within TTL + 1 s" if never and fresh else ""
    recached = (f"; {r['recached_stale']} misses loaded the old value back from a replica the write had not "
                f"reached yet" if r["recached_stale"] else "")
    return (f"{r['remedy']} ({REMEDY_TEXT[r['remedy']]}): {window} after the write{tail}, {r['stale_reads']} of "
            f"{r['reads']} reads stale{recached}")



def _conflict_line(c: dict, regions: int) -> str:
    won = ", ".join(f"{r} {n}" for r, n in sorted(c["winners"].items()))
    tail = (f"every replica agrees after {c['converged_s']:.2f} s" if c["converged_s"] is not None else
            f"only {c['agree']} of {c['items']} items agree in every region after 30 s")
    refused = f", {c['refused']} refused (ReplicatedWriteConflictException)" if c.get("refused") else ""
    return (f"conflicts: {c['items']} items updated in {regions} regions at once: {c['lost']} of {c['writes']} "
            f"updates lost to last-writer-wins{refused} (won: {won or 'none'}); {tail}")
