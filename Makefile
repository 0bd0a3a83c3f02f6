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

.PHONY: demo test install lint bench clean

demo: install $(MELTANO_VENV)/.plugins
	$(BIN)/python scripts/demo.py --meltano $(MELTANO)

test: install $(MELTANO_VENV)/.plugins lint
	CALLTRACK_MELTANO=$(MELTANO) CALLTRACK_REQUIRE_MELTANO=1 $(BIN)/python -m pytest -q

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,orchestrator]"
	touch $@

$(MELTANO):
	$(PYTHON) -m venv $(MELTANO_VENV)
	$(MELTANO_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MELTANO_VENV)/bin/python -m pip install --quiet "meltano==$(MELTANO_VERSION)"

# Meltano's own plugin venvs (.meltano/): the tap and the Excel target from this folder,
# target-jsonl from PyPI.
$(MELTANO_VENV)/.plugins: $(MELTANO) meltano.yml pyproject.toml
	$(MELTANO) install
	touch $@

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(MELTANO_VENV) .meltano output
