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

# The console's fonts (and, later, map scripts) from the npm registry, copied next to its pages: never a CDN.
VENDOR := streams/views/static/vendor/noto-sans-sc/noto-sans-sc.css
$(VENDOR): deploy/web/package-lock.json deploy/web/vendor.py | $(BIN)/ers
	npm ci --prefix deploy/web --no-audit --no-fund --loglevel=error
	$(BIN)/python deploy/web/vendor.py

setup: $(BIN)/ers $(VENDOR)

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
