"""Every shipped scenario file parses with Locust's own parser into valid cacheswarm settings; the
YCSB ones say what YCSB's workload files say."""

import json
import re
import subprocess

import pytest

from .conftest import BIN, ROOT

SCENARIOS = sorted((ROOT / "scenarios").glob("*.conf"))
# every scenario through Locust's own parser and our settings, in one process (one import of Locust,
# not one per file): a JSON line per file, its phases count and public settings, or its error
CHECK = ("import sys, json, cacheswarm.glue.locustfile; from locust.argument_parser import get_parser; "
         "from cacheswarm.options import settings_from\n"
         "for path in sys.argv[1:]:\n"
         "    try:\n"
         "        s = settings_from(get_parser(default_config_files=[]).parse_args(['--config', path]))\n"
         "        print(json.dumps({'path': path, 'phases': len(s.datasets) * len(s.backends) * len(s.strategies), "
         "'settings': s.public()}))\n"
         "    except Exception as e:\n"
         "        print(json.dumps({'path': path, 'error': f'{type(e).__name__}: {e}'}))")


@pytest.fixture(scope="module")
def parsed():
    """{scenario path: {"phases", "settings"} or {"error"}}."""
    out = subprocess.run([str(BIN / "python"), "-c", CHECK, *map(str, SCENARIOS)], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    docs = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    return {d["path"]: d for d in docs}
# YCSB's core workloads (workloads/workloada..f), as its files define them: proportions, request
# distribution (zipfian with θ 0.99), scan lengths
YCSB = {
    "a": dict(readproportion=0.5, updateproportion=0.5, requestdistribution="zipfian"),
    "b": dict(readproportion=0.95, updateproportion=0.05, requestdistribution="zipfian"),
    "c": dict(readproportion=1.0, requestdistribution="zipfian"),
    "d": dict(readproportion=0.95, insertproportion=0.05, requestdistribution="latest"),
    "e": dict(scanproportion=0.95, insertproportion=0.05, requestdistribution="zipfian", maxscanlength=100,
              scanlengthdistribution="uniform"),
    "f": dict(readproportion=0.5, readmodifywriteproportion=0.5, requestdistribution="zipfian"),
}
PROPORTIONS = ("readproportion", "updateproportion", "scanproportion", "insertproportion", "readmodifywriteproportion")


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_is_valid(path, parsed):
    doc = parsed[str(path)]
    assert "error" not in doc, doc
    assert doc["phases"] >= 1 and doc["settings"]["phase_time"] > 0


@pytest.mark.parametrize("workload", sorted(YCSB))
def test_ycsb_scenarios_are_ycsbs_workloads(workload, parsed):
    """The settings a ycsb-X scenario gives are YCSB's workloadX, and its header comment quotes them."""
    path = ROOT / "scenarios" / f"ycsb-{workload}.conf"
    s = parsed[str(path)]["settings"]
    want = {p: 0.0 for p in PROPORTIONS} | {"maxscanlength": 100, "scanlengthdistribution": "uniform"} | YCSB[workload]
    got = {"readproportion": s["read_ratio"], "scanproportion": s["scan_ratio"], "insertproportion": s["insert_ratio"],
           "readmodifywriteproportion": s["rmw_ratio"],
           "updateproportion": round(1 - s["read_ratio"] - s["scan_ratio"] - s["insert_ratio"] - s["rmw_ratio"], 9),
           "requestdistribution": s["key_distribution"], "maxscanlength": s["max_scan_length"],
           "scanlengthdistribution": s["scan_length_distribution"]}
    assert got == want and s["zipf_theta"] == 0.99
    quoted = dict(re.findall(r"^#\s+(\w+)=(\S+)$", path.read_text(), re.M))
    for name, value in want.items():
        if name in (*PROPORTIONS, "requestdistribution") or name in quoted:
            written = quoted[name]
            assert (float(written) == value) if isinstance(value, float) else (written == str(value)), (name, written)


def test_the_demo_compares_both_databases_on_both_datasets(parsed):
    assert parsed[str(ROOT / "scenarios" / "quick.conf")]["phases"] == 12


RUNNABLE = ["ycsb-a", "ycsb-b", "ycsb-c", "ycsb-d", "ycsb-e", "ycsb-f", "query-cache", "sessions", "rate-limiter",
            "leaderboard"]


@pytest.mark.parametrize("name", RUNNABLE)
def test_scenario_runs_from_its_file(name, seeded, target, tmp_path):
    """Each workload runs from its scenario file as a user would (shortened: 4 users, 1 s phases) and
    every phase it plans completes operations without a failure."""
    from cacheswarm.stores import mysql_restaurants

    from .conftest import MYSQL_URL, REDIS_URL, run_locust

    if name == "query-cache":
        mysql_restaurants.seed(target, seeded, 50, 3)
    out = run_locust(["--config", str(ROOT / "scenarios" / f"{name}.conf"), "-u", "4", "-r", "4", "--phase-time", "1s",
                      "--warmup", "0", "--namespace", seeded, "--mysql-url", MYSQL_URL, "--redis-url", REDIS_URL,
                      "--report-dir", str(tmp_path / "r")], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    (report,) = (tmp_path / "r").iterdir()
    assert report.name.startswith(f"{name}-")
    doc = json.loads((report / "comparison.json").read_text())
    assert doc["phases"] and len(doc["summary"]) == len(doc["phases"])
    for s in doc["summary"]:
        assert s["count"] > 0 and s["errors"] == 0, s
