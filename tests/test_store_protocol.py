"""Every registered binding's store class against the Store protocol and the protocols of the
capabilities the catalog declares for it: by the type checker (mypy, on a module written from the
catalog, so a new binding is checked without editing this test) and by the signatures themselves."""

from __future__ import annotations

import inspect
import subprocess
import sys
import typing

from cacheswarm import catalog
from cacheswarm.stores import Inserts, Scans, Store, Versions

from .conftest import ROOT

PROTOCOLS = {catalog.INSERTS: Inserts, catalog.SCANS: Scans, catalog.VERSIONS: Versions}
DATABASE_BINDINGS = [b for b in catalog.BINDINGS.values() if not b.versions]  # (a pattern brings its own ops)


def _members(protocol) -> list[str]:
    return [n for n in vars(protocol) if not n.startswith("_")] + list(typing.get_type_hints(protocol))


def test_every_database_binding_is_a_store_and_has_what_its_capabilities_name():
    assert len(DATABASE_BINDINGS) >= 7
    for b in DATABASE_BINDINGS:
        cls = b.store_class()
        wanted = [Store] + [p for c, p in PROTOCOLS.items() if c in b.capabilities]
        for protocol in wanted:
            for name in _members(protocol):
                assert hasattr(cls, name), (b.dataset, b.backend, protocol.__name__, name)
                member = vars(protocol).get(name)
                if callable(member):  # the protocol's call shape binds to the store's signature
                    params = list(inspect.signature(member).parameters)[1:]
                    try:
                        inspect.signature(getattr(cls, name)).bind(*([None] * (len(params) + (
                            0 if isinstance(inspect.getattr_static(cls, name), staticmethod) else 1))))
                    except TypeError as e:
                        raise AssertionError(f"{b.dataset}/{b.backend}: {name}{inspect.signature(member)} vs "
                                             f"{inspect.signature(getattr(cls, name))}: {e}") from None
        for c, protocol in PROTOCOLS.items():  # and the reverse: no capability left undeclared
            if c not in b.capabilities:
                assert not all(callable(getattr(cls, n, None)) for n in _members(protocol)), (b.dataset, b.backend, c)


def test_the_type_checker_holds_every_binding_to_its_protocols(tmp_path):
    lines = ["from cacheswarm.stores import Inserts, Scans, Store, Versions"]
    for i, b in enumerate(DATABASE_BINDINGS):
        module, _, name = b.store.partition(":")
        lines.append(f"from cacheswarm{module} import {name} as C{i}")
    for i, b in enumerate(DATABASE_BINDINGS):
        protocols = ["Store"] + [p.__name__ for c, p in PROTOCOLS.items() if c in b.capabilities]
        lines.append(f"def check{i}(s: C{i}) -> None:")
        lines += [f"    p{k}: {p} = s" for k, p in enumerate(protocols)]
    checked = tmp_path / "stores_typecheck.py"
    checked.write_text("\n".join(lines) + "\n")
    out = subprocess.run([sys.executable, "-m", "mypy", "--follow-imports=silent", "--ignore-missing-imports",
                          "--no-error-summary", "--cache-dir", str(tmp_path / "cache"), str(checked)],
                         capture_output=True, text=True, cwd=ROOT, timeout=600,
                         env={"MYPYPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    # and the check can fail: a class that lacks a protocol's method is refused
    checked.write_text(lines[0] + "\nclass Bare:\n    pass\ndef f(s: Bare) -> None:\n    p: Store = s\n")
    out = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", "--cache-dir", str(tmp_path / "cache"),
                          str(checked)], capture_output=True, text=True, cwd=ROOT, timeout=600,
                         env={"MYPYPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 1 and "Incompatible types in assignment" in out.stdout, out.stdout
