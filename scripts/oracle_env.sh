#!/usr/bin/env bash
# Build (once) the venv holding the official BDD100K toolkit, the test oracle; print its python.
# The venv is cached under ${MTL_CACHE_DIR:-~/.cache/mtl_perception}/oracle-<hash of
# requirements/oracle.txt>, so a changed requirements file gets a fresh one.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
req="$here/requirements/oracle.txt"
key="$(sha256sum "$req" | cut -c1-12)"
dir="${MTL_CACHE_DIR:-$HOME/.cache/mtl_perception}/oracle-$key"
py="${ORACLE_BASE_PYTHON:-python3}"
if [ ! -x "$dir/bin/python" ] || [ ! -f "$dir/.complete" ]; then
    rm -rf "$dir"
    "$py" -m venv "$dir" >&2
    "$dir/bin/python" -m pip install -q --disable-pip-version-check -r "$req" >&2
    "$dir/bin/python" -c "import bdd100k.eval.seg, scalabel.eval.detect" >&2
    touch "$dir/.complete"
fi
echo "$dir/bin/python"
