# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Expanded only by the targets that use it: `make run` never runs scripts/pg.sh.
PG_URL = $(shell scripts/pg.sh url)

.PHONY: run test test-fast coverage install install-test lock demo lint bench clean

run: install demo
	$(BIN)/assay serve

install: $(VENV)/.installed

# requirements.lock (if present) holds the runtime dependencies' versions the suite last passed with: installed
# as constraints, so a clean clone gets them; `make lock` rewrites it from the venv after an upgrade.
LOCK := $(wildcard requirements.lock)
CONSTRAINTS := $(if $(LOCK),-c $(LOCK))
# What the stamps record: a checkout or merge that only touches the files (a newer time, the same bytes)
# costs a checksum, not a reinstall; pip itself is upgraded only when the venv is made.
SUM = $$(cat pyproject.toml $(LOCK) | cksum)

$(VENV)/.installed: pyproject.toml $(LOCK)
	@test -d $(VENV) || { $(PYTHON) -m venv $(VENV) && $(BIN)/pip install -q --upgrade pip; }
	@if [ "$(SUM)" = "$$(cat $@ 2>/dev/null)" ]; then touch $@; \
	else echo "$(BIN)/pip install -q -e . $(CONSTRAINTS)" && $(BIN)/pip install -q -e . $(CONSTRAINTS) && echo "$(SUM)" > $@; fi

demo: install
	$(BIN)/assay demo load

install-test: $(VENV)/.installed-test

$(VENV)/.installed-test: pyproject.toml $(LOCK) $(VENV)/.installed
	@if [ "$(SUM)" = "$$(cat $@ 2>/dev/null)" ]; then touch $@; \
	else echo "$(BIN)/pip install -q -e '.[test]' $(CONSTRAINTS)" && $(BIN)/pip install -q -e '.[test]' $(CONSTRAINTS) \
	&& echo "$(SUM)" > $@; fi

lock: install
	$(BIN)/python scripts/lock.py

test: install-test
	scripts/pg.sh start
	scripts/chromium.sh
	ASSAY_TEST_POSTGRES_URL=$(PG_URL) ASSAY_TEST_REQUIRE_ALL=1 $(BIN)/pytest -n 2 -q

# The suite without its slow kinds (markers in pyproject.toml, set in tests/conftest.py): no real Chromium, no
# Dask cluster, no torch model, nothing marked slow. PostgreSQL still runs: every database test runs on both.
FAST = -m "not browser and not dask and not model and not slow"

test-fast: install-test
	scripts/pg.sh start
	ASSAY_TEST_POSTGRES_URL=$(PG_URL) ASSAY_TEST_REQUIRE_ALL=1 $(BIN)/pytest -n 2 -q $(FAST)

# The whole suite with line and branch coverage of assay/ (a table in the terminal, htmlcov/ for detail).
coverage: install-test
	scripts/pg.sh start
	scripts/chromium.sh
	ASSAY_TEST_POSTGRES_URL=$(PG_URL) ASSAY_TEST_REQUIRE_ALL=1 $(BIN)/pytest -n 2 -q \
	  --cov=assay --cov-branch --cov-report=term:skip-covered --cov-report=html

# Fast (under a minute from cold, a few seconds warm): style, types ([tool.mypy]) and the import contract
# ([tool.importlinter]) in pyproject.toml.
lint: install-test
	$(BIN)/ruff check assay tests bench
	$(BIN)/ruff format --check assay tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install-test
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/pip install -q --no-deps invisible-watermark  # its wheel asks for torch, which it needs only for six reshapes
	scripts/pg.sh start
	ASSAY_BENCH_POSTGRES_URL=$(PG_URL) $(BIN)/python -m bench

clean:
	scripts/pg.sh stop
	rm -rf $(VENV) .test-pg htmlcov .coverage "$$(scripts/pg.sh dir)"
