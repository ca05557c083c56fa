"""Bad input stops the run before any user spawns: one line naming the option, exit 2, nothing written."""

import os

import pytest

from .conftest import MYSQL_URL, REDIS_URL, run_locust

CASES = [
    # (extra args, text the error line must contain)
    (["--read-ratio", "1.5"], "--read-ratio"),
    # YCSB D-F's operations: a mix above 1, scans on DynamoDB, inserts on restaurants, bad scan lengths
    (["--read-ratio", "0.9", "--insert-ratio", "0.2"], "--read-ratio"),
    (["--read-ratio", "0.5", "--scan-ratio", "0.5", "--backend", "dynamodb"], "--scan-ratio"),
    (["--insert-ratio", "0.05", "--dataset", "restaurants"], "--insert-ratio"),
    (["--rmw-ratio", "-0.1"], "--rmw-ratio"),
    (["--product-read", "listing"], "--product-read"),
    (["--product-read", "page", "--dataset", "restaurants"], "--product-read"),
    (["--product-read", "page", "--read-ratio", "0.5", "--scan-ratio", "0.5"], "--product-read"),
    (["--read-ratio", "0.5", "--scan-ratio", "0.5", "--max-scan-length", "0"], "--max-scan-length"),
    (["--read-ratio", "0.5", "--scan-ratio", "0.5", "--scan-length-distribution", "pareto"], "--scan-length-distribution"),
    (["--dataset", "queries", "--backend", "dynamodb"], "--backend"),
    # the Redis-native patterns run on backend redis in their own versions
    (["--dataset", "sessions", "--backend", "dynamodb"], "--dataset"),
    (["--strategies", "db-only,lab"], "--strategies"),
    (["--backend", "mysql,redis"], "--backend"),
    (["--dataset", "ratelimit", "--rate-limit", "0"], "--rate-limit"),
    (["--dataset", "queries", "--write-policy", "versioned"], "--write-policy"),
    (["--dataset", "queries", "--query-max-rows", "0"], "--query-max-rows"),
    (["--key-distribution", "pareto"], "--key-distribution"),
    (["--strategies", "db-only,write-behind"], "--strategies"),
    (["--phase-time", "0"], "--phase-time"),
    (["--warmup", "40s", "--phase-time", "30s"], "--warmup"),
    (["--write-policy", "sometimes"], "--write-policy"),
    (["--mysql-url", "mysql://root@127.0.0.1:1/test"], "--mysql-url"),
    (["--mysql-url", "mysql://root:not-the-password@127.0.0.1:3306/test"], "--mysql-url"),
    (["--mysql-url", "postgres://127.0.0.1/test"], "--mysql-url"),
    (["--redis-url", "redis://127.0.0.1:1/0"], "--redis-url"),
    (["--keyspace", "5000"], "--keyspace"),
    (["--namespace", "Bad-Name"], "--namespace"),
    (["--zipf-theta", "1.0"], "--zipf-theta"),
    (["--cache-ttl", "0"], "--cache-ttl"),
    (["--target-rate", "-5"], "--target-rate"),
    (["--run-name", "../escape"], "--run-name"),
    (["--mysql-pool-size", "0"], "--mysql-pool-size"),
    (["--op-timeout", "0"], "--op-timeout"),
    (["--read-ratio", "lots"], "--read-ratio"),
    (["--redis-url", "http://127.0.0.1:6379"], "--redis-url"),
    (["--mysql-url", "mysql://root@127.0.0.1:3306"], "--mysql-url"),
    (["--strategies", "db-only,db-only"], "--strategies"),
    (["--phase-time", "ten minutes"], "--phase-time"),
    (["--backend", "mysql,cassandra"], "--backend"),
    (["--dataset", "invoices"], "--dataset"),
    (["--backend", "dynamodb", "--dynamodb-endpoint", "ftp://127.0.0.1:8000"], "--dynamodb-endpoint"),
    (["--backend", "dynamodb", "--dynamodb-retries", "-1"], "--dynamodb-retries"),
    # not-a-number and infinity are refused for every numeric option (nan ran with KeyError tracebacks)
    (["--read-ratio", "nan"], "--read-ratio"),
    (["--read-ratio", "inf"], "--read-ratio"),
    (["--zipf-theta", "nan"], "--zipf-theta"),
    (["--target-rate", "inf"], "--target-rate"),
    (["--target-rate", "nan"], "--target-rate"),
    (["--op-timeout", "nan"], "--op-timeout"),
    (["--op-timeout", "inf"], "--op-timeout"),
    (["--phase-time", "99999999999h"], "--phase-time"),
    (["--warmup", "99999999999h"], "--warmup"),
    (["--redis-url", "redis://127.0.0.1:6379/abc"], "--redis-url"),
    # drills: a kind, a time inside the measured window, a phase that uses the cache
    (["--drill", "reboot@10s"], "--drill"),
    (["--drill", "cache-flush"], "--drill"),
    (["--drill", "cache-flush@29s"], "--drill"),
    (["--drill", "cache-flush@3s", "--strategies", "db-only"], "no phase uses the cache"),
    (["--drill", "cache-failover@3s"], "redis+sentinel://"),
    (["--drill", "db-failover@3s"], "the primary and its standby"),
    (["--drill", "db-failover@3s", "--backend", "dynamodb"], "add mysql to --backend"),
    (["--drill", "cache-flush@3s+2s"], "only db-failover holds"),
    (["--drill", "db-failover@3s+40s", "--mysql-url", "mysql://root@127.0.0.1:3306,127.0.0.1:3307/test"],
     "after the hold"),
    (["--mysql-url", "mysql://root@127.0.0.1:3306,127.0.0.1:3306/test"], "names a host twice"),
    # a drill on AWS: only the resource named, only when confirmed, with the drill it serves
    (["--drill-aws-target", "rds:cswdb"], "names a resource for no drill"),
    (["--drill-confirm", "rds:cswdb"], "--drill-confirm"),
    (["--drill", "db-failover@3s", "--drill-aws-target", "ec2:i-1", "--drill-confirm", "ec2:i-1"],
     "is not rds:DB_INSTANCE_ID"),
    (["--drill", "cache-failover@3s", "--drill-aws-target", "rds:cswdb", "--drill-confirm", "rds:cswdb"],
     "not cache-failover"),
    (["--drill", "db-failover@3s", "--drill-aws-target", "rds:cswdb"], "--drill-confirm rds:cswdb"),
    (["--drill", "db-failover@3s", "--drill-aws-target", "rds:cswdb", "--drill-confirm", "rds:other"],
     "--drill-confirm rds:cswdb"),
    (["--drill", "db-failover@2s+1s", "--drill-aws-target", "rds:cswdb", "--drill-confirm", "rds:cswdb"],
     "drop the +TIME"),
    (["--mysql-url", "mysql://root@127.0.0.1:3306,127.0.0.1:x/test"], "is not host:port"),
    (["--mysql-reader-url", "mysql://root@127.0.0.1:3306,127.0.0.1:3307/test"], "give the one read replica"),
    (["--orders-write", "update-status"], "applies to the orders dataset"),
    (["--orders-write", "cancel", "--dataset", "orders"], "--orders-write"),
    (["--redis-url", "redis+sentinel://127.0.0.1:26379"], "names no service"),
    (["--redis-url", "redis+sentinel://127.0.0.1:26379/cswprimary", "--redis-maxmemory", "2mb"], "--redis-maxmemory"),
    (["--backend", "dynamodb", "--dynamodb-regions", "us-east-1,eu-west-1", "--redis-url",
      "redis+sentinel://127.0.0.1:26379/cswprimary"], "give REGION=URL"),
    (["--redis-url", "redis+sentinel://127.0.0.1:1/cswprimary"], "sentinels"),
    # a Redis cluster: database 0 only, no separate reader or private Redis, and a Redis that is one
    (["--redis-url", "redis+cluster://127.0.0.1:6379/3"], "only database 0"),
    (["--redis-url", "redis+cluster://127.0.0.1:6379", "--redis-reader-url", "redis://127.0.0.1:6379/0"],
     "--redis-reader-url"),
    (["--redis-url", "redis+cluster://127.0.0.1:6379", "--redis-maxmemory", "2mb"], "--redis-maxmemory"),
    (["--redis-url", "redis+cluster://127.0.0.1:6379"], "is not a cluster"),
    (["--backend", "dynamodb", "--dynamodb-regions", "us-east-1,eu-west-1", "--redis-url",
      "redis+cluster://127.0.0.1:6379"], "give REGION=URL"),
    (["-u", "0"], "-u/--users"),
    # a password holding '/' (not percent-encoded) is refused without echoing it
    (["--mysql-url", "mysql://root:not/the-password@127.0.0.1:3306/test"], "percent-encode"),
    (["--redis-url", "redis://:not/the-password@127.0.0.1:6379/0"], "percent-encode"),
    (["--backend", "dynamodb", "--dynamodb-endpoint", "http://AKID:not-the-password@127.0.0.1:8000"],
     "--dynamodb-endpoint"),
]

