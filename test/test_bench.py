"""mtl-bench tables run end to end at a tiny resolution and write what they claim."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")
from node_fixture_model import build_constant_model

from mtl_perception.devtools.bench import main as bench

pytestmark = pytest.mark.slow
RES = "64x96"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench_cache")


def test_latency_and_peers_tables(cache: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench.md"
    common = ["--cache-dir", str(cache), "--iters", "3", "--warmup", "1"]
    assert bench.main(["latency", "--resolutions", RES, "--backbones", "mobilenetv2",
                       "--out", str(out), *common]) == 0
    text = out.read_text()
    assert "Command: `mtl-bench latency" in text and "Machine:" in text
    row = next(line for line in text.splitlines() if line.startswith("| mobilenetv2"))
    assert "(— ms)" in row and "OnnxRuntime" in text.replace(" ", "")
    assert (tmp_path / "bench_latency.png").stat().st_size > 1000
    peer = build_constant_model(tmp_path / "peer.onnx", (64, 96))
    capsys.readouterr()
    assert bench.main(["peers", "--resolution", RES, "--peer", f"const={peer}", *common]) == 0
    printed = capsys.readouterr().out
    assert "| const | `peer.onnx`" in printed and "| ours: mobilenetv2" in printed


def test_mtl_vs_naive_table(cache: Path, capsys) -> None:
    assert bench.main(["mtl-vs-naive", "--resolution", RES, "--cache-dir", str(cache),
                       "--iters", "2", "--warmup", "1"]) == 0
    text = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line for line in text.splitlines()
            if line.startswith("| ") and "×" in line}
    assert {"time per frame, p50", "peak memory", "model size (ONNX fp32)"} <= set(rows)
    # Three backbones weigh more than one: the size ratio must exceed 1.
    ratio = float(rows["model size (ONNX fp32)"].split("|")[4].strip().rstrip("×"))
    assert ratio > 1.2


def test_bad_peer_is_refused(cache: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        bench.main(["peers", "--resolution", RES, "--cache-dir", str(cache), "--iters", "1",
                    "--peer", "nonsense"])
    assert exc.value.code == 2
    assert "NAME=path.onnx" in capsys.readouterr().err
