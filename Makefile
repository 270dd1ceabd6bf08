# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Expanded only by the targets that use it: `make run` never runs scripts/pg.sh.
PG_URL = $(shell scripts/pg.sh url)

.PHONY: run test install install-test demo lint bench clean

run: install demo
	$(BIN)/assay serve

install: $(VENV)/.installed

# A stamp holding pyproject.toml's checksum: a checkout or merge that only touches the file (a newer time, the
# same bytes) costs a checksum, not a reinstall; pip itself is upgraded only when the venv is made.
$(VENV)/.installed: pyproject.toml
	@test -d $(VENV) || { $(PYTHON) -m venv $(VENV) && $(BIN)/pip install -q --upgrade pip; }
	@if [ "$$(cksum < pyproject.toml)" = "$$(cat $@ 2>/dev/null)" ]; then touch $@; \
	else echo "$(BIN)/pip install -q -e ." && $(BIN)/pip install -q -e . && cksum < pyproject.toml > $@; fi

demo: install
	$(BIN)/assay demo load

install-test: $(VENV)/.installed-test

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	@if [ "$$(cksum < pyproject.toml)" = "$$(cat $@ 2>/dev/null)" ]; then touch $@; \
	else echo "$(BIN)/pip install -q -e '.[test]'" && $(BIN)/pip install -q -e '.[test]' && cksum < pyproject.toml > $@; fi

test: install-test
	scripts/pg.sh start
	scripts/chromium.sh
	ASSAY_TEST_POSTGRES_URL=$(PG_URL) ASSAY_TEST_REQUIRE_ALL=1 $(BIN)/pytest -n 2 -q

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
	rm -rf $(VENV) .test-pg "$$(scripts/pg.sh dir)"
