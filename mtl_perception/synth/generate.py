"""``mtl-synth``: a synthetic road-scene generator that writes BDD100K's official layout.

Tests, the demo and quick experiments need data with exact ground truth and no download. The
output is laid out exactly like BDD100K (``images/100k/{split}``, ``labels/det_20``,
``labels/drivable/masks``, ``labels/lane/polygons``), so the same loader reads both.

Each image gets its own RNG seeded by (seed, split, index): output is deterministic and
independent of the order (or the process) in which images are rendered.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mtl_perception.common.cli_args import ArgumentParser, add_progress, add_size, run_cli
from mtl_perception.common.errors import MtlError
from mtl_perception.synth.draw import (
    BDD_BACKGROUND,
    draw_background,
    draw_markings,
    draw_object,
    draw_road,
    lane_polylines,
)
from mtl_perception.synth.scene import Scene, sample_scene, start_drive, step_scene

SPLIT_CODES = {"train": 1, "val": 2, "test": 3}
LIGHT_CODES = {"red": "R", "yellow": "Y", "green": "G"}
PNG_FAST = [cv2.IMWRITE_PNG_COMPRESSION, 1]


@dataclass
class SynthFrame:
    """One rendered frame and its labels in BDD100K's formats."""

    name: str
    image: np.ndarray  # uint8 [H, W, 3], BGR (OpenCV order: imwrite / ROS bgr8 ready)
    drivable: np.ndarray  # uint8 [H, W], BDD ids: 0 direct, 1 alternative, 2 background
    det: dict[str, Any]  # one det_20 frame
    lane: dict[str, Any]  # one lane-polygons frame


@dataclass
class Effects:
    """Camera and lighting effects; sampled per still image, fixed for a whole drive."""

    matrix: np.ndarray  # 3x4 colour transform (gain, tint, bias)
    fog: float
    blur: int  # Gaussian kernel size, 0 = none
    noise: float  # amplitude of additive sensor noise

    @classmethod
    def sample(cls, rng: np.random.Generator, scene: Scene) -> Effects:
        gain = {"daytime": 1.0, "dawn/dusk": 0.78, "night": 0.5}[scene.timeofday]
        gain *= float(rng.uniform(0.85, 1.12)) * (0.85 if scene.weather in ("overcast",
                                                                           "rainy") else 1.0)
        tint = {"daytime": (1.0, 1.0, 1.0), "dawn/dusk": (1.08, 0.92, 0.78),
                "night": (0.85, 0.9, 1.1)}[scene.timeofday]
        tint = np.array(tint) * rng.uniform(0.95, 1.05, size=3)
        m = np.zeros((3, 4), np.float32)
        m[np.arange(3), np.arange(3)] = gain * tint
        m[:, 3] = float(rng.uniform(-8, 8))
        fog = float(rng.uniform(0.25, 0.5)) if scene.weather == "foggy" else 0.0
        blur = int(rng.choice([0, 0, 3, 5])) if scene.weather != "rainy" else 5
        return cls(m, fog, blur, float(rng.uniform(0.0, 0.18)))


@lru_cache(maxsize=4)
def _noise_tile(height: int, width: int) -> np.ndarray:
    """A fixed noise texture; images take random crops of it (far cheaper than fresh noise)."""
    rng = np.random.default_rng(12345)
    return np.clip(rng.normal(128, 40, size=(height + 64, width + 64, 3)), 0, 255).astype(np.uint8)


def _apply_effects(img: np.ndarray, fx: Effects, rng: np.random.Generator) -> np.ndarray:
    out = cv2.transform(img, fx.matrix)
    if fx.fog > 0:
        out = cv2.addWeighted(out, 1 - fx.fog, np.full_like(out, 190), fx.fog, 0)
    if fx.blur:
        out = cv2.GaussianBlur(out, (fx.blur, fx.blur), 0)
    if fx.noise > 0:
        h, w = out.shape[:2]
        oy, ox = (int(v) for v in rng.integers(0, 64, size=2))
        tile = _noise_tile(h, w)[oy : oy + h, ox : ox + w]
        out = cv2.addWeighted(out, 1.0, tile, fx.noise, -128 * fx.noise)
    return out


