"""The fleet on separate hosts, made on this machine with network namespaces (`ip netns` + veth on a
bridge): a master host, two worker hosts and a target host running MariaDB, Redis (AUTH) and a moto
server (Secrets Manager and S3) on its own address. Each load-generator host runs
deploy/aws/bootstrap.sh from its own copy of the checkout (installed offline from a wheelhouse, as
the namespaces have no route out), reads the two secrets itself, and the workers join the master
across the namespaces; the master seeds, runs headless with --expect-workers 2 and uploads the report
into the bucket. Then a 1 ms delay between the worker hosts and the target host (`tc netem` where
the kernel has it, else tests/netdelay.py on an NFQUEUE rule) must raise the reported latencies by
that delay per round trip.

Skipped, saying why, where namespaces cannot be made (not root, no iproute2, a sandbox that forbids
them); the delay part is skipped where neither netem nor NFQUEUE (iptables-legacy, NetfilterQueue)
is available. The templates' lint and moto parts are in test_deploy.py and run everywhere."""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess

import pytest

from .conftest import BIN, ROOT
from .helpers import PrivateMariaDB

DEPLOY = ROOT / "deploy" / "aws"
NET = "10.231.7"
HOSTS = {"master": 1, "w1": 2, "w2": 3, "target": 4}
TARGET = f"{NET}.4"
MOTO = f"http://{TARGET}:5000"
NAMESPACE = "cswfleet"
BUCKET = "csw-fleet-reports"
AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": MOTO}
DELAY_MS = 1.0
LOCUST_ARGS = ["--headless", "-u", "4", "-r", "4", "--dataset", "products", "--strategies", "db-only,cache-aside",
               "--phase-time", "6s", "--warmup", "1s", "--target-rate", "200", "--read-ratio", "0.8", "--only-summary"]


def sh(*cmd, check=True, timeout=60, **kw):
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check, timeout=timeout, **kw)


