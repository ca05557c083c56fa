"""The `cacheswarm` CLI: bad input is one line and exit 2; an interrupted seed leaves no temp files."""

import glob
import json
import os
import signal
import subprocess
import tempfile
import time

import pytest

from .conftest import BIN, MYSQL_URL, cli


def one_error_line(out, needle):
    lines = [x for x in out.stderr.splitlines() if x.startswith("cacheswarm: error:")]
    assert out.returncode == 2, out.stderr[-2000:]
    assert len(lines) == 1 and needle in lines[0], out.stderr
    assert "Traceback" not in out.stderr + out.stdout


RAW_CASES = {
    "not json": "nonsense{",
    "a list": "[]",
    "no histograms": json.dumps({"run": {}, "phases": []}),
    "damaged histogram": json.dumps({"run": {}, "phases": [], "histograms": {"a|b|c|d|e|f|g": "AAAAbm90IGhkcg=="}}),
    "foreign series": json.dumps({"run": {}, "phases": [], "histograms": {"x": "AAAA"}}),
    "phase without keys": json.dumps({"run": {}, "phases": [{"index": 0}], "histograms": {}}),
    "wrong field type": json.dumps({"run": {"warmup": "abc"}, "phases": [], "histograms": {}}),
}


@pytest.mark.parametrize("name", RAW_CASES)
def test_report_on_a_corrupt_histograms_file_is_one_line(tmp_path, name):
    (tmp_path / "histograms.json").write_text(RAW_CASES[name])
    out = cli("report", str(tmp_path))
    one_error_line(out, "histograms.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["histograms.json"]  # nothing written


@pytest.mark.parametrize("value", ["10000", "-1"])
def test_seed_parallel_has_bounds(namespace, value):
    out = cli("seed", "products", "--rows", "10", "--namespace", namespace, "--mysql-url", MYSQL_URL,
              "--parallel", value, timeout=60)
    one_error_line(out, "--parallel")


def test_seed_redis_url_with_a_non_numeric_db_is_refused(namespace):
    out = cli("clean", "--yes", "--namespace", namespace, "--redis-url", "redis://127.0.0.1:6379/abc", timeout=60)
    one_error_line(out, "--redis-url")


def _seed_temp_dirs():
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "cacheswarm-seed-*")))


def test_seed_killed_by_sigterm_leaves_no_temp_files(namespace):
    before = _seed_temp_dirs()
    proc = subprocess.Popen([str(BIN / "cacheswarm"), "seed", "products", "--rows", "3000000", "--namespace",
                             namespace, "--mysql-url", MYSQL_URL], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (_seed_temp_dirs() - before):  # loading has begun
        time.sleep(0.02)
    assert _seed_temp_dirs() - before, "the seed never started loading"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err[-2000:]
    assert "interrupted" in err and "Traceback" not in err
    assert not (_seed_temp_dirs() - before)


def test_an_option_no_subcommand_knows_points_to_that_subcommands_help():
    """argparse's top parser refuses what the subcommand does not know: the line names the subcommand's help."""
    one_error_line(cli("clean", "--namespace", "cswnothing", "--bogus"), "(see `cacheswarm clean --help`)")
    one_error_line(cli("seed", "products", "--rows", "x"), "(see `cacheswarm seed --help`)")
