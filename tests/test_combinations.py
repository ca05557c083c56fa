"""The whole product of dataset x backend x strategy (+ write policy, + stampede protection, + the
operation mix, + open or closed loop): every combination is refused before start with one line
naming an option, or runs without a programming error against the real servers."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from cacheswarm import catalog
from cacheswarm.catalog import DB_STRATEGIES, PROTECTIONS, WRITE_POLICIES
from cacheswarm.options import BadInput, settings_from
from cacheswarm.phases import Phase, PhaseClock
from cacheswarm.recorder import Recorder
from cacheswarm.runtime import Runtime
from cacheswarm.stores import dynamodb_orders, dynamodb_products, dynamodb_restaurants, mysql_products, mysql_restaurants

from .conftest import drop_namespace
from .test_end_to_end import locust_like_options

DATABASES = catalog.databases()
DB_DATASETS = tuple(d for d in catalog.datasets() if catalog.pattern(d) is None)
MIXES = {"reads and writes": {"read_ratio": 0.5},
         "inserts": {"read_ratio": 0.5, "insert_ratio": 0.2, "key_distribution": "latest"},
         "scans": {"read_ratio": 0.4, "scan_ratio": 0.3, "max_scan_length": 5},
         "read-modify-writes": {"read_ratio": 0.4, "rmw_ratio": 0.3}}
# a programming error is an exception no server sent: the store or strategy lacks what the phase calls
PROGRAMMING_ERRORS = (AttributeError, TypeError, KeyError, NameError, IndexError, ValueError, AssertionError)


@pytest.fixture(scope="module")
def product_namespace(target, dynamodb_client):
    ns = "cswcombo%05d" % (int(time.time() * 1000) % 100000)
    mysql_products.seed(target, ns, 300)
    mysql_restaurants.seed(target, ns, 20, 3)
    dynamodb_products.seed(dynamodb_client, ns, 300)
    dynamodb_restaurants.seed(dynamodb_client, ns, 20, 3)
    dynamodb_orders.seed(dynamodb_client, ns, 20, 3)
    described = {b.name: b.hooks().target(SimpleNamespace(), "") for b in catalog.described()}
    for binding in catalog.BINDINGS.values():  # a backend a module describes: its binding's own seed
        if binding.seeder() is not None:
            rows = 300 if binding.dataset == "products" else 20
            binding.seeder()(described[binding.backend], ns, rows, reviews=3)
    yield ns
    drop_namespace(ns)
    for b in catalog.described():
        hooks = b.hooks()
        hooks.drop_tables(described[b.name], hooks.owned_tables(described[b.name], ns, 5.0), 5.0)


def settings_for(namespace, endpoint, dataset, backend, policy, protection, mix, strategies=DB_STRATEGIES):
    return settings_from(locust_like_options(
        namespace, dataset=dataset, backend=backend, strategies=",".join(strategies), write_policy=policy,
        stampede_protection=protection, dynamodb_endpoint=endpoint, warmup="0", staleness_sample=1.0,
        double_delete_delay=0.01, queries=50, **mix))


def test_every_combination_is_refused_by_one_line_or_accepted():
    """Validation alone, the whole product, in-process: a refusal names an option (--x) and a fix."""
    accepted = refused = 0
    for dataset, backend, policy, protection, mix in itertools.product(
            DB_DATASETS, DATABASES, WRITE_POLICIES, PROTECTIONS, MIXES.values()):
        for strategy in DB_STRATEGIES:
            try:
                settings_for("cswcombo", "http://127.0.0.1:1", dataset, backend, policy, protection, mix, (strategy,))
                accepted += 1
            except BadInput as e:
                line = str(e)
                assert line.startswith("--") and "\n" not in line and len(line) < 300, line
                refused += 1
    assert accepted and refused
    # the audit's own case: a query's result has no version, whichever way versioned is asked for
    for strategies, policy in ((("cache-aside+versioned",), "invalidate"), (("cache-aside",), "versioned"),
                               (("cache-aside+versioned+lock",), "invalidate")):
        with pytest.raises(BadInput, match="version"):
            settings_for("cswcombo", "http://127.0.0.1:1", "queries", "mysql", policy, "none", {}, strategies)


def test_every_registered_combination_is_a_phase_exactly_when_the_catalog_says():
    """Every dataset x backend x strategy the catalog knows, validated alone: accepted when a binding
    runs it and its store has what the strategy calls, otherwise refused in one line naming
    --backend, --dataset or --strategies (a global table's remedies are given its regions)."""
    checked = 0
    for dataset, backend, strategy in itertools.product(catalog.datasets(), catalog.backends(),
                                                        catalog.ALL_STRATEGIES):
        checked += 1
        regional = strategy in catalog.REGION_VARIANTS and backend == "dynamodb"
        try:
            settings = settings_for("cswcombo", "embedded" if regional else "http://127.0.0.1:1", dataset, backend,
                                    "invalidate", "none",
                                    {"dynamodb_regions": "us-east-1,eu-west-1"} if regional else {}, (strategy,))
        except BadInput as e:
            line = str(e)
            assert not (catalog.applies(dataset, backend, strategy) and not catalog.missing(
                dataset, backend, catalog.needs(strategy, "invalidate"))), (dataset, backend, strategy, line)
            assert line.split(":")[0] in ("--backend", "--dataset", "--strategies") and "\n" not in line, line
            continue
        phases = catalog.combos(settings.datasets, settings.backends, settings.strategies)
        if catalog.applies(dataset, backend, strategy):
            assert phases == [(dataset, backend, strategy)]
            assert not catalog.missing(dataset, backend, catalog.needs(strategy, "invalidate"))
        else:  # a pattern given the defaults (--backend mysql, --strategies ...) runs on its own backend
            assert catalog.pattern(dataset) and phases and {d for d, _, _ in phases} == {dataset}, (
                dataset, backend, strategy, phases)
            assert all(catalog.applies(*p) for p in phases)
    assert checked == len(catalog.datasets()) * len(catalog.backends()) * len(catalog.ALL_STRATEGIES)


def test_a_dataset_on_a_database_it_has_no_binding_for_is_refused_naming_the_ones_it_has():
    with pytest.raises(BadInput, match=r"^--backend: the queries dataset has no dynamodb binding: run it with "
                                       r"--backend mysql"):
        settings_for("cswcombo", "http://127.0.0.1:1", "queries", "mysql,dynamodb", "invalidate", "none", {})


def test_every_store_has_the_methods_its_capabilities_declare():
    """The catalog's capabilities (what validation refuses by) and the stores agree both ways; every
    binding's store loads, and a pattern's store says it is one."""
    for (dataset, backend), binding in catalog.BINDINGS.items():
        cls = binding.store_class()
        if binding.versions:
            assert getattr(cls, "pattern", False) and cls.dataset == dataset, (dataset, backend)
            continue
        for capability, methods in catalog.METHODS.items():
            present = all(callable(getattr(cls, m, None)) for m in methods)
            assert present == (capability in binding.capabilities), (dataset, backend, capability)


def _dynamodb_endpoint(dynamodb_client) -> str:
    return dynamodb_client.meta.endpoint_url


def test_every_accepted_combination_runs_without_a_programming_error(product_namespace, dynamodb_client):
    """Each accepted combination runs its operations on the real MariaDB, Redis and the DynamoDB
    emulator: some closed loop, some open loop (every other combination), each strategy's phase
    prepared as a run would prepare it. Server-side failures would be counted; an exception that
    no server sent (AttributeError, TypeError, ...) fails the test, naming the combination."""
    endpoint = _dynamodb_endpoint(dynamodb_client)
    broken, phases_run = [], 0
    # every write policy and protection is one of the strategies' variants (cache-aside+versioned+lock):
    # --write-policy and --stampede-protection only choose them for the strategies without a suffix
    for n, (dataset, backend, policy, protection, (mix_name, mix)) in enumerate(itertools.product(
            DB_DATASETS, DATABASES, ("invalidate",), ("none",), MIXES.items())):
        accepted = []
        for strategy in DB_STRATEGIES:
            try:
                settings_for(product_namespace, endpoint, dataset, backend, policy, protection, mix, (strategy,))
                accepted.append(strategy)
            except BadInput:
                pass
        if not accepted:
            continue
        settings = settings_for(product_namespace, endpoint, dataset, backend, policy, protection, mix, accepted)
        rt = Runtime(settings, dynamodb_url=endpoint)
        try:
            rt.preflight()
            for i, strategy in enumerate(settings.strategies):
                phase = Phase(i, dataset, backend, strategy)
                rt.prepare(phase)
                errors = []
                recorder = Recorder()
                loop = rt.loop(phase.key, PhaseClock(0).measure_from("p"),
                               lambda op, name, ms, size, exc: exc is not None and errors.append(exc), recorder,
                               user_rate=2000.0 if (n + i) % 2 else 0.0)
                for _ in range(12):
                    loop.step()
                loop.close()
                phases_run += 1
                wrong = [e for e in errors if isinstance(e, PROGRAMMING_ERRORS)]
                if wrong:
                    broken.append(f"{phase.key} --write-policy {policy} --stampede-protection {protection} "
                                  f"({mix_name}): {type(wrong[0]).__name__}: {wrong[0]}")
        finally:
            rt.close()
    assert phases_run > 150, phases_run
    assert not broken, "\n".join(broken[:20]) + f"\n({len(broken)} in all)"


def test_the_glue_makes_a_user_class_for_each_runnable_combination_and_none_other():
    """One Locust user class per phase a run can have (catalog.runnable()): none for a combination
    validation always refuses (a query result's versions). In a child: the glue imports Locust."""
    script = ("from gevent import monkey; monkey.patch_all()\n"
              "import json\nfrom cacheswarm.glue import users as g\n"
              "print(json.dumps({k: c.__name__ for k, c in g.USER_CLASSES.items()}))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    classes = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(classes) == {"/".join(c) for c in catalog.runnable()}
    assert "queries/mysql/cache-aside+versioned" not in classes and "queries/mysql/cache-aside" in classes
    assert classes["products/postgres/cache-aside+versioned"] == "ProductsOnPostgreSQLCacheAsideVersionedUser"
    assert len(set(classes.values())) == len(classes)  # Locust keeps phases apart by class name