# the same checks through Locust's other option sources: LOCUST_* variables and --config files
ENV_CASES = [
    ({"LOCUST_READ_RATIO": "2"}, "--read-ratio"),
    ({"LOCUST_KEY_DISTRIBUTION": "gaussian"}, "--key-distribution"),
    ({"LOCUST_WRITE_POLICY": "write-back"}, "--write-policy"),
]
CONFIG_CASES = [
    ("zipf-theta = -1\n", "--zipf-theta"),
    ("strategies = cache-aside,memcached\n", "--strategies"),
    ("keyspace = -1\n", "--keyspace"),
]


def check_refused(out, needle, reports):
    errors = [line for line in out.stderr.splitlines() if line.startswith("cacheswarm: error:")]
    assert out.returncode == 2, out.stderr[-2000:]
    assert len(errors) == 1, out.stderr
    assert needle in errors[0]
    assert "Traceback" not in out.stderr + out.stdout
    assert "not-the-password" not in out.stderr + out.stdout and "the-password" not in out.stderr + out.stdout
    assert "Ramping" not in out.stderr and "spawn" not in out.stderr.lower()
    assert not reports.exists()


def base_args(namespace, reports):
    return ["--headless", "-u", "2", "-r", "2", "--namespace", namespace, "--mysql-url", MYSQL_URL,
            "--redis-url", REDIS_URL, "--report-dir", str(reports), "--phase-time", "5s", "--warmup", "1s"]


