# The README's two Quickstart commands are `make demo` and `make test`; everything they
# need is installed here, into .venv (the package) and .venv-meltano (Meltano itself).
PYTHON ?= python3
VENV ?= .venv
MELTANO_VENV ?= .venv-meltano
BIN := $(VENV)/bin
MELTANO := $(MELTANO_VENV)/bin/meltano
MELTANO_VERSION ?= 4.4.1

export MELTANO_SEND_ANONYMOUS_USAGE_STATS := false
# Plugins start 3x faster with bytecode (these machines set PYTHONDONTWRITEBYTECODE).
export UV_COMPILE_BYTECODE := 1

.PHONY: demo test install lint bench clean postgres

demo: install $(MELTANO_VENV)/.plugins
	$(BIN)/python scripts/demo.py --meltano $(MELTANO)

test: install $(MELTANO_VENV)/.plugins lint postgres
	CALLTRACK_MELTANO=$(MELTANO) CALLTRACK_REQUIRE_MELTANO=1 CALLTRACK_REQUIRE_POSTGRES=1 \
	  $(BIN)/python -m pytest -q

install: $(VENV)/.installed

# The emulator is a distribution of its own (sandbox/); the tests and the demo need it. It is
# installed second: reinstalling an older tap-calltrack that still owned the
# calltrack-sandbox script would otherwise delete the script just written.
$(VENV)/.installed: pyproject.toml sandbox/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,orchestrator]"
	$(BIN)/python -m pip install --quiet -e ./sandbox
	touch $@

$(MELTANO):
	$(PYTHON) -m venv $(MELTANO_VENV)
	$(MELTANO_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MELTANO_VENV)/bin/python -m pip install --quiet "meltano[postgres]==$(MELTANO_VERSION)"

# The postgres extra brings psycopg 3, the driver of a shared PostgreSQL system database
# (MELTANO_DATABASE_URI=postgresql+psycopg://...; README, One job per client or shard); a
# rule of its own so that a .venv-meltano made before it gets the driver too.
$(MELTANO_VENV)/.postgres-driver: $(MELTANO)
	$(MELTANO_VENV)/bin/python -m pip install --quiet "meltano[postgres]==$(MELTANO_VERSION)"
	touch $@

# Meltano's own plugin venvs (.meltano/): the tap and the Excel target from this folder,
# target-jsonl and target-postgres from PyPI.
$(MELTANO_VENV)/.plugins: $(MELTANO) $(MELTANO_VENV)/.postgres-driver meltano.yml pyproject.toml
	$(MELTANO) install
	touch $@

# PostgreSQL server binaries for tests/test_warehouse.py, which starts its own throwaway
# server (tests/postgres.py). Debian images usually have them; as root we install the Debian
# package when they are missing, otherwise we say what to install.
postgres:
	@if [ -n "$$CALLTRACK_PG_BIN" ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; \
	else \
	  echo "PostgreSQL server binaries missing: install the 'postgresql' package" \
	    "(apt-get install postgresql) or set CALLTRACK_PG_BIN to a folder with initdb and pg_ctl" >&2; \
	  exit 1; \
	fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(MELTANO_VENV) .meltano output
