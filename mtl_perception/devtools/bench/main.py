"""mtl-bench: the benchmark tables, each with its command and machine, in docs/benchmarks.md.

    mtl-bench model-stats                 Table II: params, FLOPs at 384x640, size, vs paper
    mtl-bench latency [--backend B]       Table III: p50/p99 per resolution x backbone + PNG
    mtl-bench mtl-vs-naive                one multi-task model vs three single-task models
    mtl-bench node ...                    the node under load through DDS (bench_node.py)
    mtl-bench qos ...                     which input QoS delivers 720p frames (bench_qos.py)
    mtl-bench lanes --venv .venv-jazzy    node overhead here vs another venv, interleaved
    mtl-bench cameras ...                 one multi-camera node vs N nodes (bench_cameras.py)
    mtl-bench peers --peer NAME=x.onnx    other ONNX models next to ours, same input, backend
    mtl-bench all --out docs/benchmarks.md

Timings are from one run and shown side by side or as ratios; absolute numbers belong to the
machine printed with them. Latency and memory use randomly initialized weights (they do not
depend on the weights), exported once and cached under --cache-dir.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mtl_perception.deploy.latency import (
    measure_in_subprocess,
    ort_runner,
    time_backends,
    time_interleaved,
)
from mtl_perception.devtools.bench.models import (
    RECIPES,
    contract_model,
    model_file_mb,
    raw_model,
    recipe_path,
)

PAPER_TABLE_II = {"resnet50": (27.6, 162.4, 110), "mobilenetv2": (5.4, 33.8, 24)}
PAPER_TABLE_III = {
    "resnet50": {"256x384": 68.12, "256x512": 85.18, "384x640": 139.66, "768x1280": 473.93},
    "mobilenetv2": {"256x384": 46.15, "256x512": 59.71, "384x640": 98.23, "768x1280": 302.11},
}
RESOLUTIONS = ("256x384", "256x512", "384x640", "768x1280")
TASKS = ("detection", "drivable", "lane")


def machine() -> str:
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = ""
    if shutil.which("nvidia-smi"):
        q = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                           capture_output=True, text=True, check=False)
        gpu = f", GPU {q.stdout.strip()}" if q.returncode == 0 else ""
    import onnxruntime

    return (f"{cpu}, {os.cpu_count()} logical CPUs{gpu}; Linux {platform.release()}, "
            f"Python {platform.python_version()}, onnxruntime {onnxruntime.__version__}")


def hw(text: str) -> tuple[int, int]:
    h, w = (int(v) for v in text.lower().split("x"))
    return h, w


def section(title: str, command: str, body: list[str], started: float) -> str:
    return "\n".join([
        f"## {title}", "", f"Command: `{command}`  ", f"Machine: {machine()}  ",
        f"Run: {time.strftime('%Y-%m-%d %H:%M', time.localtime(started))}, "
        f"{time.time() - started:.0f} s", "", *body, ""])


# ----------------------------------------------------------------------------- tables
def model_stats(args: argparse.Namespace, command: str) -> str:
    t0 = time.time()
    exe = shutil.which("mtl-eval") or str(Path(sys.executable).with_name("mtl-eval"))
    rows = []
    for name in ("resnet50", "mobilenetv2"):
        out = subprocess.run([exe, "stats", "--config", str(recipe_path(name)), "--resolution",
                              "384x640", "--json"], capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"mtl-eval stats failed: {out.stderr[-1000:]}")
        s = json.loads(out.stdout.strip().splitlines()[-1])
        p = PAPER_TABLE_II[name]
        rows.append(f"| {name} + BiFPN ({s['recipe']}) | {s['params_m']:.1f} M | {p[0]} M | "
                    f"{s['gflops']:.1f} G | {p[1]} G | {s['size_mb']:.0f} MB | {p[2]} MB |")
    body = ["Table II of Miraliev et al. at 384×640, ours from `mtl-eval stats --json` "
            "(FLOPs = 2 × multiply-adds, torch.utils.flop_counter; size = fp32 state_dict).", "",
            "| model | params (ours) | params (paper) | FLOPs (ours) | FLOPs (paper) | "
            "size (ours) | size (paper) |", "|---|---|---|---|---|---|---|", *rows]
    return section("model-stats: Table II", command, body, t0)


def latency(args: argparse.Namespace, command: str) -> str:
    t0 = time.time()
    cache = Path(args.cache_dir)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for res in args.resolutions:  # the backbones interleaved at each resolution
        models = {b: contract_model(b, hw(res), cache) for b in args.backbones}
        cells = time_backends(models, args.backend, args.iters, args.warmup, args.max_seconds)
        for backbone, stats in cells.items():
            results.setdefault(backbone, {})[res] = stats
            print(f"latency {backbone} {res}: p50 {stats['p50']:.1f} ms p99 {stats['p99']:.1f} "
                  f"ms (n={stats['n']}, {stats['backend']})", file=sys.stderr)
    backend_name = next(iter(next(iter(results.values())).values()))["backend"]
    header = "| model | " + " | ".join(f"{r} p50 / p99 (paper)" for r in args.resolutions) + " |"
    rows = [header, "|---|" + "---|" * len(args.resolutions)]
    for backbone, cells in results.items():
        paper = PAPER_TABLE_III.get(backbone, {})
        rows.append(f"| {backbone} + BiFPN | " + " | ".join(
            f"{cells[r]['p50']:.1f} / {cells[r]['p99']:.1f} ms ({paper.get(r, '—')} ms)"
            for r in args.resolutions) + " |")
    if {"resnet50", "mobilenetv2"} <= set(results):
        rows.append("| ResNet50 / MobileNetV2 (p50) | " + " | ".join(
            f"{results['resnet50'][r]['p50'] / results['mobilenetv2'][r]['p50']:.2f}× "
            f"({PAPER_TABLE_III['resnet50'][r] / PAPER_TABLE_III['mobilenetv2'][r]:.2f}×)"
            if r in PAPER_TABLE_III["resnet50"] else "—" for r in args.resolutions) + " |")
    plot = Path(args.plot) if args.plot else None
    if plot is not None:
        _plot_latency(results, args.resolutions, plot, backend_name)
    body = [f"Table III of Miraliev et al. reproduced on **{backend_name}** (`--backend "
            f"{args.backend}`), batch 1, the node's exported graph (uint8 in, decoded boxes, "
            "argmax masks), `backend.run` only; at each resolution the backbones take turns "
            f"run by run in one process; {args.warmup} warm-up runs, then up to {args.iters} "
            f"timed runs or {args.max_seconds:g} s per resolution. The paper's figures "
            "(in brackets) are TensorRT on a Jetson Xavier NX: compare the ratios, not the "
            "milliseconds.", "", *rows]
    if plot is not None:
        body += ["", f"![latency]({plot.name})"]
    return section("latency: Table III", command, body, t0)


def _plot_latency(results: dict[str, dict[str, dict[str, float]]], resolutions: list[str],
                  path: Path, backend: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    pixels = [hw(r)[0] * hw(r)[1] / 1e6 for r in resolutions]
    for backbone, cells in results.items():
        (line,) = ax.plot(pixels, [cells[r]["p50"] for r in resolutions], "o-",
                          label=f"{backbone} p50 ({backend})")
        ax.fill_between(pixels, [cells[r]["p50"] for r in resolutions],
                        [cells[r]["p99"] for r in resolutions], alpha=0.2,
                        color=line.get_color())
        paper = PAPER_TABLE_III.get(backbone, {})
        known = [(x, paper[r]) for x, r in zip(pixels, resolutions, strict=True) if r in paper]
        if known:
            ax.plot(*zip(*known, strict=True), "x--", color=line.get_color(), alpha=0.6,
                    label=f"{backbone} paper (Xavier NX, TensorRT)")
    ax.set_xlabel("input megapixels")
    ax.set_ylabel("latency ms (band: p50..p99)")
    ax.set_xticks(pixels, resolutions, rotation=20)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def mtl_vs_naive(args: argparse.Namespace, command: str) -> str:
    t0 = time.time()
    cache, res = Path(args.cache_dir), hw(args.resolution)
    multi = [raw_model(args.backbone, res, list(TASKS), cache)]
    naive = [raw_model(args.backbone, res, [t], cache) for t in TASKS]
    base = measure_in_subprocess([], 1, 0, 1)["peak_rss_mb"]
    mem_multi = measure_in_subprocess(multi, 2, 1, 5)["peak_rss_mb"]
    mem_naive = measure_in_subprocess(naive, 2, 1, 5)["peak_rss_mb"]
    times = time_interleaved({"multi": ort_runner(multi), "naive": ort_runner(naive)},
                             args.iters, args.warmup, args.max_seconds)
    m, n = times["multi"], times["naive"]
    size_m, size_n = sum(map(model_file_mb, multi)), sum(map(model_file_mb, naive))
    mem_m, mem_n = mem_multi - base, mem_naive - base
    body = [
        f"One {args.backbone} + BiFPN model with all three heads vs three single-task models "
        f"(detection only, drivable only, lane only; each with its own backbone and neck, the "
        f"recipe's `tasks` subset) on the same {args.resolution} frame, ONNX Runtime CPU with the "
        "node's session options, raw head outputs (no decode/argmax in graph, for all four). "
        "Time: the two configurations take turns run by run in one process (the three naive "
        "models one after another within a run). Peak memory is each configuration's peak RSS "
        "in its own process minus that of a process that only imported onnxruntime "
        f"({base:.0f} MB).", "",
        "| | multi-task | naive (3 models) | naive / multi-task | Martí et al. (Titan X) |",
        "|---|---|---|---|---|",
        f"| time per frame, p50 | {m['p50']:.1f} ms | {n['p50']:.1f} ms | "
        f"{n['p50'] / m['p50']:.2f}× | 49 / 30 ms = 1.63× |",
        f"| peak memory | {mem_m:.0f} MB | {mem_n:.0f} MB | {mem_n / max(mem_m, 1e-9):.2f}× | "
        "2511 / 1552 MB = 1.62× |",
        f"| model size (ONNX fp32) | {size_m:.1f} MB | {size_n:.1f} MB | "
        f"{size_n / size_m:.2f}× | 235 / 140 MB = 1.68× |",
        "", f"Timed runs: {m['n']} (multi-task), {n['n']} (naive); p99 {m['p99']:.1f} vs "
        f"{n['p99']:.1f} ms.",
    ]
    return section("mtl-vs-naive: one multi-task model vs three single-task models", command,
                   body, t0)


def peers(args: argparse.Namespace, command: str) -> str:
    t0 = time.time()
    cache, res = Path(args.cache_dir), hw(args.resolution)
    models = {f"ours: {args.backbone} + BiFPN": contract_model(args.backbone, res, cache)}
    for item in args.peer:
        if "=" not in item:
            raise ValueError(f"--peer wants NAME=path.onnx, got {item!r}")
        name, path = item.split("=", 1)
        models[name] = Path(path)
    rows = ["| model | file | p50 ms | p99 ms | runs |", "|---|---|---|---|---|"]
    from mtl_perception.inference.backends import load_backend

    ours_name = next(iter(models))
    ours = load_backend(models[ours_name], args.backend)
    try:
        spec = ours.spec
        frame = np.random.default_rng(0).integers(
            0, 256, (spec.input_height, spec.input_width, 3), dtype=np.uint8)
        fns = {ours_name: lambda: ours.run(frame)}
        fns.update({name: ort_runner([path]) for name, path in models.items()
                    if name != ours_name})
        all_stats = time_interleaved(fns, args.iters, args.warmup, args.max_seconds)
    finally:
        ours.close()
    for name, path in models.items():
        stats = all_stats[name]
        rows.append(f"| {name} | `{path.name}` ({model_file_mb(path):.1f} MB) | "
                    f"{stats['p50']:.1f} | {stats['p99']:.1f} | {stats['n']} |")
    body = [f"Image-input ONNX models at {args.resolution}, taking turns run by run in one "
            "process (ours through its backend, peers with the node's ONNX Runtime session "
            "options). "
            "Peers get a random input of their own declared shape (dynamic dimensions -> 1); "
            "give them an export at the same resolution for a fair comparison.", "", *rows]
    if not args.peer:
        body += ["", "No `--peer` given: only our model was timed. Example: "
                 "`mtl-bench peers --peer yolop=yolop-384-640.onnx`."]
    return section("peers", command, body, t0)


def node(args: argparse.Namespace, command: str) -> str:
    try:
        from mtl_perception.devtools.bench import node as bench_node
    except ImportError as exc:
        raise RuntimeError(
            f"the node benchmark (devtools/bench/node.py) is not available: {exc}") from exc
    argv = list(args.rest)
    if args.out:
        argv += ["--out", str(args.out)]
    rc = bench_node.main(argv)
    if rc:
        raise RuntimeError(f"bench_node exited with {rc}")
    return Path(args.out).read_text() if args.out and Path(args.out).is_file() else ""


TABLES: dict[str, Callable[[argparse.Namespace, str], str]] = {
    "model-stats": model_stats, "latency": latency, "mtl-vs-naive": mtl_vs_naive,
    "peers": peers,
}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=None, help="write the markdown here")
    p.add_argument("--cache-dir", default=os.environ.get("MTL_CACHE_DIR", str(
        Path.home() / ".cache" / "mtl_perception")) + "/bench")
    p.add_argument("--backend", default="onnxruntime",
                   choices=("auto", "onnxruntime", "tensorrt"))
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--max-seconds", type=float, default=20.0, help="per measurement")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mtl-bench", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.split("\n")[2:]))
    sub = p.add_subparsers(dest="table", required=True)
    s = sub.add_parser("model-stats")
    _common(s)
    s = sub.add_parser("latency")
    _common(s)
    s.add_argument("--resolutions", nargs="+", default=list(RESOLUTIONS), metavar="HxW")
    s.add_argument("--backbones", nargs="+", default=["resnet50", "mobilenetv2"],
                   choices=sorted(RECIPES))
    s.add_argument("--plot", default=None, help="PNG path (default: next to --out)")
    for name in ("mtl-vs-naive", "peers"):
        s = sub.add_parser(name)
        _common(s)
        s.add_argument("--backbone", default="mobilenetv2", choices=sorted(RECIPES))
        s.add_argument("--resolution", default="384x640", metavar="HxW")
        if name == "peers":
            s.add_argument("--peer", action="append", default=[], metavar="NAME=path.onnx")
    s = sub.add_parser("node", help="arguments after 'node' go to bench_node.py")
    s.add_argument("rest", nargs=argparse.REMAINDER)
    s.set_defaults(out=None)
    s = sub.add_parser("qos", help="arguments after 'qos' go to bench_qos.py")
    s.add_argument("rest", nargs=argparse.REMAINDER)
    s = sub.add_parser("lanes", help="arguments after 'lanes' go to bench_lanes.py")
    s.add_argument("rest", nargs=argparse.REMAINDER)
    s = sub.add_parser("cameras", help="arguments after 'cameras' go to bench_cameras.py")
    s.add_argument("rest", nargs=argparse.REMAINDER)
    s = sub.add_parser("all")
    _common(s)
    s.add_argument("--skip", nargs="*", default=[],
                   choices=[*TABLES, "qos", "node", "lanes", "cameras"])
    s.add_argument("--lanes-venv", default=".venv-jazzy",
                   help="the other environment of the lanes table (make setup-jazzy)")
    s.add_argument("--node-args", default="", help="extra arguments for the node benchmark")
    s.add_argument("--cameras-args", default="",
                   help="extra arguments for the cameras benchmark")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["qos"]:
        from mtl_perception.devtools.bench import qos as bench_qos
        return bench_qos.main(argv[1:], machine=machine())
    if argv[:1] == ["lanes"]:
        from mtl_perception.devtools.bench import lanes as bench_lanes
        return bench_lanes.main(argv[1:])
    if argv[:1] == ["cameras"]:
        from mtl_perception.devtools.bench import cameras as bench_cameras
        return bench_cameras.main(argv[1:])
    if argv[:1] == ["node"]:
        # Everything after 'node' belongs to bench_node.py; argparse's REMAINDER would try to
        # read leading options such as --rates itself.
        args = argparse.Namespace(table="node", rest=argv[1:], out=None)
    else:
        args = build_parser().parse_args(argv)
    command = "mtl-bench " + " ".join(shlex.quote(a) for a in argv)
    try:
        if args.table == "node":
            node(args, command)
            return 0
        if args.table == "all":
            text = run_all(args, argv)
        else:
            if args.table == "latency" and args.plot is None and args.out is not None:
                args.plot = str(args.out.with_name(args.out.stem + "_latency.png"))
            text = TABLES[args.table](args, command)
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"mtl-bench {args.table}: {exc}", file=sys.stderr)
        return 1
    print(text)
    if args.out is not None and args.table != "all":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(f"# Benchmarks\n\n{text}")
    return 0


def run_all(args: argparse.Namespace, argv: list[str]) -> str:
    """Every table, one after another, into one markdown file (docs/benchmarks.md)."""
    out = args.out or Path("docs/benchmarks.md")
    common = ["--cache-dir", args.cache_dir, "--backend", args.backend, "--iters",
              str(args.iters), "--warmup", str(args.warmup), "--max-seconds",
              str(args.max_seconds)]
    parts = ["# Benchmarks", "",
             f"Written by `mtl-bench {' '.join(argv)}`. Each section names the command that "
             "produced it and the machine it ran on; absolute timings belong to that machine, "
             "ratios and side-by-side columns are what carry over.", ""]
    parser = build_parser()
    for name in ("model-stats", "latency", "mtl-vs-naive", "peers"):
        if name in args.skip:
            continue
        sub_argv = [name, *common]
        if name == "latency":
            sub_argv += ["--plot", str(out.with_name(out.stem + "_latency.png"))]
        sub = parser.parse_args(sub_argv)
        parts.append(TABLES[name](sub, "mtl-bench " + " ".join(sub_argv)))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(parts) + "\n")  # keep what is done if a later table fails
    if "qos" not in args.skip:
        from mtl_perception.devtools.bench import qos as bench_qos
        qos_args = bench_qos.build_parser().parse_args([])
        parts.append(bench_qos.to_markdown(bench_qos.run_qos_benchmark(qos_args),
                                           "mtl-bench qos", machine(),
                                           time.strftime("%Y-%m-%d %H:%M")))
        out.write_text("\n".join(parts) + "\n")
    if "node" not in args.skip:
        tmp = out.with_name(out.stem + "_node.md")
        sub = parser.parse_args(["node", *shlex.split(args.node_args)])
        sub.out = tmp
        parts.append(node(sub, "mtl-bench node " + args.node_args))
        out.write_text("\n".join(parts) + "\n")
    if "lanes" not in args.skip:
        from mtl_perception.devtools.bench import lanes as bench_lanes
        lanes_out = out.with_name(out.stem + "_lanes.md")
        label = Path(args.lanes_venv).name.removeprefix(".venv-") or "other"
        lanes_argv = ["--venv", args.lanes_venv, "--label", label, "--out", str(lanes_out)]
        if bench_lanes.main(lanes_argv):
            raise RuntimeError(f"mtl-bench lanes {' '.join(lanes_argv)} failed")
        parts += ["## Node overhead per environment", "",
                  f"In [{lanes_out.name}]({lanes_out.name}), written by "
                  f"`mtl-bench lanes {' '.join(lanes_argv)}`.", ""]
        out.write_text("\n".join(parts) + "\n")
    if "cameras" not in args.skip:
        # its own file (docs/benchmarks_cameras.md), linked from here
        from mtl_perception.devtools.bench import cameras as bench_cameras
        cameras_out = out.with_name(out.stem + "_cameras.md")
        cam_argv = [*shlex.split(args.cameras_args), "--out", str(cameras_out)]
        if bench_cameras.main(cam_argv) != 0:
            raise RuntimeError("the cameras benchmark failed")
        parts += ["## Many cameras, one model", "",
                  f"In [{cameras_out.name}]({cameras_out.name}), written by "
                  f"`mtl-bench cameras {' '.join(cam_argv)}`.", ""]
    text = "\n".join(parts) + "\n"
    out.write_text(text)
    return text


if __name__ == "__main__":
    sys.exit(main())
