"""The house's rules that the code's own imports can show: Locust (and its web server, Flask) is
imported only by the glue package; the catalog imports nothing of ours; the stores and the report
do not import the option parser."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "cacheswarm"


def _imports(path: Path) -> set[str]:
    """The modules a file imports, absolute (relative ones resolved against its package)."""
    package = path.relative_to(SRC.parent).with_suffix("").parts[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = list(package[:len(package) - node.level + 1]) if node.level else []
            out.add(".".join(base + ([node.module] if node.module else [])))
    return out


def test_only_the_glue_imports_locust():
    glue = SRC / "glue"
    importers = {p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py")
                 if any(m.split(".")[0] in ("locust", "flask") for m in _imports(p))}
    assert importers, "no module imports Locust: the check reads nothing"
    assert all(name.startswith("glue/") for name in importers), sorted(i for i in importers if not i.startswith("glue/"))
    assert {p.relative_to(SRC).as_posix() for p in glue.glob("*.py")} >= {"glue/run.py", "glue/users.py",
                                                                           "glue/shape.py", "glue/web.py"}


def test_the_catalog_imports_nothing_of_ours():
    mine = {m for m in _imports(SRC / "catalog.py") if m.startswith("cacheswarm")}
    assert mine == set(), mine


def test_stores_and_the_report_take_plain_values_not_the_option_parser():
    """Options are parsed once at the top (options.py); the stores and the report below it get plain
    values (and optbase's BadInput), so neither imports options.py."""
    below = [p for d in ("stores", "report") for p in (SRC / d).rglob("*.py")]
    assert len(below) > 10
    users = sorted(p.relative_to(SRC).as_posix() for p in below if "cacheswarm.options" in _imports(p))
    assert users == [], users
