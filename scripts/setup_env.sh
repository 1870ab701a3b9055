#!/usr/bin/env bash
# Build the project-local environment (.venv) on a machine with no ROS distribution:
# ROS 2 from PyPI wheels, vision_msgs generated from interfaces/, the ML stack, dev tools,
# and this package (editable), laid out as an ament prefix. Idempotent: each step is skipped while its inputs are unchanged.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
cd "$ROOT"

step() { echo "setup: $*"; }
# This machine's pip config names local mirrors that may not exist; pip warns once per
# package about each. Keep real errors, drop that noise.
pip_quiet() { "$VENV/bin/python" -m pip "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2); }

if ! command -v cmake >/dev/null; then
  step "installing cmake (needed once, to generate vision_msgs)"
  if [[ $(id -u) == 0 ]]; then apt-get update -qq && apt-get install -y -qq cmake >/dev/null
  else echo "setup: cmake is missing; install it (sudo apt-get install cmake) and rerun" >&2; exit 1; fi
fi

if [[ ! -x $VENV/bin/python ]]; then
  step "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi

req_hash=$(cat requirements/*.txt setup.py setup.cfg | sha256sum | cut -d' ' -f1)
if [[ ! -f $VENV/.requirements.stamp || $(cat "$VENV/.requirements.stamp") != "$req_hash" ]]; then
  # On a first install, a full disk otherwise surfaces as pip's "[Errno 28] No space left on
  # device" halfway through, leaving a half-installed venv. The measured venv is 6.1 GB: the x86_64 torch wheel on PyPI is
  # the CUDA build and pulls ~3.2 GB of NVIDIA libraries even on a CPU-only machine.
  need_mb=${MTL_SETUP_NEED_MB:-6400}
  have_mb=$(df --output=avail -BM "$VENV" | tail -1 | tr -dc 0-9)
  if [[ ! -f $VENV/.requirements.stamp ]] && (( have_mb < need_mb )); then
    echo "setup: only ${have_mb} MB free under $VENV; installing the pinned requirements needs" \
      "about ${need_mb} MB (torch and its CUDA libraries). Free some space, or point VENV= at" \
      "a disk with room, and rerun." >&2
    exit 1
  fi
  step "installing pinned requirements (a few minutes when cold)"
  pip_quiet install -q --disable-pip-version-check --upgrade pip==24.3.1
  pip_quiet install -q --disable-pip-version-check \
    -r requirements/ros-pypi.txt -r requirements/runtime.txt \
    -r requirements/training.txt -r requirements/dev.txt
  # Its declared dependency is the real TensorRT wheel, which cannot install without NVIDIA's
  # own index; the stubs alone are what mypy needs.
  pip_quiet install -q --disable-pip-version-check --no-deps tensorrt-stubs==10.13.0.35.1
  pip_quiet install -q --disable-pip-version-check --no-deps -e .
  echo "$req_hash" > "$VENV/.requirements.stamp"
else
  step "requirements up to date"
fi

"$ROOT/scripts/build_vision_msgs.sh" "$VENV"
"$ROOT/scripts/ament_prefix.sh" "$VENV"
# mypy checks the TensorRT code against tensorrt-stubs, whose releases contain a few lines that
# are not valid Python; keep a fixed copy in typings/ (ignored by git), regenerated when missing.
if [[ ! -f typings/tensorrt_bindings/tensorrt.pyi ]]; then
  step "preparing tensorrt type stubs for mypy"
  "$VENV/bin/python" typings/regen_tensorrt_stubs.py >/dev/null
fi
step "done ($VENV)"
