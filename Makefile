# cacheswarm — `make demo` runs a comparison, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ROWS ?= 100000
RESTAURANTS ?= 1000

.PHONY: demo test install services seed bench clean-venv

$(BIN)/locust: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/locust

services:
	@scripts/services.sh

seed: install services
	$(BIN)/cacheswarm seed products --rows $(ROWS)
	$(BIN)/cacheswarm seed restaurants --restaurants $(RESTAURANTS)

demo: seed
	$(BIN)/locust --config scenarios/quick.conf

test: install services
	$(BIN)/python -m pytest

bench: install services
	$(BIN)/python bench/run.py

clean-venv:
	rm -rf $(VENV)
