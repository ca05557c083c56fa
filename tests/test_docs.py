"""The docs stay true to the code: the options page is the parser's own output, the README is short
and starts with the two commands, and every relative link in the README and docs/ finds its file."""

import re
import subprocess

from .conftest import BIN, ROOT

LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_options_page_is_what_the_parser_prints():
    out = subprocess.run([str(BIN / "cacheswarm"), "options", "--markdown"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    page = (ROOT / "docs" / "options.md").read_text()
    assert page == out, ("docs/options.md differs from the parser's options: regenerate it with "
                         "`.venv/bin/cacheswarm options --markdown > docs/options.md`")
    for flag in ("--slo", "--find-capacity", "--postgres-url", "--mysql-reader-url", "--write-policy"):
        assert f"| `{flag}` |" in page  # options every module declares, the backends' own included


def test_the_readme_is_short_and_starts_with_the_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; the guide goes to docs/"
    first_block = lines[lines.index("```sh") + 1:lines.index("```")]
    assert [line.split()[:2] for line in first_block] == [["make", "demo"], ["make", "test"]]
    assert lines.index("```sh") < 5


def test_every_relative_link_in_the_docs_finds_its_file():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    missing = []
    for page in pages:
        for target in LINK.findall(page.read_text()):
            if "://" in target:
                continue
            if not (page.parent / target).exists():
                missing.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not missing, missing
    readme = (ROOT / "README.md").read_text()
    for page in sorted((ROOT / "docs").glob("*.md")):  # every page is reachable from the README
        assert f"docs/{page.name}" in readme, page.name


def test_the_exit_code_table_names_the_codes_the_code_uses():
    from cacheswarm import cli

    readme = (ROOT / "README.md").read_text()
    table = dict(re.findall(r"^\| (\d) \| (.+) \|$", readme, re.M))
    assert sorted(table) == ["0", "1", "2", "3", "4"]
    assert table["0"].startswith("the run completed") and "bad input" in table["2"] and "failed" in table["1"]
    assert "incomplete" in table[str(cli.EXIT_INCOMPLETE)]
    assert "regression" in table[str(cli.EXIT_REGRESSION)] and "objective failed" in table[str(cli.EXIT_REGRESSION)]
