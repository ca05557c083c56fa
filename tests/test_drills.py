"""Drills mid-phase (`--drill`): what users and the database saw when the cache went away."""

from __future__ import annotations

import json

import redis

from cacheswarm.stores import mysql_products

from .conftest import MYSQL_URL, REDIS_URL, run_locust
from .test_end_to_end import only_report


def test_a_cache_flush_mid_phase_sends_every_read_to_the_database_and_the_report_says_how_long(
        namespace, target, tmp_path):
    """A warm cache emptied 4 s into an 8 s phase: the misses jump, the database's own count of SELECTs
    after the drill equals the misses the users counted, and the run's own keys (lease, insert ids)
    survive it (inserts go on without a duplicate id)."""
    mysql_products.seed(target, namespace, 2000)
    out = run_locust(["--headless", "-u", "8", "-r", "8", "--namespace", namespace, "--mysql-url", MYSQL_URL,
                      "--redis-url", REDIS_URL, "--keyspace", "2000", "--phase-time", "8s", "--warmup", "1s",
                      "--strategies", "db-only,cache-aside", "--warm-cache", "--staleness-sample", "0",
                      "--insert-ratio", "0.02", "--drill", "cache-flush@4s", "--report-dir", str(tmp_path / "r")],
                     cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    report = only_report(tmp_path / "r")
    doc = json.loads((report / "comparison.json").read_text())
    assert [d["phase"] for d in doc["drills"]] == ["products/mysql/cache-aside"]  # db-only has no cache to flush
    d = doc["drills"][0]
    assert d["kind"] == "cache-flush" and 3.0 <= d["at_s"] <= 5.0, d
    assert 1000 < d["keys_removed"] <= 2000 + 200, d  # the warm keyspace (less what writes had deleted; + inserts)
    assert d["peak_misses_per_s"] > 3 * max(d["steady_misses_per_s"], 1), d
    assert d["steady_hit_ratio"] > 0.8
    # the database's own count after the drill is the users' misses (the drill's second is split)
    assert abs(d["database_reads_after"] - d["client_misses_after"]) <= max(d["steady_misses_per_s"], 20), d
    assert d["database_counter"] == "Com_select" and d["database_reference"] == "db-only phase's throughput"
    timeline = {pt["t"]: pt for pt in doc["timeline"]["products/mysql/cache-aside"]}
    assert timeline[d["peak_at_s"]]["hit_ratio"] < 0.8 * d["steady_hit_ratio"]
    summary = {s["phase"]: s for s in doc["summary"]}
    assert summary["products/mysql/cache-aside"]["errors"] == 0  # the insert ids survived the flush
    views = {v["phase"]: v for v in doc["server"]}
    assert not views["products/mysql/cache-aside"]["mismatches"], views["products/mysql/cache-aside"]["checks"]
    assert "drill products/mysql/cache-aside: cache-flush at 4s removed" in out.stderr + out.stdout
    assert "Drills: what users saw" in (report / "comparison.html").read_text()
    client = redis.Redis.from_url(REDIS_URL)
    assert client.get(f"{namespace}:lease") is None  # released at the end as usual (it was kept through the drill)


def test_a_drill_in_a_run_without_a_drilled_phase_does_nothing(namespace, target, tmp_path):
    """Capacity steps are left alone: a search with a drill reports no drill."""
    mysql_products.seed(target, namespace, 1000)
    out = run_locust(["--headless", "-u", "4", "-r", "4", "--namespace", namespace, "--mysql-url", MYSQL_URL,
                      "--redis-url", REDIS_URL, "--keyspace", "1000", "--phase-time", "4s", "--warmup", "1s",
                      "--strategies", "cache-aside", "--find-capacity", "products/mysql", "--capacity-max-rate", "400",
                      "--capacity-start", "200", "--capacity-steps", "2", "--capacity-refine", "0", "--slo", "read p99 < 500ms", "--drill", "cache-flush@2s",
                      "--report-dir", str(tmp_path / "r")], cwd=tmp_path, timeout=240)
    assert out.returncode in (0, 4), out.stderr[-3000:]
    doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
    assert doc["drills"] == [] and any(p["step"] for p in doc["phases"])


def test_a_cache_failover_moves_users_to_the_new_primary_through_the_sentinels(namespace, target, tmp_path):
    """A primary + replica watched by Redis Sentinel; SENTINEL FAILOVER 4 s into the phase: the sentinels
    name the replica, the users' connections to the old primary close, their reads go to the database
    while Redis does not answer (cache_error, then back to hits from the new primary, which holds the
    replicated keys), and every GET after the drill reached the new primary."""
    from .helpers import SentinelPair

    pair = SentinelPair(tmp_path / "pair")
    try:
        old = pair.primary_port()
        mysql_products.seed(target, namespace, 2000)
        out = run_locust(["--headless", "-u", "8", "-r", "8", "--namespace", namespace, "--mysql-url", MYSQL_URL,
                          "--redis-url", pair.url, "--keyspace", "2000", "--phase-time", "9s", "--warmup", "1s",
                          "--strategies", "cache-aside", "--warm-cache", "--staleness-sample", "0",
                          "--drill", "cache-failover@4s", "--report-dir", str(tmp_path / "r")], cwd=tmp_path)
        assert out.returncode == 1, out.stderr[-3000:]  # (reads that fell back to the database: exit 1)
        doc = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())
        d = doc["drills"][0]
        new = pair.primary_port()
        assert new != old and d["old_primary"] == f"127.0.0.1:{old}" and d["new_primary"] == f"127.0.0.1:{new}", d
        assert d["connections_dropped"] >= 8  # every user's
        assert 0 < d["degraded_reads_after"] and d["degraded_seconds"] <= 4, d  # the ~1 s circuit breaker, not more
        assert d["recovered_after_s"] is not None, d  # hits again: the new primary holds the replicated keys
        gets = {p: int(n.info("commandstats").get("cmdstat_get", {}).get("calls", 0)) for p, n in
                zip(pair.ports, pair.nodes)}
        timeline = doc["timeline"]["products/mysql/cache-aside"]
        after = sum(pt["hits"] + pt["misses"] for pt in timeline if pt["t"] > d["at_s"] + 2)
        assert gets[new] >= after > 0, (gets, after)  # the reads after the drill were the new primary's
        assert abs(d["database_reads_after"] - d["client_misses_after"]) <= 0.1 * d["client_misses_after"] + \
            2 * d["steady_misses_per_s"], d
        assert "moved the primary from" in out.stderr + out.stdout
        restarts = {v["phase"]: v["restarts"] for v in doc["server"]}["products/mysql/cache-aside"]
        assert restarts and "the drill's failover" in restarts[0], restarts
    finally:
        pair.stop()


