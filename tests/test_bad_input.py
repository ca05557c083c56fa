"""Bad input stops the run before any user spawns: one line naming the option, exit 2, nothing written."""

import pytest

from .conftest import MYSQL_URL, REDIS_URL, run_locust

CASES = [
    # (extra args, text the error line must contain)
    (["--read-ratio", "1.5"], "--read-ratio"),
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
]


@pytest.mark.parametrize("args,needle", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_is_one_line_and_exit_2(seeded, tmp_path, args, needle):
    reports = tmp_path / "reports"
    base = ["--headless", "-u", "2", "-r", "2", "--namespace", seeded, "--mysql-url", MYSQL_URL,
            "--redis-url", REDIS_URL, "--report-dir", str(reports), "--phase-time", "5s", "--warmup", "1s"]
    out = run_locust(base + args, cwd=tmp_path, timeout=60)
    errors = [line for line in out.stderr.splitlines() if line.startswith("cacheswarm: error:")]
    assert out.returncode == 2, out.stderr[-2000:]
    assert len(errors) == 1, out.stderr
    assert needle in errors[0]
    assert "Traceback" not in out.stderr + out.stdout
    assert "not-the-password" not in out.stderr + out.stdout
    assert "Ramping" not in out.stderr and "spawn" not in out.stderr.lower()
    assert not reports.exists()


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
