# The two commands of the README: `make up` (set up, then run ERS on embedded defaults) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: up test setup unit chaos bench-quix

$(BIN)/ers: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test,postgres]"
	touch $(BIN)/ers

setup: $(BIN)/ers

up: setup
	$(BIN)/ers up

test: setup
	$(BIN)/python -m pytest

unit: setup
	$(BIN)/python -m pytest tests/unit

# The Quix Streams peer of bench/pipeline_throughput.py, in an environment of its own: installed into .venv, its pins
# (an older pydantic) would change what the worker is measured with.
bench-quix:
	$(PYTHON) -m venv .venv-quix
	.venv-quix/bin/pip install -q "quixstreams>=3.28"

# The chaos suite at the issue's full lengths (minutes each; `make test` runs the short versions).
chaos: setup
	ERS_CHAOS=full $(BIN)/python -m pytest tests/chaos
