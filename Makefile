# Developer and CI entry points. `make test` is what .ci/run runs.
PYTHON ?= python3
PYTEST_ARGS ?=
# Set KEEP_STACK=1 to leave the ACME test stack running after `make integration`.
KEEP_STACK ?=

# The collection must be importable as ansible_collections.autotls.acme, both
# for Python (unit tests import module_utils) and for Ansible (FQCN lookups).
COLLECTIONS_DIR := $(CURDIR)/build/collections
COLLECTION_LINK := $(COLLECTIONS_DIR)/ansible_collections/autotls/acme

.PHONY: deps collection-link stack-start stack-stop sanity lint static changelog-lint matrix units integration test demo clean bench bench-smoke
BENCH_ARGS ?=
# `test` lists its steps as prerequisites; keep them in order even under -j.
.NOTPARALLEL:

deps:
	scripts/install-deps.sh

collection-link:
	@mkdir -p $(dir $(COLLECTION_LINK))
	@ln -sfn $(CURDIR) $(COLLECTION_LINK)

stack-start:
	scripts/stack.sh start

stack-stop:
	scripts/stack.sh stop

sanity:
	scripts/sanity.sh

# ansible-lint only where there is something to lint (config: .ansible-lint).
lint: collection-link
	@dirs=$$(for d in roles playbooks; do \
	    [ -n "$$(find $$d -name '*.yml' -o -name '*.yaml' 2>/dev/null | head -n1)" ] && echo $$d; done); \
	if [ -n "$$dirs" ]; then \
	    echo "ansible-lint $$dirs"; ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS_DIR) ansible-lint $$dirs; \
	else echo "lint: no YAML in roles/ or playbooks/, nothing to lint"; fi

# Unit tests and sanity on the oldest supported versions (requirements-oldest.txt) in their own venv.
matrix: collection-link
	scripts/matrix.sh

# Static checks: ruff over the repository (ruff.toml), mypy over the engine (mypy.ini: every function annotated).
static:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy

# Changelog fragments follow antsibull-changelog's conventions.
changelog-lint:
	antsibull-changelog lint

units integration: export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS_DIR)
units integration: export PYTHONPATH := $(COLLECTIONS_DIR)

# The engine's unit coverage is measured and printed; below ENGINE_COVERAGE percent the target fails.
ENGINE_COVERAGE ?= 90
units: collection-link
	$(PYTHON) -m pytest tests/unit -q --cov=plugins/module_utils/_engine --cov-report=term \
	    --cov-fail-under=$(ENGINE_COVERAGE) $(PYTEST_ARGS)

# Integration tests against the real parts (Pebble + challtestsrv + nginx,
# moto's S3 server, redis-server, fake-gcs-server; Apache, HAProxy, Postfix and
# Dovecot from scripts/servers.sh), started by the project's scripts. The
# issuance tests then run a second time with Pebble rejecting 90% of all
# nonces: every issuance must still succeed (scripts/integration.sh; the storage
# suites run meanwhile in a network namespace of their own when run as root).
# Services are stopped afterwards unless KEEP_STACK=1.
integration: collection-link
	@rc=0; scripts/integration.sh $(PYTEST_ARGS) || rc=$$?; \
	[ -n "$(KEEP_STACK)" ] || { scripts/stack.sh stop; [ ! -x scripts/services.sh ] || scripts/services.sh stop; \
	    [ ! -x scripts/servers.sh ] || scripts/servers.sh stop; }; \
	exit $$rc

# Benchmark against certbot, community.crypto and a bare-library floor (bench/run.py). Installs its
# contenders into build/bench/venv-* on first use; about 15-25 min on 2 cores. Not part of `make test`.
bench: deps collection-link
	$(PYTHON) bench/run.py $(BENCH_ARGS)

# Tiny-N smoke run of the benchmark (our contenders and the floor, nothing installed); part of `make test`.
bench-smoke: collection-link
	$(PYTHON) bench/run.py --smoke $(if $(KEEP_STACK),--keep-stack)

test: deps static changelog-lint units integration sanity matrix lint bench-smoke

# End to end on the embedded default: a local Pebble CA and nginx on loopback.
demo: deps collection-link
	scripts/demo.sh

clean:
	-scripts/stack.sh stop
	-scripts/services.sh stop
	-scripts/servers.sh stop
	rm -rf build tests/output .pytest_cache
