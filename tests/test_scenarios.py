"""Every shipped scenario file parses with Locust's own parser into valid cacheswarm settings."""

import subprocess

import pytest

from .conftest import BIN, ROOT

SCENARIOS = sorted((ROOT / "scenarios").glob("*.conf"))
CHECK = ("import sys, cacheswarm.locust_glue; from locust.argument_parser import parse_options; "
         "from cacheswarm.options import settings_from; s = settings_from(parse_options(['--config', sys.argv[1]])); "
         "print(len(s.datasets) * len(s.backends) * len(s.strategies), s.phase_time, s.read_ratio, "
         "s.key_distribution, s.zipf_theta)")
# the YCSB core workloads the scenarios claim (workloads/workloada..c): read proportion, request
# distribution zipfian with YCSB's θ 0.99
YCSB = {"balanced": (0.5, "zipfian", 0.99), "read-heavy": (0.95, "zipfian", 0.99),
        "read-only": (1.0, "zipfian", 0.99)}


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_is_valid(path):
    out = subprocess.run([str(BIN / "python"), "-c", CHECK, str(path)], capture_output=True, text=True, timeout=60,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    phases, seconds, ratio, dist, theta = out.stdout.splitlines()[-1].split()  # (Locust may print a deprecation line)
    assert int(phases) >= 1 and int(seconds) > 0
    if path.stem in YCSB:
        assert (float(ratio), dist, float(theta)) == YCSB[path.stem]


def test_the_demo_compares_both_databases_on_both_datasets():
    out = subprocess.run([str(BIN / "python"), "-c", CHECK, str(ROOT / "scenarios" / "quick.conf")],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.stdout.splitlines()[-1].split()[0] == "12"