def test_a_database_failover_moves_users_to_the_standby_and_the_cache_answers_meanwhile(namespace, tmp_path):
    """A MariaDB primary and its standby named by one --mysql-url; 3 s into each phase the drill fails the
    primary over (read-only, its clients' connections closed, the standby caught up and, 2 s after the
    fence, promoted; the old primary replicating it): the users' operations fail while no server is
    writable, then reconnect to the new primary; the second phase fails back. By each server's own general log, no client statement
    reached the old primary after it was fenced, and the writes went on at the new one; both servers end
    with the same rows; cache-aside answered reads from Redis in the seconds with errors, db-only none."""
    from cacheswarm.targets import parse_mysql_url

    from .helpers import MariaDBPair

    pair = MariaDBPair(tmp_path / "pair")
    try:
        a, b = (f"127.0.0.1:{s.port}" for s in pair.servers)
        mysql_products.seed(parse_mysql_url(pair.url), namespace, 2000)
        out = run_locust(["--headless", "-u", "6", "-r", "6", "--namespace", namespace, "--mysql-url", pair.url,
                          "--redis-url", REDIS_URL, "--keyspace", "2000", "--phase-time", "8s", "--warmup", "1s",
                          "--strategies", "db-only,cache-aside", "--warm-cache", "--staleness-sample", "0",
                          "--read-ratio", "0.8", "--drill", "db-failover@3s+2s", "--report-dir", str(tmp_path / "r")],
                         cwd=tmp_path)
        assert out.returncode == 1, out.stderr[-3000:]  # (the operations the failover broke: exit 1)
        report = only_report(tmp_path / "r")
        doc = json.loads((report / "comparison.json").read_text())
        drills = {d["phase"]: d for d in doc["drills"]}
        first, second = drills["products/mysql/db-only"], drills["products/mysql/cache-aside"]
        assert (first["old_primary"], first["new_primary"]) == (a, b), first
        assert (second["old_primary"], second["new_primary"]) == (b, a), second  # failed back: b replicated a
        for d in (first, second):
            assert d["old_primary_replicates"] and d["connections_dropped"] >= 1, d
            assert d["promoted_after_s"] >= d["fenced_after_s"] + 2 and d["hold_s"] == 2, d
            assert d["error_seconds"] >= 2 and d["errors_until_s"] >= 2, d  # nothing writable for 2 s
        assert first["hits_in_error_seconds"] == 0 and second["hits_in_error_seconds"] > 0, (first, second)

        def share(d):
            return d["ok_in_error_seconds"] / (d["ok_in_error_seconds"] + d["errors"])
        assert share(second) > share(first), (first, second)  # the cache answered while the database was away
        assert second["db_only_share"] == round(share(first), 4) and "db_only_share" not in first
        phases = {p["strategy"]: p for p in doc["phases"]}
        for strategy, d, old, new in (("db-only", first, pair.servers[0], pair.servers[1]),
                                      ("cache-aside", second, pair.servers[1], pair.servers[0])):
            fenced = d["fenced_at"]  # (from then on, no client of the old primary is left)
            ended = phases[strategy]["ended"]
            table = f"{namespace}_products"
            count = ("SELECT COUNT(*) FROM mysql.general_log WHERE command_type = 'Query' AND user_host LIKE 'root[root]%%' "
                     "AND argument LIKE "
                     f"'UPDATE `{table}`%%' AND UNIX_TIMESTAMP(event_time) BETWEEN %s AND %s")
            assert old.sql(count % (fenced, ended))[0][0] == 0  # nothing reached the fenced primary
            assert new.sql(count % (fenced, ended))[0][0] > 0  # the writes went on at the promoted one
        checksums = [s.sql(f"CHECKSUM TABLE test.`{namespace}_products`")[0][1] for s in pair.servers]
        assert checksums[0] == checksums[1] and checksums[0], checksums
        assert "another server was the primary at the end" in json.dumps(doc["server"])
        text = out.stderr + out.stdout
        assert f"db-failover at 3s moved the primary from {a} to {b}" in text, text[-3000:]
        assert "reads answered by the cache" in text
    finally:
        pair.stop()


AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}


def _moto_requests(endpoint: str, action: str) -> list[dict]:
    """The requests moto's recorder saw for one API action, as form fields."""
    import base64
    import urllib.parse
    import urllib.request

    with urllib.request.urlopen(f"{endpoint}/moto-api/recorder/download-recording") as r:
        entries = [json.loads(line) for line in r.read().decode().splitlines() if line.strip()]
    out = []
    for e in entries:
        body = base64.b64decode(e["body"]).decode() if e.get("body_encoded") else (e.get("body") or "")
        fields = dict(urllib.parse.parse_qsl(body))
        if fields.get("Action") == action:
            out.append(fields)
    return out


def test_an_rds_failover_is_asked_of_the_named_and_confirmed_instance_only(namespace, target, tmp_path):
    """--drill db-failover with --drill-aws-target rds:ID (and the same in --drill-confirm) sends RDS one
    RebootDBInstance with ForceFailover for that instance per drilled phase, here to moto's RDS (which
    records it; the users' database is the local MariaDB, which RDS's emulator cannot move), and the
    report names the instance. Without the confirmation nothing runs (exit 2, no request)."""
    import urllib.request

    import boto3

    from cacheswarm.emulator import MotoServer

    mysql_products.seed(target, namespace, 1000)
    with MotoServer() as moto:
        urllib.request.urlopen(urllib.request.Request(f"{moto.endpoint}/moto-api/recorder/start-recording",
                                                      method="POST")).close()
        rds = boto3.client("rds", endpoint_url=moto.endpoint, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        for name in ("cswdb", "otherdb"):
            rds.create_db_instance(DBInstanceIdentifier=name, DBInstanceClass="db.t3.micro", Engine="mysql",
                                   MasterUsername="admin", MasterUserPassword="password1", AllocatedStorage=20,
                                   MultiAZ=True)
        env = {**AWS_ENV, "AWS_ENDPOINT_URL_RDS": moto.endpoint}
        args = ["--headless", "-u", "4", "-r", "4", "--namespace", namespace, "--mysql-url", MYSQL_URL,
                "--redis-url", REDIS_URL, "--keyspace", "1000", "--phase-time", "13s", "--warmup", "1s",
                "--strategies", "cache-aside", "--warm-cache", "--staleness-sample", "0",
                "--drill", "db-failover@3s", "--drill-aws-target", "rds:cswdb", "--report-dir", str(tmp_path / "r")]
        refused = run_locust([*args, "--drill-confirm", "rds:otherdb"], cwd=tmp_path, env=env)
        assert refused.returncode == 2 and "--drill-confirm rds:cswdb" in refused.stderr, refused.stderr[-2000:]
        assert _moto_requests(moto.endpoint, "RebootDBInstance") == []
        out = run_locust([*args, "--drill-confirm", "rds:cswdb"], cwd=tmp_path, env=env)
        assert out.returncode == 0, out.stderr[-3000:]
        asked = _moto_requests(moto.endpoint, "RebootDBInstance")
        assert [(r["DBInstanceIdentifier"], r["ForceFailover"]) for r in asked] == [("cswdb", "true")], asked
        d = json.loads((only_report(tmp_path / "r") / "comparison.json").read_text())["drills"][0]
        assert d["aws_target"] == "rds:cswdb" and "error" not in d and d["promoted_after_s"] >= 6, d
        assert "db-failover at 3s moved the primary of rds:cswdb" in out.stderr + out.stdout


def test_an_elasticache_failover_asks_test_failover_of_the_named_node_group(tmp_path, monkeypatch):
    """elasticache:GROUP: the drill finds the group's one node group and sends TestFailover for it; moto's
    ElastiCache has no TestFailover, so the drill says what the service answered (on AWS: the replica
    promoted, which only AWS can show)."""
    import urllib.request

    import boto3

    from cacheswarm import aws_drills
    from cacheswarm.emulator import MotoServer

    with MotoServer() as moto:
        urllib.request.urlopen(urllib.request.Request(f"{moto.endpoint}/moto-api/recorder/start-recording",
                                                      method="POST")).close()
        ec = boto3.client("elasticache", endpoint_url=moto.endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        ec.create_replication_group(ReplicationGroupId="cswcache", ReplicationGroupDescription="drill",
                                    Engine="redis", CacheNodeType="cache.t3.micro", NumCacheClusters=2,
                                    AutomaticFailoverEnabled=True)
        for k, v in {**AWS_ENV, "AWS_ENDPOINT_URL_ELASTICACHE": moto.endpoint}.items():
            monkeypatch.setenv(k, v)
        try:
            aws_drills.fail_over("elasticache:cswcache", "us-east-1", sleep=lambda s: None)
            answered = None
        except Exception as e:
            answered = str(e)
        asked = _moto_requests(moto.endpoint, "TestFailover")
        groups = ec.describe_replication_groups(ReplicationGroupId="cswcache")["ReplicationGroups"][0]["NodeGroups"]
        assert [(r["ReplicationGroupId"], r["NodeGroupId"]) for r in asked] == [("cswcache", groups[0]["NodeGroupId"])]
        assert answered, "moto has no TestFailover: the drill must say what the service answered"
