"""The house's rules that the code's own imports can show: Locust (and its web server, Flask) is
imported only by the glue package; the catalog imports nothing of ours."""

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
