#!/usr/bin/env bash
# Generate and install vision_msgs (C type support + Python bindings) into a venv from
# interfaces/vision_msgs, with the rosidl/ament wheels from PyPI. Skips the build when the
# installed package already matches the .msg files (hash stamp). See shared notes in
# docs/architecture.md for why each flag is needed.
set -euo pipefail
VENV=$(cd "${1:?usage: build_vision_msgs.sh VENV}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC=$ROOT/interfaces/vision_msgs
STAMP=$VENV/.vision_msgs.stamp
BUILD=$VENV/.build/vision_msgs

hash=$(cat "$SRC"/msg/*.msg "$SRC"/CMakeLists.txt "$SRC"/package.xml \
  "$ROOT"/interfaces/fix_wheel_includes.cmake | sha256sum | cut -d' ' -f1)
if [[ -f $STAMP && $(cat "$STAMP") == "$hash" ]] \
  && "$VENV/bin/python" -c "from vision_msgs.msg import Detection2DArray, LabelInfo" 2>/dev/null; then
  echo "vision_msgs: up to date"
  exit 0
fi
command -v cmake >/dev/null || { echo "vision_msgs: cmake is missing (apt-get install cmake)" >&2; exit 1; }

echo "vision_msgs: generating from interfaces/vision_msgs (about a minute)"
# Remove what an earlier build installed, so that no stale file survives.
if [[ -f $BUILD/install_manifest.txt ]]; then
  xargs -d '\n' rm -f < "$BUILD/install_manifest.txt" || true
fi
rm -rf "$BUILD" && mkdir -p "$BUILD"
export PATH=$VENV/bin:$PATH AMENT_PREFIX_PATH=$VENV
cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" \
  -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF \
  -DCMAKE_PROJECT_INCLUDE="$ROOT/interfaces/fix_wheel_includes.cmake" > "$BUILD/configure.log" 2>&1 \
  || { tail -30 "$BUILD/configure.log" >&2; echo "vision_msgs: cmake configure failed (log: $BUILD/configure.log)" >&2; exit 1; }
cmake --build "$BUILD" -j"$(nproc)" > "$BUILD/build.log" 2>&1 \
  || { tail -30 "$BUILD/build.log" >&2; echo "vision_msgs: build failed (log: $BUILD/build.log)" >&2; exit 1; }
cmake --install "$BUILD" > "$BUILD/install.log" 2>&1 \
  || { tail -30 "$BUILD/install.log" >&2; echo "vision_msgs: install failed" >&2; exit 1; }
"$VENV/bin/python" -c "from vision_msgs.msg import Detection2DArray, LabelInfo" \
  || { echo "vision_msgs: installed but does not import" >&2; exit 1; }
echo "$hash" > "$STAMP"
echo "vision_msgs: installed"
