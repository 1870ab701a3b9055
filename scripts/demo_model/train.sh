#!/usr/bin/env bash
# Rebuild models/demo/model.onnx as it was made (2 CPU cores, about 75 minutes): a first run at
# 224x384 on stills + drives, then a fine-tune at the paper's 384x640 on drive-heavy data.
# Usage: scripts/demo_model/train.sh [WORK_DIR]     (needs `make setup` first)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W=${1:-$ROOT/runs/demo_model}
source "$ROOT/.venv/bin/activate"
mkdir -p "$W"
mtl-synth --out "$W/stills" --train 2400 --val 200 --seed 11 --no-progress
for s in 101 102 103 104; do
  mtl-synth --out "$W/drive_$s" --drive --frames 200 --seed "$s" --split train --no-progress
done
python "$ROOT/scripts/demo_model/merge_bdd_roots.py" "$W/mix" "$W/stills:1600" \
  "$W/drive_101" "$W/drive_102" "$W/drive_103" "$W/drive_104"
mtl-train --config "$ROOT/config/models/mobilenetv2_bifpn_tiny.yaml" --data "$W/mix" \
  --out "$W/run" --epochs-phase1 6 --epochs-phase2 1 --batch-size 16 --limit-val 100 \
  --val-every 1 --device cpu --workers 1 --max-minutes 40 --no-progress
# Stage 2: far vehicles in drives are ~8 px at 224x384; fine-tune at 384x640 on more drives.
for s in 105 106 107 108; do
  mtl-synth --out "$W/drive_$s" --drive --frames 200 --seed "$s" --split train --no-progress
done
python "$ROOT/scripts/demo_model/merge_bdd_roots.py" "$W/ft384" "$W/stills:400" \
  "$W/drive_101" "$W/drive_102" "$W/drive_103" "$W/drive_104" \
  "$W/drive_105" "$W/drive_106" "$W/drive_107" "$W/drive_108"
mtl-train --config "$ROOT/config/models/mobilenetv2_bifpn_tiny.yaml" --data "$W/ft384" \
  --out "$W/run384" --init-weights "$W/run/best.pt" --input-size 384x640 \
  --epochs-phase1 4 --epochs-phase2 1 --batch-size 16 --lr 0.001 --limit-val 100 \
  --val-every 1 --device cpu --workers 1 --max-minutes 40 --no-progress
mtl-export --weights "$W/run384/best.pt" --out "$ROOT/models/demo/model.onnx" --check