# these also run end to end, through the real `locust` (exit code 2, no traceback, no spawn): an
# option's value, a secret in a URL, the users, a variable, a config file; the rest run in one process
# (tests/bad_input_cases.py), through Locust's parser and the same checks `locust` runs at init
END_TO_END = {"--read-ratio 1.5", "--mysql-url mysql://root:not/the-password@127.0.0.1:3306/test", "-u 0",
              "LOCUST_READ_RATIO", "zipf-theta = -1"}


@pytest.fixture(scope="module")
def in_process(seeded_module, tmp_path_factory):
    """{case id: (result, report dir)} of every case, run in one process."""
    import json
    import subprocess

    from .conftest import BIN, ROOT

    d = tmp_path_factory.mktemp("bad-input")
    cases, where = [], {}
    for i, (case_id, args, env) in enumerate(_all_cases(d)):
        reports = d / f"reports-{i}"
        where[case_id] = reports
        first, last = (args, []) if args[:1] == ["--config"] else ([], args)  # as the end-to-end cases order them
        cases.append({"args": ["-f", str(ROOT / "locustfiles" / "compare.py"), *first,
                               *base_args(seeded_module, reports), *last], "env": env})
    out = subprocess.run([str(BIN / "python"), str(ROOT / "tests" / "bad_input_cases.py")], input=json.dumps(cases),
                         capture_output=True, text=True, timeout=600, cwd=d)
    assert out.returncode == 0, out.stderr[-3000:]
    results = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert len(results) == len(cases), out.stdout[-2000:] + out.stderr[-2000:]
    return {case_id: (r, where[case_id]) for (case_id, _, _), r in zip(_all_cases(d), results)}


