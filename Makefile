# Two commands matter: `make demo` (the main job) and `make test`. Both set up .venv first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export FASTDDS_BUILTIN_TRANSPORTS ?= LARGE_DATA

.PHONY: setup test lint typecheck demo bench clean

setup:
	@VENV=$(abspath $(VENV)) scripts/setup_env.sh

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .

typecheck: setup
	$(VENV)/bin/mypy

demo: setup
	$(VENV)/bin/mtl-demo --out demo_out $(DEMO_ARGS)

bench: setup
	$(VENV)/bin/mtl-bench all --out docs/benchmarks.md

clean:
	rm -rf build install log demo_out .pytest_cache .ruff_cache .mypy_cache
