# The README's commands. `make demo` and `make test` work on a fresh machine with python3 (>= 3.11)
# and Go (>= 1.26, for the test control plane); everything else they install themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint control-plane kustomize prometheus galera bench docs clean record-kserve

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "kfops needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/kfops demo

# Builds kube-apiserver and etcd from Go modules once, cached by version outside the repository.
control-plane:
	bash scripts/testenv/build-control-plane.sh >/dev/null

# Builds kustomize from Go modules once, cached by version like the control plane (the deploy/
# manifest tests render the overlays with it).
kustomize:
	bash scripts/testenv/build-kustomize.sh >/dev/null

# Prometheus and promtool from Debian's package, when missing (the Prometheus tests and rule tests).
prometheus:
	bash scripts/testenv/install-prometheus.sh >/dev/null

# MariaDB, the Galera provider and rsync from Debian's packages, when missing (tests/galera).
galera:
	bash scripts/testenv/install-galera.sh >/dev/null

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy tests bench
	$(VENV)/bin/lint-imports

test: install control-plane kustomize prometheus galera lint
	$(PY) -m pytest

# Regenerates every kserve-flapping scenario's prometheus/queries.yaml from its series.yaml with a
# real Prometheus (tests/prom/record_kserve.py; docs/snapshots.md).
record-kserve: install prometheus
	$(PY) -m tests.prom.record_kserve

docs: install
	$(PY) -m kfops.runbooks.explain docs/runbooks

bench: install control-plane
	$(PY) bench/run.py
	$(PY) bench/pipelines.py
	$(PY) bench/kserve.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