def _all_cases(d):
    """(id, args, env) of every case; a config case's file is written into `d`."""
    out = [(" ".join(a), a, {}) for a, _ in CASES]
    out += [(next(iter(e)), [], e) for e, _ in ENV_CASES]
    for n, (line, _) in enumerate(CONFIG_CASES):
        conf = d / f"bad-{n}.conf"
        conf.write_text(line)
        out.append((line.strip(), ["--config", str(conf)], {}))
    return out


NEEDLES = {**{" ".join(a): n for a, n in CASES}, **{next(iter(e)): n for e, n in ENV_CASES},
           **{c.strip(): n for c, n in CONFIG_CASES}}


@pytest.mark.parametrize("case", list(NEEDLES))
def test_bad_input_is_refused_by_one_line_naming_the_option(in_process, case):
    result, reports = in_process[case]
    line = result["error"]
    assert line is not None, f"{case} was accepted"
    assert "\n" not in line and NEEDLES[case] in line, line
    assert "not-the-password" not in line and "the-password" not in line
    assert not reports.exists()


@pytest.mark.parametrize("args,needle", [(a, n) for a, n in CASES if " ".join(a) in END_TO_END],
                         ids=[" ".join(a) for a, _ in CASES if " ".join(a) in END_TO_END])
def test_bad_input_is_one_line_and_exit_2(seeded, tmp_path, args, needle):
    reports = tmp_path / "reports"
    check_refused(run_locust(base_args(seeded, reports) + args, cwd=tmp_path, timeout=60), needle, reports)


@pytest.mark.parametrize("env,needle", [c for c in ENV_CASES if next(iter(c[0])) in END_TO_END],
                         ids=[next(iter(e)) for e, _ in ENV_CASES if next(iter(e)) in END_TO_END])
def test_bad_env_var_is_refused(seeded, tmp_path, env, needle):
    reports = tmp_path / "reports"
    check_refused(run_locust(base_args(seeded, reports), cwd=tmp_path, timeout=60, env=env), needle, reports)


@pytest.mark.parametrize("line,needle", [c for c in CONFIG_CASES if c[0].strip() in END_TO_END],
                         ids=[c.strip() for c, _ in CONFIG_CASES if c.strip() in END_TO_END])
def test_bad_config_file_is_refused(seeded, tmp_path, line, needle):
    reports = tmp_path / "reports"
    conf = tmp_path / "bad.conf"
    conf.write_text(line)
    check_refused(run_locust(["--config", str(conf)] + base_args(seeded, reports), cwd=tmp_path, timeout=60),
                  needle, reports)


def test_unseeded_table_names_the_seed_command(namespace, tmp_path):
    out = run_locust(["--headless", "-u", "1", "--namespace", namespace, "--report-dir", str(tmp_path / "r")],
                     cwd=tmp_path, timeout=60)
    assert out.returncode == 2
    line = [x for x in out.stderr.splitlines() if x.startswith("cacheswarm: error:")][0]
    assert f"{namespace}_products is missing" in line
    assert f"cacheswarm seed products --rows 100000 --namespace {namespace}" in line


def test_bad_input_with_processes_exits_2_without_spawning(seeded, tmp_path):
    out = run_locust(["--headless", "-u", "2", "--processes", "2", "--namespace", seeded, "--read-ratio", "-1",
                      "--report-dir", str(tmp_path / "r")], cwd=tmp_path, timeout=60)
    assert out.returncode == 2
    assert "--read-ratio" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "r").exists()


