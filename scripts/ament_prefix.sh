#!/usr/bin/env bash
# Make a venv that holds this package as an editable install a valid ament prefix, the way
# colcon's --symlink-install lays out a workspace: the package marker in the ament index,
# share/mtl_perception linked to the source tree's launch/, config/, models/ and interfaces/,
# and lib/mtl_perception/ holding the console scripts, where `ros2 run` looks for them.
# With AMENT_PREFIX_PATH=VENV, `ros2 launch mtl_perception ...` and `ros2 run` find it.
set -euo pipefail
VENV=$(cd "${1:?usage: ament_prefix.sh VENV}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PKG=mtl_perception

mkdir -p "$VENV/share/ament_index/resource_index/packages" "$VENV/share/$PKG" "$VENV/lib/$PKG"
cp "$ROOT/resource/$PKG" "$VENV/share/ament_index/resource_index/packages/$PKG"
for item in package.xml launch config models interfaces; do
  ln -sfn "$ROOT/$item" "$VENV/share/$PKG/$item"
done
scripts=$(cd "$VENV" && "$VENV/bin/python" -c "
import importlib.metadata as m
print(' '.join(e.name for e in m.distribution('$PKG').entry_points if e.group == 'console_scripts'))")
for name in $scripts; do
  ln -sfn "../../bin/$name" "$VENV/lib/$PKG/$name"
done
