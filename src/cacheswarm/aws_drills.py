"""Drills on AWS (drills.py): fail a real resource over, only the one the user names and confirms.

- `rds:DB_INSTANCE_ID` with `db-failover@T`: RebootDBInstance with ForceFailover, the standby of a
  Multi-AZ instance promoted; the users' endpoint (--mysql-url, the instance's DNS name) follows.
  Permissions: rds:DescribeDBInstances, rds:RebootDBInstance on the instance.
- `elasticache:REPLICATION_GROUP[/NODE_GROUP]` with `cache-failover@T`: TestFailover of the node
  group (the only one when not named), a replica promoted; the users' primary endpoint (--redis-url)
  follows. Permissions: elasticache:DescribeReplicationGroups, elasticache:TestFailover.

Each call goes to the region of --aws-region (and to AWS_ENDPOINT_URL_RDS / _ELASTICACHE where set,
as boto3 reads them). The drill waits until the service says the failover is over, polling every
POLL_S, at most WAIT_S. Plain Python (boto3); the glue runs it in a greenlet.
"""

from __future__ import annotations

import time

from .optbase import BadInput

KINDS = {"rds": "db-failover", "elasticache": "cache-failover"}  # the target's service -> the drill it serves
POLL_S = 2.0
WAIT_S = 900.0  # RDS's failover typically takes one to two minutes; ElastiCache's a few
SETTLED_S = 6.0  # a service still saying "available" this long after the call: taken as done


def parse(target: str, confirm: str, kind: str) -> str:
    """--drill-aws-target, checked against the drill and --drill-confirm; '' for none."""
    target, confirm = str(target or "").strip(), str(confirm or "").strip()
    if not target:
        if confirm:
            raise BadInput("--drill-confirm", "confirms nothing: name the resource with --drill-aws-target")
        return ""
    service, _, name = target.partition(":")
    if service not in KINDS or not name.strip():
        raise BadInput("--drill-aws-target", f"{target!r} is not rds:DB_INSTANCE_ID or "
                                             "elasticache:REPLICATION_GROUP[/NODE_GROUP]")
    if kind != KINDS[service]:
        raise BadInput("--drill-aws-target", f"{target!r} is failed over by --drill {KINDS[service]}@T, not {kind}")
    if confirm != target:
        raise BadInput("--drill-confirm", f"failing over a real AWS resource needs its name repeated: add "
                                          f"--drill-confirm {target}")
    return target


def fail_over(target: str, region: str, sleep=time.sleep, clock=time.monotonic) -> dict:
    """Do it and wait until the service says it is over: what moved, and when."""
    import boto3

    service, _, name = target.partition(":")
    client = boto3.client(service, region_name=region or None)
    if service == "rds":
        return _rds(client, name, sleep, clock)
    group, _, node_group = name.partition("/")
    return _elasticache(client, group, node_group, sleep, clock)


def _rds(rds, instance: str, sleep, clock) -> dict:
    def describe():
        return rds.describe_db_instances(DBInstanceIdentifier=instance)["DBInstances"][0]

    before = describe()
    if not before.get("MultiAZ"):
        raise RuntimeError(f"RDS instance {instance} is not Multi-AZ: a reboot with failover needs its standby")
    t0 = clock()
    rds.reboot_db_instance(DBInstanceIdentifier=instance, ForceFailover=True)
    after, took = _wait(describe, lambda d: d.get("DBInstanceStatus"),
                        lambda d: d.get("AvailabilityZone") != before.get("AvailabilityZone"), sleep, clock, t0)
    return {"aws_target": f"rds:{instance}", "old_primary": before.get("AvailabilityZone"),
            "new_primary": after.get("AvailabilityZone"), "promoted_after_s": took, "connections_dropped": 0}


def _elasticache(ec, group: str, node_group: str, sleep, clock) -> dict:
    def describe():
        return ec.describe_replication_groups(ReplicationGroupId=group)["ReplicationGroups"][0]

    def primary(g):
        ngs = g.get("NodeGroups") or []
        ng = next((n for n in ngs if n.get("NodeGroupId") == node_group), ngs[0] if len(ngs) == 1 else None)
        return next((m.get("CacheClusterId") for m in (ng or {}).get("NodeGroupMembers") or []
                     if m.get("CurrentRole") == "primary"), None)

    before = describe()
    groups = [n.get("NodeGroupId") for n in before.get("NodeGroups") or []]
    if not node_group:
        if len(groups) != 1:
            raise RuntimeError(f"replication group {group} has node groups {', '.join(groups)}: name one "
                               f"(elasticache:{group}/NODE_GROUP)")
        node_group = groups[0]
    old = primary(before)
    t0 = clock()
    ec.test_failover(ReplicationGroupId=group, NodeGroupId=node_group)
    after, took = _wait(describe, lambda g: g.get("Status"), lambda g: primary(g) != old, sleep, clock, t0)
    return {"aws_target": f"elasticache:{group}/{node_group}", "old_primary": old, "new_primary": primary(after),
            "promoted_after_s": took, "connections_dropped": 0}


def _wait(describe, status, moved, sleep, clock, t0) -> tuple[dict, float]:
    """Poll until the resource is available again after having been otherwise (or having moved); one that
    says available throughout counts as done after SETTLED_S."""
    seen_busy = False
    while True:
        sleep(POLL_S)
        now = describe()
        busy = status(now) != "available"
        seen_busy = seen_busy or busy
        took = round(clock() - t0, 1)
        if not busy and (seen_busy or moved(now) or took >= SETTLED_S):
            return now, took
        if took >= WAIT_S:
            raise TimeoutError(f"still {status(now)} {WAIT_S:g} s after the failover began")
