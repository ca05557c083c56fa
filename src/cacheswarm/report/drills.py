"""What users saw around a drill (drills.py), from the phase's per-second series and the servers'
own counters sampled right before the drill and once the phase's users were gone.

Per drilled phase: the steady state before (the measured seconds before the drill's second), the
peak after, how long until the hit ratio was back to 95% of the steady one, the seconds with
errors, the per-second p99 before and at worst after, the database's reads after the drill (its
own counter, beside the misses the users counted), and the peak of misses against the database's
capacity measured in the same run (a db-only capacity search, else the db-only phase's throughput).
"""

from __future__ import annotations

from .. import catalog

RECOVERED = 0.95  # of the steady hit ratio


def _db(pt: dict) -> int:
    """Reads that second sent to the database: its misses, and the reads that went there because Redis
    did not answer (cache_error)."""
    return pt["misses"] + pt.get("degraded_reads", 0)


def drill_views(phases: list[dict], timeline: dict, summary: list[dict], run: dict) -> list[dict]:
    warmup = float(run.get("warmup") or 0)
    out = []
    for p in phases:
        drill = p.get("drill")
        if not drill or p.get("step") is not None:
            continue
        key = f'{p["dataset"]}/{p["backend"]}/{p["strategy"]}'
        view = {"phase": key, **drill}
        out.append(view)
        if drill.get("error") or not p.get("started"):
            continue
        # the series' seconds count from the process's first user; the last process began latest
        origin = p["started"] + (p.get("last_process_began_s") or 0.0)
        at = max(0.0, drill["at"] - origin)
        second = int(at)
        points = timeline.get(key, [])[:-1]  # (the last second is partial)
        before = [pt for pt in points if warmup <= pt["t"] < second]
        after = [pt for pt in points if pt["t"] >= second]
        if not before or not after:
            view["note"] = "too few seconds before or after the drill to compare"
            continue
        hits = sum(pt.get("hits", 0) for pt in before)
        looked = hits + sum(pt["misses"] for pt in before)
        steady_hit = hits / looked if looked else None
        steady_misses = sum(_db(pt) for pt in before) / len(before)
        peak = max(after, key=_db)
        recovered = next((pt for pt in after if pt["t"] > second and steady_hit is not None
                          and pt["hit_ratio"] is not None and pt["hit_ratio"] >= RECOVERED * steady_hit), None)
        p99_before = sorted(pt["p99_ms"] for pt in before if pt["p99_ms"] is not None)
        worst = max((pt for pt in after if pt["p99_ms"] is not None), key=lambda pt: pt["p99_ms"], default=None)
        view.update({
            "at_s": round(at, 2), "steady_hit_ratio": None if steady_hit is None else round(steady_hit, 4),
            "steady_misses_per_s": round(steady_misses, 1), "peak_misses_per_s": _db(peak), "peak_at_s": peak["t"],
            "recovered_after_s": None if recovered is None else round(recovered["t"] + 1 - at, 1),
            "seconds_after": len(after), "error_seconds": sum(1 for pt in after if pt["failed"]),
            "errors": sum(pt["failed"] for pt in after),
            "p99_before_ms": p99_before[len(p99_before) // 2] if p99_before else None,
            "p99_worst_after_ms": worst["p99_ms"] if worst else None,
            # (beside the database's count up to the drained sample: the last, partial second too)
            "client_misses_after": sum(_db(pt) for pt in after + timeline.get(key, [])[-1:] if pt["t"] >= second),
            "degraded_reads_after": sum(pt.get("degraded_reads", 0) for pt in after),
            "degraded_seconds": sum(1 for pt in after if pt.get("degraded_reads")),
        })
        bad = [pt for pt in after if pt["failed"]]
        view.update({  # the seconds with errors: what still succeeded, what the cache answered
            "ok_in_error_seconds": sum(pt["ops"] for pt in bad), "hits_in_error_seconds": sum(pt.get("hits", 0) for pt in bad),
            "errors_until_s": round(bad[-1]["t"] + 1 - at, 1) if bad else None})
        if drill["kind"] == "db-failover":  # (the database's counters after it are another server's)
            continue
        view.update(_database_reads(p))
        view.update(_against_capacity(p, summary, run, after))
    _against_db_only(out)
    for view in out:
        view["text"] = sentence(view)
    return out


def _share(v: dict) -> float | None:
    """Of the operations in the seconds with errors after the drill, the share that succeeded."""
    ok, failed = v.get("ok_in_error_seconds"), v.get("errors")
    return ok / (ok + failed) if failed and ok is not None else None


def _against_db_only(views: list[dict]) -> None:
    """A database failover in a cache phase beside db-only's of the same data: what the cache kept up."""
    db_only = {v["phase"].rpartition("/")[0]: v for v in views
               if v["kind"] == "db-failover" and v["phase"].endswith("/db-only")}
    for v in views:
        ref = db_only.get(v["phase"].rpartition("/")[0])
        if v["kind"] == "db-failover" and ref is not None and ref is not v and _share(ref) is not None:
            v["db_only_share"] = round(_share(ref), 4)


def _database_reads(p: dict) -> dict:
    """The database's own read statements from the drill's sample to the phase's drained one."""
    server = p.get("server") or {}
    first, last = (server.get("drill") or {}).get(p["backend"]), (server.get("drained") or {}).get(p["backend"])
    described = catalog.BACKENDS.get(p["backend"])
    if not first or not last or "error" in first or "error" in last or described is None or not described.module:
        return {}
    counters = described.hooks().PER_OP.get(p["dataset"], {}).get("read", {})
    if len(counters) != 1:
        return {}
    (counter, _), = counters.items()
    if counter not in first or counter not in last:
        return {}
    return {"database_counter": counter, "database_reads_after": last[counter] - first[counter]}


def _against_capacity(p: dict, summary: list[dict], run: dict, after: list[dict]) -> dict:
    """The peak of misses (reads the database must serve) against what the database sustained in this
    run: db-only's capacity (a search), else its fixed phase's throughput."""
    base = f'{p["dataset"]}/{p["backend"]}/db-only'
    cap = (run.get("capacity") or {}).get(base) or {}
    if cap.get("capacity_ops"):
        ref, what = float(cap["capacity_ops"]), "db-only capacity"
    else:
        row = next((s for s in summary if s["phase"] == base and s.get("step") is None), None)
        if not row or not row.get("throughput_ops"):
            return {}
        ref, what = float(row["throughput_ops"]), "db-only phase's throughput"
    peak = max(_db(pt) for pt in after)
    return {"database_reference_ops": round(ref, 1), "database_reference": what,
            "peak_over_reference": round(peak / ref, 2),
            "seconds_over_reference": sum(1 for pt in after if _db(pt) > ref)}


def sentence(v: dict) -> str:
    head = f'{v["phase"]}: {v["kind"]} at {v["offset_s"]:g}s'
    if v.get("error"):
        return f"{head} could not be done ({v['error']})"
    did = (f"removed {v.get('keys_removed', 0):,} keys" if v["kind"] == "cache-flush" else
           f"moved the primary of {v['aws_target']} from {v.get('old_primary')} to {v.get('new_primary')} in "
           f"{v.get('promoted_after_s', 0):g} s" if v.get("aws_target") else
           f"moved the primary from {v.get('old_primary')} to {v.get('new_primary')} in {v.get('promoted_after_s', 0):g} s "
           f"and closed {v.get('connections_dropped', 0)} connections to the old one")
    if "steady_misses_per_s" not in v:
        return f"{head} {did}; {v.get('note', 'nothing measured around it')}"
    if v["kind"] == "db-failover":
        return _db_failover_sentence(head, did, v)
    text = (f"{head} {did}; reads sent to the database rose from {v['steady_misses_per_s']:,.0f}/s to "
            f"{v['peak_misses_per_s']:,}/s")
    if v.get("degraded_reads_after"):
        text += (f", {v['degraded_reads_after']:,} of them in {v['degraded_seconds']} s because Redis did not answer "
                 "(cache_error)")
    if v.get("database_reads_after") is not None:
        text += (f" (the database counted {v['database_reads_after']:,} {v['database_counter']} after it, the users "
                 f"{v['client_misses_after']:,} reads)")
    if v.get("database_reference_ops"):
        over = v["seconds_over_reference"]
        text += (f", {v['peak_over_reference']:.1f}× the {v['database_reference']} of "
                 f"{v['database_reference_ops']:,.0f} ops/s" + (f", above it for {over} s" if over else ""))
    if v["recovered_after_s"] is not None:
        text += f"; the hit ratio was back to 95% of its {v['steady_hit_ratio']:.2f} within {v['recovered_after_s']:g} s"
    elif v["steady_hit_ratio"] is not None:
        text += f"; the hit ratio was not back to 95% of its {v['steady_hit_ratio']:.2f} in the {v['seconds_after']} s left"
    text += (f"; errors in {v['error_seconds']} s ({v['errors']:,} operations)" if v["errors"]
             else "; no operation failed")
    if v.get("p99_before_ms") is not None and v.get("p99_worst_after_ms") is not None:
        text += f"; p99 per second {v['p99_before_ms']:g} ms before, {v['p99_worst_after_ms']:g} ms at worst after"
    return text


def _db_failover_sentence(head: str, did: str, v: dict) -> str:
    """The database away: what failed, for how long, what still succeeded (the cache's hits among it)."""
    text = f"{head} {did}"
    if "fenced_after_s" in v:
        text += (f" (read-only after {v['fenced_after_s']:g} s, the standby caught up after "
                 f"{v.get('caught_up_after_s', 0):g} s)")
    if v.get("errors"):
        text += (f"; {v['errors']:,} operations failed in {v['error_seconds']} s, the last {v['errors_until_s']:g} s "
                 f"after the drill; in those seconds {_share(v):.0%} of operations succeeded "
                 f"({v['hits_in_error_seconds']:,} reads answered by the cache"
                 + (f"; db-only's phase {v['db_only_share']:.0%} in its failover)" if "db_only_share" in v else ")"))
    else:
        text += "; no operation failed"
    if v.get("p99_before_ms") is not None and v.get("p99_worst_after_ms") is not None:
        text += f"; p99 per second {v['p99_before_ms']:g} ms before, {v['p99_worst_after_ms']:g} ms at worst after"
    if v.get("note"):
        text += f"; {v['note']}"
    return text