def render(scene: Scene, rng: np.random.Generator, name: str, effects: Effects | None = None
           ) -> SynthFrame:
    """Draw ``scene`` and derive every label from the drawing itself (visible extents)."""
    cam = scene.camera
    h, w = cam.height, cam.width
    img = np.empty((h, w, 3), np.uint8)
    drivable = np.full((h, w), BDD_BACKGROUND, np.uint8)
    ids = np.zeros((h, w), np.uint8)
    draw_background(img, scene, rng)
    draw_road(img, drivable, scene)
    draw_markings(img, scene)
    objects = sorted(scene.objects, key=lambda o: -o.z)[:250]
    drawn: list[tuple[int, Any, np.ndarray, int]] = []
    for k, o in enumerate(objects, start=1):
        full = draw_object(img, ids, k, scene, o)
        x0, y0 = max(int(np.floor(full[0])), 0), max(int(np.floor(full[1])), 0)
        x1, y1 = min(int(np.ceil(full[2])) + 1, w), min(int(np.ceil(full[3])) + 1, h)
        if x1 > x0 and y1 > y0:
            drawn.append((k, o, full, int(np.count_nonzero(ids[y0:y1, x0:x1] == k))))
    drivable[ids > 0] = BDD_BACKGROUND  # objects hide the road behind them, as in BDD's maps
    labels = []
    min_side = 4.0 * w / 1280
    for k, o, full, initial in drawn:
        x0, y0 = max(int(np.floor(full[0])), 0), max(int(np.floor(full[1])), 0)
        x1, y1 = min(int(np.ceil(full[2])) + 1, w), min(int(np.ceil(full[3])) + 1, h)
        mine = ids[y0:y1, x0:x1] == k
        visible = int(np.count_nonzero(mine))
        if initial == 0 or visible < 0.2 * initial:
            continue
        cols, rows = np.flatnonzero(mine.any(0)), np.flatnonzero(mine.any(1))
        box = [x0 + cols[0], y0 + rows[0], x0 + cols[-1] + 1, y0 + rows[-1] + 1]
        if box[2] - box[0] < min_side or box[3] - box[1] < min_side:
            continue
        labels.append(
            {
                "id": str(len(labels)),
                "category": o.category,
                "attributes": {
                    "occluded": visible < 0.92 * initial,
                    "truncated": bool(full[0] < -1 or full[1] < -1 or full[2] > w + 1
                                      or full[3] > h + 1),
                    "trafficLightColor": LIGHT_CODES.get(o.light, "NA"),
                },
                "box2d": {"x1": float(box[0]), "y1": float(box[1]), "x2": float(box[2]),
                          "y2": float(box[3])},
            }
        )
    lanes = []
    for pts, j in lane_polylines(scene, ids):
        kind = f"single {scene.road.colors[j]}"
        lanes.append(
            {
                "id": str(len(lanes)),
                "category": kind,
                "attributes": {"laneDirection": "parallel", "laneStyle": scene.road.styles[j],
                               "laneTypes": kind},
                "poly2d": [{"vertices": [[round(float(x), 2), round(float(y), 2)] for x, y in pts],
                            "types": "L" * len(pts), "closed": False}],
            }
        )
    fx = effects or Effects.sample(rng, scene)
    image = cv2.cvtColor(_apply_effects(img, fx, rng), cv2.COLOR_RGB2BGR)
    det = {
        "name": name,
        "attributes": {"weather": scene.weather, "timeofday": scene.timeofday,
                       "scene": scene.scene_type},
        "timestamp": 10000,
        "labels": labels,
    }
    return SynthFrame(name, image, drivable, det, {"name": name, "labels": lanes})


def frame_name(seed: int, split: str, index: int) -> str:
    return f"synth{seed}-{split}-{index:06d}.jpg"


def render_still(seed: int, split: str, index: int, width: int = 1280, height: int = 720
                 ) -> SynthFrame:
    """The deterministic still image number ``index`` of ``split`` for ``seed``."""
    rng = np.random.default_rng([seed, SPLIT_CODES[split], index])
    scene = sample_scene(rng, width, height)
    return render(scene, rng, frame_name(seed, split, index))


