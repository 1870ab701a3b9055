#!/usr/bin/env bash
# Build one extra test lane's environment, cached like .venv and rebuilt when its inputs change:
#   jazzy     CPython 3.12, ROS 2 Jazzy from PyPI wheels, vision_msgs generated for Jazzy,
#             the node's runtime and this package (editable, as an ament prefix); no torch.
#   jetpack5  CPython 3.8 with numpy 1.24 and the last ONNX Runtime for 3.8, as on a Jetson
#             Xavier NX's JetPack 5; no ROS (its wheels start at 3.10) and no torch.
# The interpreter comes from pyenv, or from PYTHON=... (any CPython of the lane's version).
set -euo pipefail
LANE=${1:?usage: setup_lane.sh jazzy|jetpack5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
case $LANE in
  jazzy) want=3.12.1 ;;
  jetpack5) want=3.8.18 ;;
  *) echo "setup_lane: unknown lane '$LANE' (jazzy or jetpack5)" >&2; exit 2 ;;
esac
VENV=${VENV:-$ROOT/.venv-$LANE}
REQ=$ROOT/requirements/$LANE.txt
step() { echo "setup($LANE): $*"; }

if [[ -z ${PYTHON:-} ]]; then
  if command -v pyenv >/dev/null && pyenv prefix "$want" >/dev/null 2>&1; then
    PYTHON=$(pyenv prefix "$want")/bin/python
  elif command -v "python${want%.*}" >/dev/null; then
    PYTHON=$(command -v "python${want%.*}")
  else
    echo "setup($LANE): needs CPython ${want%.*}: install it (pyenv install $want) or set" \
      "PYTHON=/path/to/python${want%.*}" >&2
    exit 1
  fi
fi
minor=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [[ $minor != "${want%.*}" ]]; then
  echo "setup($LANE): $PYTHON is Python $minor; this lane needs ${want%.*}" >&2
  exit 1
fi
if [[ -x $VENV/bin/python ]] \
  && [[ $("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])') != "$minor" ]]; then
  step "replacing $VENV (built for another Python)"
  rm -rf "$VENV"
fi
if [[ ! -x $VENV/bin/python ]]; then
  step "creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi

# pip runs from inside the venv: an older pip reads ./setup.cfg as a distutils config and
# would put every installed script into lib/mtl_perception.
pip_quiet() {
  (cd "$VENV" && "$VENV/bin/python" -m pip -q --disable-pip-version-check "$@") \
    2> >(grep -v -e "^WARNING: Location 'file:" -e "^DEPRECATION: Configuring installation" >&2)
}
hash=$(cat "$REQ" "$ROOT/setup.py" "$ROOT/setup.cfg" | sha256sum | cut -d' ' -f1)
if [[ ! -f $VENV/.requirements.stamp || $(cat "$VENV/.requirements.stamp") != "$hash" ]]; then
  step "installing requirements/$LANE.txt"
  pip_quiet install --upgrade pip==24.3.1
  pip_quiet install -r "$REQ"
  if [[ $LANE == jazzy ]]; then
    pip_quiet install --no-deps -e "$ROOT"
  fi
  echo "$hash" > "$VENV/.requirements.stamp"
else
  step "requirements up to date"
fi
if [[ $LANE == jazzy ]]; then
  "$ROOT/scripts/build_vision_msgs.sh" "$VENV"
  "$ROOT/scripts/ament_prefix.sh" "$VENV"
fi
step "done ($VENV)"
