# The two commands of the README: `make up` (set up, then run ERS on embedded defaults) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: up test setup unit chaos

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

# The chaos suite at the issue's full lengths (minutes each; `make test` runs the short versions).
chaos: setup
	ERS_CHAOS=full $(BIN)/python -m pytest tests/chaos
