"""Every shipped scenario file parses with Locust's own parser into valid cacheswarm settings."""

import subprocess

import pytest

from .conftest import BIN, ROOT

SCENARIOS = sorted((ROOT / "scenarios").glob("*.conf"))
CHECK = ("import sys, cacheswarm.locust_glue; from locust.argument_parser import parse_options; "
         "from cacheswarm.options import settings_from; s = settings_from(parse_options(['--config', sys.argv[1]])); "
         "print(len(s.datasets) * len(s.backends) * len(s.strategies), s.phase_time)")


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_is_valid(path):
    out = subprocess.run([str(BIN / "python"), "-c", CHECK, str(path)], capture_output=True, text=True, timeout=60,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    phases, seconds = map(int, out.stdout.splitlines()[-1].split())  # (Locust may print a deprecation line)
    assert phases >= 1 and seconds > 0


def test_the_demo_compares_both_databases_on_both_datasets():
    out = subprocess.run([str(BIN / "python"), "-c", CHECK, str(ROOT / "scenarios" / "quick.conf")],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.stdout.splitlines()[-1].split()[0] == "12"