def test_unseeded_restaurants_name_the_seed_command(seeded, tmp_path):
    out = run_locust([*base_args(seeded, tmp_path / "r"), "--dataset", "restaurants"], cwd=tmp_path, timeout=60)
    check_refused(out, f"{seeded}_restaurants is missing", tmp_path / "r")
    assert "cacheswarm seed restaurants --restaurants 1000" in out.stderr


def test_unreachable_dynamodb_endpoint_is_refused(seeded, tmp_path):
    from .helpers import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"
    out = run_locust([*base_args(seeded, tmp_path / "r"), "--backend", "mysql,dynamodb", "--dynamodb-endpoint",
                      endpoint], cwd=tmp_path, timeout=90)
    check_refused(out, f"cannot reach DynamoDB at {endpoint}", tmp_path / "r")


NO_AWS = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_SESSION_TOKEN": None, "AWS_PROFILE": None,
          "AWS_REGION": None, "AWS_DEFAULT_REGION": None, "AWS_CONFIG_FILE": "/nonexistent",
          "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true",
          "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": None, "AWS_CONTAINER_CREDENTIALS_FULL_URI": None}


def test_aws_mode_needs_a_region(seeded, tmp_path):
    out = run_locust([*base_args(seeded, tmp_path / "r"), "--backend", "dynamodb", "--dynamodb-endpoint", "aws"],
                     cwd=tmp_path, timeout=60, env=NO_AWS)
    check_refused(out, "--aws-region", tmp_path / "r")


def test_aws_mode_without_credentials_is_refused(seeded, tmp_path):
    out = run_locust([*base_args(seeded, tmp_path / "r"), "--backend", "dynamodb", "--dynamodb-endpoint", "aws",
                      "--aws-region", "eu-west-1"], cwd=tmp_path, timeout=60, env=NO_AWS)
    check_refused(out, "found no AWS credentials", tmp_path / "r")


def test_aws_mode_with_an_unknown_profile_is_refused(seeded, tmp_path):
    out = run_locust([*base_args(seeded, tmp_path / "r"), "--backend", "dynamodb", "--dynamodb-endpoint", "aws",
                      "--aws-region", "eu-west-1"], cwd=tmp_path, timeout=60, env={**NO_AWS, "AWS_PROFILE": "nope"})
    check_refused(out, "AWS_PROFILE", tmp_path / "r")


def test_too_large_keyspace_is_refused_before_seeding_the_emulator(seeded, tmp_path):
    out = run_locust([*base_args(seeded, tmp_path / "r"), "--backend", "mysql,dynamodb", "--keyspace", "5000"],
                     cwd=tmp_path, timeout=90)
    check_refused(out, "--keyspace", tmp_path / "r")
    assert "seeding the embedded DynamoDB emulator" not in out.stderr


@pytest.mark.parametrize("where", ["file", "under-a-file"])
def test_report_dir_that_cannot_be_a_folder_is_refused_before_the_run(seeded, tmp_path, where):
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a folder\n")
    report_dir = blocker if where == "file" else blocker / "reports"
    args = base_args(seeded, tmp_path / "unused") + ["--report-dir", str(report_dir)]
    out = run_locust(args, cwd=tmp_path, timeout=60)
    check_refused(out, "--report-dir", tmp_path / "unused")
    assert blocker.read_text() == "a file, not a folder\n"


@pytest.mark.parametrize("where", ["/proc/cacheswarm-reports", "/sys/cacheswarm-reports"])
def test_report_dir_on_a_file_system_that_takes_no_files_is_refused_up_front(where):
    """As root, /proc and /sys pass a permission check; creating a file there fails, so the check
    creates (and removes) one before anything runs."""
    from cacheswarm.options import BadInput, check_report_dir

    with pytest.raises(BadInput) as refused:
        check_report_dir(where)
    assert str(refused.value).startswith("--report-dir: ") and "writable file system" in str(refused.value)
    assert not os.path.exists(where)
