"""The one latency helper: configurations interleaved in one process, the node's options."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("onnx")
from node_fixture_model import build_constant_model

from mtl_perception.deploy.latency import ort_runner, ort_session, time_interleaved


def test_configurations_take_turns_run_by_run() -> None:
    calls: list[str] = []
    fns = {k: (lambda k=k: calls.append(k)) for k in "abc"}
    stats = time_interleaved(fns, iters=3, warmup=1, max_seconds=60)
    assert calls == list("abc" "abc" "bca" "cab")  # warm-up, then a rotating order
    assert {k: v["n"] for k, v in stats.items()} == {"a": 3, "b": 3, "c": 3}


def test_sessions_get_the_nodes_options_and_run(tmp_path: Path) -> None:
    model = build_constant_model(tmp_path / "m.onnx", (64, 96))
    opts = ort_session(model).get_session_options()
    # the node's default spinning mode "run" (onnxruntime_backend.session_options)
    assert opts.get_session_config_entry("session.force_spinning_stop") == "1"
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    stats = time_interleaved({"one": ort_runner([model]), "two": ort_runner([model, model])},
                             iters=5, warmup=1, max_seconds=60)
    assert stats["one"]["n"] == stats["two"]["n"] == 5
    assert stats["one"]["p50"] > 0 and stats["two"]["p50"] > 0
