# Two commands matter: `make demo` (the main job) and `make test`. Both set up what they need.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export FASTDDS_BUILTIN_TRANSPORTS ?= LARGE_DATA
# The runtime a car needs: it runs on JetPack 5's Python 3.8 (docs/architecture.md).
RUNTIME_SRC := mtl_perception/inference mtl_perception/ros mtl_perception/common launch

.PHONY: setup setup-jazzy setup-jetpack5 test test-main test-jazzy test-jetpack5 test-slow \
	lint typecheck demo bench clean oracle-env

setup:
	@VENV=$(abspath $(VENV)) scripts/setup_env.sh

setup-jazzy:
	@scripts/setup_lane.sh jazzy

setup-jetpack5:
	@scripts/setup_lane.sh jetpack5

# All three lanes, one after the other; each prints its interpreter, ROS distro and numpy.
test: test-main test-jazzy test-jetpack5

# The main lane: everything but the training-length tests (make test-slow runs those).
test-main: setup
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# ROS 2 Jazzy on CPython 3.12, no torch: the node, the inference core and the launch file.
test-jazzy: setup-jazzy
	.venv-jazzy/bin/python -m pytest test/runtime $(PYTEST_ARGS)

# JetPack 5's floor, CPython 3.8 + numpy 1.24, no ROS, no torch: the inference core for real,
# the ROS glue and the launch file byte-compiled and checked for their minimum Python.
test-jetpack5: setup-jetpack5
	.venv-jetpack5/bin/python -m compileall -q $(RUNTIME_SRC)
	set -o pipefail; .venv-jetpack5/bin/vermin --no-tips --violations -t=3.8- $(RUNTIME_SRC) | tail -n 2
	.venv-jetpack5/bin/python -m pytest test/runtime $(PYTEST_ARGS)

test-slow: setup
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

# The official BDD100K toolkit (pydantic<2) in its own cached venv: test/test_oracle.py's oracle.
oracle-env:
	@scripts/oracle_env.sh

lint: setup
	$(VENV)/bin/ruff check .

typecheck: setup
	$(VENV)/bin/mypy

demo: setup
	$(VENV)/bin/mtl-demo --out demo_out $(DEMO_ARGS)

bench: setup setup-jazzy
	$(VENV)/bin/mtl-bench all --out docs/benchmarks.md

clean:
	rm -rf build install log demo_out .pytest_cache .ruff_cache .mypy_cache
