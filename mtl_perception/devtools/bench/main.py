"""mtl-bench: the benchmark tables, each with its command and machine, in docs/benchmarks.md.

    mtl-bench model-stats                 Table II: params, FLOPs at 384x640, size, vs paper
    mtl-bench latency [--backend B]       Table III: p50/p99 per resolution x recipe + PNG
    mtl-bench jetson-estimate             GFLOPs and estimated Xavier NX ms, from Table III
    mtl-bench mtl-vs-naive                one multi-task model vs three single-task models
    mtl-bench peers --peer NAME=x.onnx    other ONNX models next to ours, same input, backend
    mtl-bench node                        the node under load through DDS
    mtl-bench qos                         which input QoS delivers 720p frames
    mtl-bench lanes --venv .venv-jazzy    node overhead here vs another venv, interleaved
    mtl-bench cameras                     one multi-camera node vs N nodes
    mtl-bench all --out docs/benchmarks.md

Shared options (every mtl-* command): sizes are HxW, height first (--resolution 384x640);
--out PATH is where the Markdown goes; --json PATH writes the numbers ('-' = standard
output). Exit status: 0 done, 1 runtime error (one line), 2 bad argument (one line), 130
interrupted. `mtl-bench MODE --help` lists a mode's options.

Timings are from one run and shown side by side or as ratios; absolute numbers belong to the
machine printed with them. Latency and memory use randomly initialized weights (they do not
depend on the weights), exported once and cached under --cache-dir.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from types import ModuleType

from mtl_perception.common.cli_args import (
    ArgumentParser,
    add_json,
    add_out,
    add_size,
    parse_hw,
    positive_float,
    positive_int,
    run_cli,
    write_json,
)
from mtl_perception.devtools.bench import cameras, lanes, node, qos
from mtl_perception.devtools.bench.common import default_cache_dir
from mtl_perception.devtools.bench.models import RECIPES
from mtl_perception.devtools.bench.page import link_section, render_page
from mtl_perception.devtools.bench.tables import RESOLUTIONS, TABLES, peer_arg, run_table
from mtl_perception.ros.ros_args import split_ros_args

# the modes that are their own modules: (module, help)
TOOLS: dict[str, tuple[ModuleType, str]] = {
    "node": (node, "the node under load through DDS"),
    "qos": (qos, "which input QoS delivers 720p camera frames"),
    "lanes": (lanes, "node overhead here vs another environment, interleaved"),
    "cameras": (cameras, "one multi-camera node vs N single-camera nodes"),
}
SECTIONS = (*TABLES, *TOOLS)


def _timing_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache-dir", default=default_cache_dir(),
                   help="exported random-weight models are cached here")
    p.add_argument("--backend", default="onnxruntime",
                   choices=("auto", "onnxruntime", "tensorrt"))
    p.add_argument("--iters", type=positive_int, default=30, help="timed runs at most")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs first")
    p.add_argument("--max-seconds", type=positive_float, default=20.0,
                   help="per measurement")


def _table_options(p: argparse.ArgumentParser) -> None:
    add_out(p, help="write the Markdown here")
    add_json(p)
    _timing_options(p)


def build_parser() -> ArgumentParser:
    doc = __doc__ or ""
    p = ArgumentParser(prog="mtl-bench", description=doc.split("\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="\n".join(doc.split("\n")[2:]))
    sub = p.add_subparsers(dest="mode", required=True, metavar="MODE")
    s = sub.add_parser("model-stats", help="Table II: params, FLOPs, size vs the paper")
    _table_options(s)
    s = sub.add_parser("latency", help="Table III: p50/p99 per resolution and backbone")
    _table_options(s)
    s.add_argument("--resolutions", nargs="+", type=parse_hw, default=list(RESOLUTIONS),
                   metavar="HxW", help="network inputs, height x width")
    s.add_argument("--backbones", nargs="+", default=list(RECIPES), choices=sorted(RECIPES),
                   help="recipes by short name (default: all)")
    s.add_argument("--plot", default=None, help="PNG path (default: next to --out)")
    s = sub.add_parser("jetson-estimate", help="GFLOPs and estimated Xavier NX ms per recipe")
    _table_options(s)  # the timing options too, so `all` can pass them to every table
    for name, text in (("mtl-vs-naive", "one multi-task model vs three single-task models"),
                       ("peers", "other image-input ONNX models next to ours")):
        s = sub.add_parser(name, help=text)
        _table_options(s)
        s.add_argument("--backbone", default="mobilenetv2", choices=sorted(RECIPES))
        add_size(s, "--resolution", default=(384, 640))
        if name == "peers":
            s.add_argument("--peer", action="append", type=peer_arg, default=[],
                           metavar="NAME=path.onnx")
    for name, (module, text) in TOOLS.items():
        s = sub.add_parser(name, help=text, description=(module.__doc__ or "").split("\n")[0])
        module.add_arguments(s)
    s = sub.add_parser("all", help="every section into one file (make bench)")
    add_out(s, default="docs/benchmarks.md", help="the Markdown file (default %(default)s)")
    _timing_options(s)
    s.add_argument("--skip", nargs="*", default=[], choices=SECTIONS)
    s.add_argument("--peer", action="append", type=peer_arg, default=[],
                   metavar="NAME=path.onnx", help="the peers table runs only with peers")
    s.add_argument("--lanes-venv", default=".venv-jazzy",
                   help="the other environment of the lanes table (make setup-jazzy)")
    s.add_argument("--node-args", default="", help="extra arguments for the node benchmark")
    s.add_argument("--cameras-args", default="",
                   help="extra arguments for the cameras benchmark")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    own, ros = split_ros_args(argv)  # node/lanes/qos probes get only the --ros-args sections
    parser = build_parser()
    args = parser.parse_args(own)
    args.ros_args = ros
    args.command = "mtl-bench " + shlex.join(own)
    if args.mode == "all":
        run_all(args, parser)
        return 0
    if args.mode in TOOLS:
        TOOLS[args.mode][0].execute(args)
        return 0
    if args.mode == "latency" and args.plot is None and args.out is not None:
        args.plot = str(args.out.with_name(args.out.stem + "_latency.png"))
    text, numbers = run_table(args.mode, args, args.command)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(f"# Benchmarks\n\n{text}")
    write_json(args.json, numbers)
    return 0


def _sub(parser: ArgumentParser, argv: list[str], ros: list[str]) -> argparse.Namespace:
    args = parser.parse_args(argv)
    args.ros_args, args.command = ros, "mtl-bench " + shlex.join(argv)
    return args


def run_all(args: argparse.Namespace, parser: ArgumentParser) -> str:
    """Every section, one after another, into one Markdown file (docs/benchmarks.md).

    The file is rewritten after each section, so what is done survives a later failure.
    """
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    timing = ["--cache-dir", args.cache_dir, "--backend", args.backend, "--iters",
              str(args.iters), "--warmup", str(args.warmup), "--max-seconds",
              str(args.max_seconds)]
    skip = set(args.skip) | (set() if args.peer else {"peers"})
    sections: list[str] = []

    def save() -> None:
        out.write_text(render_page(args.command, sections))

    for name in TABLES:
        if name in skip:
            continue
        sub_argv = [name, *timing]
        if name == "latency":
            sub_argv += ["--plot", str(out.with_name(out.stem + "_latency.png"))]
        for peer_name, path in args.peer if name == "peers" else []:
            sub_argv += ["--peer", f"{peer_name}={path}"]
        sub = _sub(parser, sub_argv, args.ros_args)
        sections.append(run_table(name, sub, sub.command)[0])
        save()
    if "qos" not in skip:
        sections.append(qos.execute(_sub(parser, ["qos"], args.ros_args)))
        save()
    if "node" not in skip:
        node_argv = ["node", *shlex.split(args.node_args), "--out",
                     str(out.with_name(out.stem + "_node.md"))]
        sections.append(node.execute(_sub(parser, node_argv, args.ros_args)))
        save()
    for name, extra, title in (
            ("lanes", ["--venv", args.lanes_venv, "--label",
                       Path(args.lanes_venv).name.removeprefix(".venv-") or "other"],
             "Node overhead per environment"),
            ("cameras", shlex.split(args.cameras_args), "Many cameras, one model")):
        if name in skip:
            continue
        target = out.with_name(f"{out.stem}_{name}.md")
        sub = _sub(parser, [name, *extra, "--out", str(target)], args.ros_args)
        TOOLS[name][0].execute(sub)
        sections.append(link_section(title, target.name, sub.command))
        save()
    save()
    return render_page(args.command, sections)


if __name__ == "__main__":
    sys.exit(run_cli("mtl-bench", main))