# --- writing the official layout --------------------------------------------------------------

class LayoutWriter:
    """Writes frames into BDD100K's directory layout; JSON files are written at ``close``."""

    def __init__(self, root: str | Path, split: str, jpeg_quality: int = 92) -> None:
        self.root = Path(root)
        self.split = split
        self.jpeg = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
        self.image_dir = self.root / "images" / "100k" / split
        self.mask_dir = self.root / "labels" / "drivable" / "masks" / split
        for d in (self.image_dir, self.mask_dir, self.root / "labels" / "det_20",
                  self.root / "labels" / "lane" / "polygons"):
            d.mkdir(parents=True, exist_ok=True)
        self.det: list[dict[str, Any]] = []
        self.lane: list[dict[str, Any]] = []

    def write_files(self, frame: SynthFrame) -> None:
        """Image and mask only (safe to call from worker processes)."""
        cv2.imwrite(str(self.image_dir / frame.name), frame.image, self.jpeg)
        cv2.imwrite(str(self.mask_dir / (Path(frame.name).stem + ".png")), frame.drivable, PNG_FAST)

    def add(self, frame: SynthFrame) -> None:
        self.write_files(frame)
        self.add_labels(frame.det, frame.lane)

    def add_labels(self, det: dict[str, Any], lane: dict[str, Any]) -> None:
        self.det.append(det)
        self.lane.append(lane)

    def close(self) -> None:
        _write_json(self.root / "labels" / "det_20" / f"det_{self.split}.json", self.det)
        _write_json(self.root / "labels" / "lane" / "polygons" / f"lane_{self.split}.json",
                    self.lane)


