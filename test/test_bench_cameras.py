"""mtl-bench cameras: dispatch, the N=4 targets and the table (the measuring itself is the
benchmark run; its output is docs/benchmarks_cameras.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtl_perception.devtools.bench import cameras as bench_cameras
from mtl_perception.devtools.bench import main as bench


def _cell(mode: str, n: int, rate: float, rss: float, per_camera: list[float]) -> dict:
    mean = sum(per_camera) / len(per_camera)
    return {"mode": mode, "cameras": n, "rate_hz": rate, "processes": 1 if mode == "multi"
            else n, "rss_mb": rss, "cpu_percent": 150.0, "outputs_per_s": per_camera,
            "total_outputs_per_s": sum(per_camera), "min_camera_vs_mean": min(per_camera) / mean,
            "latency_p50_ms": 90.0, "latency_p99_ms": 300.0,
            "batch_sizes": {1: 10, 4: 20} if mode == "multi" else {}}


def test_targets_at_the_largest_n() -> None:
    cells = [_cell("multi", 4, 30.0, 260.0, [4.0, 4.2, 3.9, 4.1]),
             _cell("single", 4, 30.0, 820.0, [3.0, 4.0, 3.5, 3.0]),
             _cell("multi", 4, 10.0, 450.0, [2.0, 4.0, 4.0, 4.0]),
             _cell("single", 4, 10.0, 820.0, [4.0, 4.0, 4.0, 4.0]),
             _cell("multi", 2, 30.0, 230.0, [8.0, 8.0])]
    t = bench_cameras.targets(cells, 4)
    assert t["30"]["rss_ok"] and t["30"]["throughput_ok"] and t["30"]["fairness_ok"]
    assert not t["10"]["rss_ok"] and not t["10"]["throughput_ok"]
    assert not t["10"]["fairness_ok"] and t["10"]["min_camera_vs_mean"] == pytest.approx(
        2.0 / 3.5)
    text = bench_cameras.to_markdown({"cells": cells, "seconds": 10, "targets": t},
                                     "mtl-bench cameras", "test machine")
    assert "| 4 | 30 | multi | 1 | 260 | 16.2 | 3.9-4.2 | 0.96 |" in text
    assert "1: 10, 4: 20" in text and "**not met**" in text


def test_dispatch_and_help(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        bench.main(["cameras", "--help"])
    assert exc.value.code == 0
    assert "--cameras" in capsys.readouterr().out
    args = bench.build_parser().parse_args(["all", "--skip", "cameras",
                                            "--cameras-args", "--seconds 5"])
    assert args.skip == ["cameras"] and args.cameras_args == "--seconds 5"