class Hosts:
    """Hosts on one machine: a network namespace each, every one on a bridge in a namespace of its own."""

    def __init__(self):
        self.tag = f"csw{os.getpid()}"
        self.made: list[str] = []

    def ns(self, host: str) -> str:
        return f"{self.tag}-{host}"

    def exec(self, host: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns(host)]

    def add(self, name: str) -> None:
        sh("ip", "netns", "add", name)
        self.made.append(name)

    def build(self) -> None:
        switch = self.ns("switch")
        self.add(switch)
        sh("ip", "-n", switch, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", switch, "link", "set", "br0", "up")
        for host, last in HOSTS.items():
            self.add(self.ns(host))
            sh("ip", "link", "add", "eth0", "netns", self.ns(host), "type", "veth", "peer", "name", f"v{host}",
               "netns", switch)
            sh("ip", "-n", self.ns(host), "addr", "add", f"{NET}.{last}/24", "dev", "eth0")
            for dev in ("eth0", "lo"):
                sh("ip", "-n", self.ns(host), "link", "set", dev, "up")
            sh("ip", "-n", switch, "link", "set", f"v{host}", "master", "br0")
            sh("ip", "-n", switch, "link", "set", f"v{host}", "up")

    def close(self) -> None:
        for name in reversed(self.made):
            for pid in sh("ip", "netns", "pids", name, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            sh("ip", "netns", "del", name, check=False)


def _namespaces_or_skip() -> Hosts:
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("network namespaces need root and iproute2 (`ip`); the lint and moto parts are in test_deploy.py")
    hosts = Hosts()
    try:
        hosts.build()
    except subprocess.CalledProcessError as e:
        hosts.close()
        pytest.skip(f"network namespaces are not permitted here: {' '.join(e.cmd)}: {e.stderr.strip()}")
    return hosts


def _on_target(hosts, code: str, timeout=60) -> str:
    """Python with boto3 on the target host (the moto server is reachable only from the namespaces)."""
    out = sh(*hosts.exec("target"), str(BIN / "python"), "-c", "import boto3, json, re, time\n" + code,
             env={**os.environ, **AWS}, timeout=timeout, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def _copy_checkout(dest):
    """Each host has its own checkout, as each EC2 host clones its own (and builds in it)."""
    skip = shutil.ignore_patterns(".git", ".venv", ".cache", "node_modules", "reports", "build", "*.egg-info",
                                  "__pycache__", ".pytest_cache")
    shutil.copytree(ROOT, dest, ignore=skip)
    return dest


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    hosts = _namespaces_or_skip()
    tmp = tmp_path_factory.mktemp("fleet")
    procs = []
    try:
        for host in ("master", "w1", "w2"):
            _copy_checkout(tmp / f"src-{host}")
        # the wheelhouse the hosts install from (the venv's own versions; the namespaces have no route out)
        wheels = tmp / "wheels"
        freeze = sh(str(BIN / "pip"), "freeze", "--exclude-editable").stdout
        (tmp / "constraints.txt").write_text(freeze)
        built = sh(str(BIN / "pip"), "wheel", "--quiet", "-w", str(wheels), "-c", str(tmp / "constraints.txt"),
                   str(tmp / "src-master"), "setuptools>=68", timeout=600, check=False)
        assert built.returncode == 0, built.stderr[-3000:]
        db_password, redis_token = secrets.token_hex(12), secrets.token_hex(12)
        # the target host: MariaDB and Redis on its own address (their usual ports: the host is ours)
        (tmp / "target").mkdir()
        db = PrivateMariaDB(tmp / "target", "--innodb-flush-log-at-trx-commit=2", wrap=hosts.exec("target"), host=TARGET, port=3306)
        procs.append(db)
        db.sql("CREATE DATABASE IF NOT EXISTS cacheswarm")
        db.sql(f"CREATE USER 'cacheswarm'@'{NET}.%' IDENTIFIED BY '{db_password}'")
        db.sql(f"GRANT ALL ON cacheswarm.* TO 'cacheswarm'@'{NET}.%'")
        redis = subprocess.Popen([*hosts.exec("target"), shutil.which("redis-server"), "--bind", TARGET, "--port",
                                  "6379", "--requirepass", redis_token, "--save", "", "--appendonly", "no",
                                  "--dir", str(tmp / "target")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        moto = subprocess.Popen([*hosts.exec("target"), str(BIN / "python"), "-m", "moto.server", "-H", TARGET,
                                 "-p", "5000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs += [redis, moto]
        arns = json.loads(_on_target(hosts, f"""
for _ in range(200):
    try:
        sm = boto3.client("secretsmanager"); sm.list_secrets(); break
    except Exception:
        time.sleep(0.1)
db = sm.create_secret(Name="csw/db", SecretString=json.dumps({{"username": "cacheswarm", "password": "{db_password}"}}))
rd = sm.create_secret(Name="csw/redis", SecretString=json.dumps({{"token": "{redis_token}"}}))
boto3.client("s3").create_bucket(Bucket="{BUCKET}")
print(json.dumps([db["ARN"], rd["ARN"]]))"""))
        env = {**os.environ, **AWS, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels), "PYTHONUNBUFFERED": "1"}
        env.pop("VIRTUAL_ENV", None)

        def bootstrap(host, role, *flags, locust_args=()):
            cmd = [*hosts.exec(host), "bash", str(DEPLOY / "bootstrap.sh"), "--role", role,
                   "--source", str(tmp / f"src-{host}"), "--prefix", str(tmp / f"opt-{host}"), "--foreground",
                   "--namespace", NAMESPACE, "--mysql-url", f"mysql://cacheswarm@{TARGET}:3306/cacheswarm",
                   "--redis-url", f"redis://{TARGET}:6379/0", "--db-secret", arns[0], "--redis-secret", arns[1],
                   "--region", "us-east-1", *flags, "--", *locust_args]
            return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        yield {"hosts": hosts, "tmp": tmp, "bootstrap": bootstrap, "env": env,
               "secrets": (db_password, redis_token)}
    finally:
        for proc in procs:
            try:
                (proc.stop() if isinstance(proc, PrivateMariaDB) else proc.terminate())
            except Exception:
                pass
        hosts.close()


def _run(fleet, name: str) -> tuple[dict, str]:
    """Master and both workers through the bootstrap; returns the uploaded comparison.json and the
    master's output."""
    boot = fleet["bootstrap"]
    master = boot("master", "master", "--expect-workers", "2", "--bucket", BUCKET,
                  locust_args=[*LOCUST_ARGS, "--run-name", name])
    workers = [boot(w, "worker", "--master-host", f"{NET}.1") for w in ("w1", "w2")]
    try:
        out, _ = master.communicate(timeout=420)
        worker_out = [w.communicate(timeout=60)[0] for w in workers]
    finally:
        for p in (master, *workers):
            if p.poll() is None:
                p.kill()
    assert master.returncode == 0, out[-4000:] + "\n--- worker:\n" + worker_out[0][-2000:]
    assert "uploaded" in out, out[-2000:]
    listing = json.loads(_on_target(fleet["hosts"], f"""
s3 = boto3.client("s3")
keys = [o["Key"] for o in s3.list_objects_v2(Bucket="{BUCKET}")["Contents"]]
doc = [k for k in keys if re.search(r"/{name}-\\d{{8}}", k) and k.endswith("/comparison.json")]
print(json.dumps({{"keys": keys, "doc": json.loads(s3.get_object(Bucket="{BUCKET}", Key=doc[0])["Body"].read())}}))"""))
    assert all(k.startswith(f"{NAMESPACE}/") for k in listing["keys"])
    return listing["doc"], out + "".join(worker_out)


def _p50(doc, strategy, op, outcome):
    (row,) = [r for r in doc["rows"] if (r["strategy"], r["op"], r["outcome"]) == (strategy, op, outcome)]
    assert row["count"] > 0 and row["errors"] == 0, row
    return row["p50_ms"]


@pytest.fixture(scope="module")
def first_run(fleet):
    hosts, tmp, env = fleet["hosts"], fleet["tmp"], fleet["env"]
    # install on the master and seed from it, with the settings the bootstrap wrote (the README's recipe);
    # the workers install meanwhile, each on its own host (as EC2 hosts boot together), and start later
    setups = [fleet["bootstrap"]("master", "master", "--no-start"),
              *(fleet["bootstrap"](w, "worker", "--master-host", f"{NET}.1", "--no-start") for w in ("w1", "w2"))]
    for setup in setups:
        out, _ = setup.communicate(timeout=300)
        assert setup.returncode == 0, out[-3000:]
    opt = tmp / "opt-master"
    seed = sh(*hosts.exec("master"), "bash", "-c",
              f"set -a; . {opt}/run.env; . {opt}/secrets.env; set +a; {opt}/venv/bin/cacheswarm seed products "
              "--rows 2000", env=env, timeout=300, check=False)
    assert seed.returncode == 0, seed.stdout[-2000:] + seed.stderr[-2000:]
    doc, output = _run(fleet, "netns")
    return doc, output


@pytest.mark.timeout(900)
def test_workers_on_other_hosts_join_the_master_and_the_report_lands_in_the_bucket(fleet, first_run):
    doc, output = first_run
    assert doc["run"]["workers"] == 2 and doc["run"]["partial"] is False
    assert [p["strategy"] for p in doc["phases"]] == ["db-only", "cache-aside"]
    for strategy in ("db-only", "cache-aside"):
        _p50(doc, strategy, "read", "all")
        _p50(doc, strategy, "write", "all")
    (hit,) = [r for r in doc["rows"] if (r["strategy"], r["op"], r["outcome"]) == ("cache-aside", "read", "all")]
    assert 0 < hit["hit_ratio"] < 1
    # each host read the secrets itself: into a root-only file, never into the settings, the output
    # or the report (Locust ships the master's options to workers in clear)
    for host in ("master", "w1", "w2"):
        opt = fleet["tmp"] / f"opt-{host}"
        assert (opt / "secrets.env").stat().st_mode & 0o077 == 0
        assert "CACHESWARM_MYSQL_PASSWORD=" in (opt / "secrets.env").read_text()
        for secret in fleet["secrets"]:
            assert secret not in (opt / "run.env").read_text()
    for secret in fleet["secrets"]:
        assert secret not in output and secret not in json.dumps(doc)


def _delay_between_workers_and_target(fleet):
    """Delays every packet from the worker hosts to the target by DELAY_MS; returns how, and a
    callable that takes the delay away again."""
    hosts = fleet["hosts"]
    netem = [sh(*hosts.exec(w), "tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay", f"{DELAY_MS}ms",
                check=False) for w in ("w1", "w2")]
    if all(r.returncode == 0 for r in netem):
        return "tc netem", lambda: [sh(*hosts.exec(w), "tc", "qdisc", "del", "dev", "eth0", "root") for w in ("w1", "w2")]
    if not shutil.which("iptables-legacy"):
        pytest.skip(f"no way to delay packets here: tc netem failed ({netem[0].stderr.strip()}) and "
                    "iptables-legacy is not installed (Debian iptables)")
    if importlib.util.find_spec("netfilterqueue") is None:
        pytest.skip("no way to delay packets here: tc netem failed and NetfilterQueue is not installed "
                    "(`make install` adds it where libnetfilter-queue-dev is installed)")
    rule = ["OUTPUT", "-d", TARGET, "-j", "NFQUEUE", "--queue-num", "1", "--queue-bypass"]
    delayers = []
    for w in ("w1", "w2"):
        added = sh(*hosts.exec(w), "iptables-legacy", "-A", *rule, check=False)
        if added.returncode:
            pytest.skip(f"no way to delay packets here: tc netem and NFQUEUE both failed: {added.stderr.strip()}")
        delayer = subprocess.Popen([*hosts.exec(w), str(BIN / "python"), str(ROOT / "tests" / "netdelay.py"), "1",
                                    str(DELAY_MS)], stdout=subprocess.PIPE, text=True)
        delayers.append(delayer)
        assert delayer.stdout.readline().strip() == "ready"

    def undo():
        for w, delayer in zip(("w1", "w2"), delayers):
            sh(*hosts.exec(w), "iptables-legacy", "-D", *rule)
            delayer.kill()
            delayer.wait()
    return "NFQUEUE", undo


# one round trip per read (a MySQL query, or a Redis GET that hits); a cache-aside write is two
# (UPDATE, then DEL)
TRIPS = {("db-only", "read", "all"): 1, ("cache-aside", "read", "hit"): 1,
         ("db-only", "write", "all"): 1, ("cache-aside", "write", "all"): 2}


def _rises(befores, afters) -> dict:
    """Each row's p50 rise, from the lowest p50 of the runs on each side: a shared machine's stalls
    only ever add latency, so the lowest of the runs is the closest to the network's own."""
    return {row: min(_p50(d, *row) for d in afters) - min(_p50(d, *row) for d in befores) for row in TRIPS}


def _within(rise, trips) -> bool:
    # the delayer holds each packet at least DELAY_MS; the baseline itself moves by ~0.2 ms on 2 busy cores
    return trips * DELAY_MS * 0.75 <= rise <= trips * DELAY_MS * 1.5 + 0.4


@pytest.mark.timeout(900)
def test_a_delay_between_workers_and_target_raises_latencies_by_that_delay(fleet, first_run):
    befores = [first_run[0]]
    how, undo = _delay_between_workers_and_target(fleet)
    afters = [_run(fleet, "netns-delayed")[0]]
    rises = _rises(befores, afters)
    if not all(_within(rises[row], trips) for row, trips in TRIPS.items()):
        # a window is one sample: a stall of a busy 2-core machine during one phase raised a p50 by
        # 9 ms once (CI, where the undelayed p50 was 2-4 ms against 0.4 ms here); one more run each way
        print(f"{how}: out of bounds on the first runs ({rises}); one more run with the delay and one without")
        afters.append(_run(fleet, "netns-delayed-2")[0])
        undo()
        befores.append(_run(fleet, "netns-2")[0])
        rises = _rises(befores, afters)
    for row in TRIPS:
        lowest = [min(_p50(d, *row) for d in side) for side in (befores, afters)]
        print(f"{how}: {' '.join(row)} p50 {lowest[0]:.3f} -> {lowest[1]:.3f} ms (+{rises[row]:.3f}; "
              f"{len(afters)} run(s) each way)")
    for row, trips in TRIPS.items():
        assert _within(rises[row], trips), (how, row, rises[row], len(afters))