def _write_json(path: Path, data: Any) -> None:
    """Atomic write: readers never see a half-written label file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, separators=(",", ":"))
    os.replace(tmp, path)


def _worker_init() -> None:
    cv2.setNumThreads(1)


def _render_and_write(args: tuple[str, str, int, int, int, int]) -> tuple[dict, dict]:
    root, split, seed, index, width, height = args
    frame = render_still(seed, split, index, width, height)
    LayoutWriter(root, split).write_files(frame)
    return frame.det, frame.lane


def generate(out_dir: str | Path, n_train: int, n_val: int, seed: int = 0, width: int = 1280,
             height: int = 720, workers: int = 1, progress: bool = True) -> dict[str, int]:
    """Render ``n_train`` + ``n_val`` still images into ``out_dir``; returns counts per split."""
    counts: dict[str, int] = {}
    for split, n in (("train", n_train), ("val", n_val)):
        writer = LayoutWriter(out_dir, split)
        jobs = [(str(out_dir), split, seed, i, width, height) for i in range(n)]
        results: Iterable[tuple[dict, dict]]
        if workers > 1 and n > 1:
            import multiprocessing as mp

            pool = mp.get_context("spawn").Pool(workers, initializer=_worker_init)
            results = pool.imap(_render_and_write, jobs, chunksize=4)
        else:
            pool = None
            _worker_init()
            results = map(_render_and_write, jobs)
        for det, lane in _progress(results, n, f"mtl-synth {split}", progress):
            writer.add_labels(det, lane)
        if pool is not None:
            pool.close()
            pool.join()
        writer.close()
        counts[split] = n
    return counts


def _progress(it: Iterable, total: int, desc: str, enabled: bool) -> Iterable:
    if not enabled:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc=desc, unit="img")


def generate_drive(out: str | Path | Callable[[SynthFrame], None], num_frames: int = 200,
                   fps: float = 10.0, seed: int = 0, width: int = 1280, height: int = 720,
                   split: str = "val", progress: bool = True) -> list[str]:
    """Render a temporally coherent drive (smoothly curving road, moving traffic).

    ``out`` is either a directory, which receives the official layout for ``split`` with frame
    names in temporal order (det frames also carry ``videoName``/``frameIndex``/``timestamp``
    in ms), or a callable that receives each ``SynthFrame`` in order. Returns the frame names.
    """
    rng = np.random.default_rng([seed, 99])
    scene = start_drive(rng, width, height)
    fx = Effects.sample(rng, scene)
    writer = LayoutWriter(out, split) if not callable(out) else None
    names = []
    video = f"drive{seed}"
    dt = 1.0 / fps
    for i in _progress(range(num_frames), num_frames, "mtl-synth drive", progress):
        if i:
            step_scene(scene, i * dt, dt, rng)
        frame = render(scene, np.random.default_rng([seed, 98, i]), f"{video}-{i:06d}.jpg", fx)
        frame.det.update(videoName=video, frameIndex=i, timestamp=round(i * 1000 / fps))
        names.append(frame.name)
        if writer is None:
            out(frame)  # type: ignore[operator]
        else:
            writer.add(frame)
    if writer is not None:
        writer.close()
    return names


def benchmark(num: int = 50, width: int = 1280, height: int = 720, seed: int = 0) -> float:
    """Images per second on one core: render + JPEG/PNG encode (the work ``generate`` does)."""
    cv2.setNumThreads(1)
    jpeg = [cv2.IMWRITE_JPEG_QUALITY, 92]
    render_still(seed, "train", 0, width, height)  # warm caches (noise tile)
    t0 = time.perf_counter()
    for i in range(num):
        f = render_still(seed, "train", i, width, height)
        cv2.imencode(".jpg", f.image, jpeg)
        cv2.imencode(".png", f.drivable, PNG_FAST)
        json.dumps([f.det, f.lane])
    return num / (time.perf_counter() - t0)


MIN_SIZE = 64  # px: smaller frames leave no room for the road, its lanes and a car


class SynthError(MtlError, OSError):
    """The dataset cannot be written (one line, exit 1)."""


def _at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value

    return parse


def _writable(out: Path) -> None:
    """OSError (one line) unless ``out`` can hold the dataset; checked before any worker."""
    out.mkdir(parents=True, exist_ok=True)
    probe = out / ".mtl-synth-write-test"
    probe.write_bytes(b"")
    probe.unlink()


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(prog="mtl-synth", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, help="dataset root to write")
    p.add_argument("--train", type=_at_least(0), default=200, help="number of training images")
    p.add_argument("--val", type=_at_least(0), default=50, help="number of validation images")
    p.add_argument("--seed", type=_at_least(0), default=0)
    add_size(p, "--size", default=(720, 1280), help="image size")
    p.add_argument("--workers", type=_at_least(1), default=1, help="processes for still images")
    p.add_argument("--drive", action="store_true", help="render one temporally coherent drive")
    p.add_argument("--frames", type=_at_least(1), default=200, help="drive length in frames")
    p.add_argument("--fps", type=float, default=10.0, help="drive frame rate")
    p.add_argument("--split", default="val", help="split the drive is written as")
    p.add_argument("--benchmark", type=int, metavar="N", default=0,
                   help="render N images in memory on one core and print images/s")
    add_progress(p)
    a = p.parse_args(argv)
    h, w = a.size
    if min(h, w) < MIN_SIZE:
        p.error(f"argument --size: must be >= {MIN_SIZE} each way, got {h}x{w}")
    a.height, a.width = h, w
    if a.benchmark:
        rate = benchmark(a.benchmark, a.width, a.height, a.seed)
        print(f"{rate:.1f} images/s at {a.width}x{a.height} (one core, render + encode)")
        return 0
    if a.out is None:
        p.error("--out is required")
    if not a.fps > 0:
        p.error(f"argument --fps: must be > 0, got {a.fps}")
    try:
        _writable(a.out)
        if a.drive:
            names = generate_drive(a.out, a.frames, a.fps, a.seed, a.width, a.height, a.split,
                                   progress=not a.no_progress)
            print(f"wrote drive of {len(names)} frames to {a.out} (split {a.split})")
            return 0
        counts = generate(a.out, a.train, a.val, a.seed, a.width, a.height, a.workers,
                          progress=not a.no_progress)
    except OSError as exc:
        raise SynthError(f"cannot write {a.out}: {exc.strerror or exc}") from exc
    print(f"wrote {counts} to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli("mtl-synth", main))
